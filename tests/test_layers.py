"""The layers hold: every import in ``src/tidings`` points to its own layer or one below (declared in
``scripts/import_graph.py``, ``LAYERS``), imports inside functions included, and no modules import each other
in a circle. The picture in docs/architecture.md is the one the script draws from today's imports."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def graph() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["import_graph"] = module
    spec.loader.exec_module(module)
    return module


def test_imports_point_only_downward_and_never_in_a_circle(graph: ModuleType) -> None:
    assert graph.problems() == []


def test_lazy_upward_imports_are_listed_with_a_reason(graph: ModuleType) -> None:
    for (source, target), reason in graph.LAZY_ALLOWED.items():
        assert source.startswith("tidings.") and target.startswith("tidings.") and len(reason) > 20


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", "low/__init__.py": "", "high/__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


LAYERS = (("low",), ("high",), ("__init__",))


def test_an_upward_import_fails_the_check(graph: ModuleType, tmp_path: Path) -> None:
    package = _package(tmp_path, {"low/a.py": "from pkg.high.b import thing\n", "high/b.py": "thing = 1\n"})
    found = graph.problems(package, LAYERS, {})
    assert any("upward import: pkg.low.a" in p and "pkg.high.b" in p for p in found), found


def test_an_upward_import_inside_a_function_counts_too(graph: ModuleType, tmp_path: Path) -> None:
    package = _package(tmp_path, {"low/a.py": "def f():\n    from pkg.high import b\n    return b\n",
                                  "high/b.py": "thing = 1\n"})
    found = graph.problems(package, LAYERS, {})
    assert any("upward import: pkg.low.a" in p and "inside a function" in p for p in found), found
    assert graph.problems(package, LAYERS, {("pkg.low.a", "pkg.high.b"): "a reason long enough to read"}) == []


def test_a_circle_within_a_layer_fails_the_check(graph: ModuleType, tmp_path: Path) -> None:
    package = _package(tmp_path, {"low/a.py": "from pkg.low import b\n", "low/b.py": "from pkg.low.a import x\n"})
    found = graph.problems(package, LAYERS, {})
    assert any(p.startswith("import circle:") and "pkg.low.a" in p and "pkg.low.b" in p for p in found), found


def test_a_module_outside_every_layer_fails_the_check(graph: ModuleType, tmp_path: Path) -> None:
    package = _package(tmp_path, {"side.py": "x = 1\n"})
    assert any("no layer: pkg.side" in p for p in graph.problems(package, LAYERS, {}))


def test_the_architecture_picture_is_drawn_from_todays_imports(graph: ModuleType) -> None:
    """docs/architecture.md shows what ``python scripts/import_graph.py`` prints: re-run it after moving code."""
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert graph.mermaid() in doc
