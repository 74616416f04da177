"""The import graph of ``src/tidings``, read from the ``import`` statements (``ast``, nothing imported or run).

    python scripts/import_graph.py            # a Mermaid flowchart of layer → layer imports (docs/architecture.md)
    python scripts/import_graph.py --check    # exit 1 naming every upward import and every import circle

Why hand-written rather than pydeps: pydeps imports the package and draws with graphviz (a system binary); a
Mermaid text block renders on GitHub and needs nothing. ``tests/test_layers.py`` runs the same check in the suite.

The layers, lowest first, are :data:`LAYERS`: a module may import from its own layer and the layers below it,
never above. Imports inside functions count too (they are how a circle hides), unless listed in
:data:`LAZY_ALLOWED` with the reason.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "tidings"

#: The layers, lowest first: each is a package folder (``tidings.core``) or a top-level module
#: (``tidings.pipeline``). ``tidings`` itself (``__init__``: public re-exports) sits on top.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("read",),
    ("stages",),
    ("pipeline",),
    ("store",),
    ("across",),
    ("service", "scale", "train"),
    ("api", "cli"),
    ("__main__", "__init__"),
)

#: Function-level imports allowed to point upward, with the reason. Empty: none is needed today.
LAZY_ALLOWED: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        parts = current.split(".")
        if not is_package:
            parts = parts[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    # ``from tidings.stages import nlp`` names a module; ``from tidings.records import Event`` a name in one
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def imports(path: Path) -> list[tuple[str, bool, int]]:
    """``(imported module, at module level, line)`` for every tidings import of the file at ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    current = module_name(path)
    is_package = path.name == "__init__.py"
    top_level = {id(node) for node in tree.body}
    for node in tree.body:   # ``if TYPE_CHECKING:`` blocks are module level (typing only, but still a layer arrow)
        if isinstance(node, ast.If | ast.Try):
            top_level.update(id(n) for n in ast.walk(node))
    out: list[tuple[str, bool, int]] = []
    known = known_modules()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            candidates = _resolve(current, is_package, node)
            named = [c for c in candidates[:-1] if c in known]
            targets = named or candidates[-1:]
        for target in targets:
            if target == "tidings" or target.startswith("tidings."):
                out.append((_owner(target, known), id(node) in top_level, node.lineno))
    return out


_KNOWN: set[str] = set()


def known_modules() -> set[str]:
    if not _KNOWN:
        _KNOWN.update(module_name(p) for p in PACKAGE.rglob("*.py"))
    return _KNOWN


def _owner(target: str, known: set[str]) -> str:
    """The longest known module that ``target`` names or lies in."""
    parts = target.split(".")
    while parts and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts) or "tidings"


def layer_of(module: str) -> str:
    """The layer unit a module belongs to: its first folder under tidings, or its top-level module."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def layer_rank(unit: str) -> int:
    for rank, names in enumerate(LAYERS):
        if unit in names:
            return rank
    raise KeyError(f"{unit!r} is in no layer: add it to LAYERS in scripts/import_graph.py")


def module_edges() -> list[tuple[str, str, bool, int]]:
    """``(importer, imported, module level, line)`` for every tidings import in the package."""
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        for target, top, line in imports(path):
            if target != source:
                edges.append((source, target, top, line))
    return edges


def problems() -> list[str]:
    """Every upward import (a lower layer importing a higher one) and every import circle between modules."""
    found = []
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target, top, line in module_edges():
        graph[source].add(target)
        low, high = layer_of(source), layer_of(target)
        if layer_rank(high) > layer_rank(low) and (source, target) not in LAZY_ALLOWED:
            where = "" if top else " (inside a function)"
            found.append(f"upward import: {source} (layer {low}) imports {target} (layer {high}), "
                         f"line {line}{where}")
    found.extend(f"import circle: {' -> '.join(cycle)}" for cycle in _cycles(graph))
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle per strongly connected component of more than one module (Tarjan). A package's
    ``__init__`` re-exporting its own modules is no circle: edges into a package from inside it are left out."""
    edges = {s: {t for t in ts if not s.startswith(t + ".")} for s, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return components


def mermaid() -> str:
    """A Mermaid flowchart: one node per layer unit (folder or module) with its modules, one arrow per
    imported unit, drawn top (faces) to bottom (core)."""
    units: dict[str, set[str]] = defaultdict(set)
    arrows: set[tuple[str, str]] = set()
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        units[layer_of(name)].add(name.split(".")[-1] if "." in name else "tidings")
    for source, target, _top, _line in module_edges():
        a, b = layer_of(source), layer_of(target)
        if a != b:
            arrows.add((a, b))
    lines = ["```mermaid", "flowchart TD"]
    for rank in range(len(LAYERS) - 1, -1, -1):
        for unit in LAYERS[rank]:
            if unit not in units:
                continue
            members = sorted(units[unit])
            folder = (PACKAGE / unit).is_dir()
            label = f"{unit}/" if folder else f"{unit}.py" if unit != "__init__" else "tidings (public API)"
            body = ", ".join(m for m in members if m != unit) if folder else ""
            text = f"<b>{label}</b><br/>{body}" if body else f"<b>{label}</b>"
            lines.append(f'    {_node(unit)}["{text}"]')
    for a, b in sorted(arrows, key=lambda ab: (-layer_rank(ab[0]), ab[0], -layer_rank(ab[1]), ab[1])):
        lines.append(f"    {_node(a)} --> {_node(b)}")
    lines.append("```")
    return "\n".join(lines)


def _node(unit: str) -> str:
    return "pkg" if unit == "__init__" else "main" if unit == "__main__" else unit


def main(argv: list[str]) -> int:
    if "--check" in argv:
        found = problems()
        print("\n".join(found) if found else "imports point only downward; no circles")
        return 1 if found else 0
    print(mermaid())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
