"""One mechanism for optional extras (tidings.core.extras.require): the same message and hint everywhere."""

from __future__ import annotations

import sys

import pytest

from tidings.core.errors import InputError, TidingsError
from tidings.core.extras import require


def test_present_module_is_returned() -> None:
    assert require("json", "web", "Anything", code="E317") is sys.modules["json"]


def test_missing_extra_names_what_needs_it_and_the_install_hint() -> None:
    with pytest.raises(InputError) as err:
        require("tidings_no_such_module", "scale", "The Ray engine", code="E312", error=InputError,
                alternative="use --engine local")
    assert err.value.code == "E312"
    assert str(err.value).startswith("[E312] The Ray engine needs tidings_no_such_module")
    assert "pip install 'tidings[scale]', or use --engine local" in str(err.value)


def test_an_import_error_inside_an_installed_module_is_not_hidden(tmp_path, monkeypatch) -> None:
    (tmp_path / "tidings_broken_extra.py").write_text("import tidings_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError):
        require("tidings_broken_extra", "web", "Fetching URLs", code="E118")


def test_every_face_uses_it(monkeypatch) -> None:
    """A face whose extra is missing answers through require: scikit-learn for training."""
    import tidings.core.extras

    real = tidings.core.extras.import_module

    def without_sklearn(name: str):  # type: ignore[no-untyped-def]
        if name == "sklearn":
            raise ModuleNotFoundError("No module named 'sklearn'", name="sklearn")
        return real(name)

    monkeypatch.setattr(tidings.core.extras, "import_module", without_sklearn)
    from tidings.train import train_head

    with pytest.raises(TidingsError) as err:
        train_head([{"id": "a", "text": "x", "label": "A"}, {"id": "b", "text": "y", "label": "B"}], rules=False)
    assert "pip install 'tidings[train]'" in str(err.value) and err.value.code == "E502"
