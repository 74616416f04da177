"""Language data is selected by a setting: ``data/<lang>/`` holds what depends on the language of the text,
``data/plover.json`` (the codebook) what does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidings.core.errors import TidingsError
from tidings.core.settings import DATA_DIR, Settings

LANGUAGE_FILES = ("verbs.jsonl", "cues.json", "time.json", "casualties.json", "actors", "places")


def test_english_is_the_default_and_has_every_language_file() -> None:
    settings = Settings()
    assert settings.language == "en" and settings.data_dir == DATA_DIR / "en"
    assert all((settings.data_dir / name).exists() for name in LANGUAGE_FILES)
    assert (DATA_DIR / "plover.json").is_file()
    assert not any((DATA_DIR / name).exists() for name in LANGUAGE_FILES)   # no second copy outside data/en


def test_the_language_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDINGS_LANGUAGE", "en")
    assert Settings().data_dir == DATA_DIR / "en"


def test_a_language_without_a_folder_is_a_clear_error() -> None:
    with pytest.raises(TidingsError) as err:
        Settings(language="xx")
    assert err.value.code == "E505" and "en" in str(err.value)


def test_an_explicit_folder_wins(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).data_dir == tmp_path
