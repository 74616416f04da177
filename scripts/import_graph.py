"""The import graph of ``src/tidings``, read from the ``import`` statements (``ast``, nothing imported or run).

    python scripts/import_graph.py            # a Mermaid flowchart of layer → layer imports (docs/architecture.md)
    python scripts/import_graph.py --check    # exit 1 naming every upward import and every import circle
    python scripts/import_graph.py --write docs/architecture.md   # redraw the picture between its markers

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
    ("core",),                      # records, settings, errors, extras, codebook
    ("read",),                      # sources -> Documents
    ("stages",),                    # text in, records out
    ("pipeline",),                  # the Engine: the stages in order
    ("store",),                     # the one owner of storage
    ("across",),                    # link, graph, watch over the store
    ("service",),                   # the one workflow: analyse -> store -> link -> watch
    ("follow", "scale"),            # the workflow over feeds, and over big batches
    ("evaluation.scores",),         # scorers: predictions and gold in, scores out
    ("train",),                     # training heads (reports scores)
    ("evaluation",),                # runners: the engine over gold files (tidings eval, the gate)
    ("api",),                       # the HTTP face
    ("cli",),                       # the command line (tidings serve starts the API)
    ("__main__", "__init__"),       # python -m tidings; the public names
)

#: Function-level imports allowed to point upward, with the reason. Empty: none is needed today.
LAZY_ALLOWED: dict[tuple[str, str], str] = {}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    rel = path.relative_to(package.parent).with_suffix("")
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
    # ``from tidings.stages import nlp`` names a module; ``from tidings.core.records import Event`` a name in one
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def imports(path: Path, package: Path = PACKAGE) -> list[tuple[str, bool, int]]:
    """``(imported module, at module level, line)`` for every import of the package in the file at ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    current = module_name(path, package)
    root = package.name
    is_package = path.name == "__init__.py"
    top_level = {id(node) for node in tree.body}
    for node in tree.body:   # ``if TYPE_CHECKING:`` blocks are module level (typing only, but still a layer arrow)
        if isinstance(node, ast.If | ast.Try):
            top_level.update(id(n) for n in ast.walk(node))
    out: list[tuple[str, bool, int]] = []
    known = known_modules(package)
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            candidates = _resolve(current, is_package, node)
            named = [c for c in candidates[:-1] if c in known]
            targets = named or candidates[-1:]
        for target in targets:
            if target == root or target.startswith(root + "."):
                out.append((_owner(target, known), id(node) in top_level, node.lineno))
    return out


def known_modules(package: Path = PACKAGE) -> set[str]:
    return {module_name(p, package) for p in package.rglob("*.py")}


def _owner(target: str, known: set[str]) -> str:
    """The longest known module that ``target`` names or lies in."""
    parts = target.split(".")
    while parts and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts) or target.split(".")[0]


def layer_of(module: str, layers: tuple[tuple[str, ...], ...] = LAYERS) -> str:
    """The layer unit a module belongs to: its first folder under the package, or its top-level module, or
    (where a folder's modules sit on two layers, as the evaluation's scorers and runners do) the longest
    dotted unit listed in ``layers`` that holds it."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    rest = ".".join(parts[1:])
    dotted = [u for names in layers for u in names if "." in u and (rest == u or rest.startswith(u + "."))]
    return max(dotted, key=len) if dotted else parts[1]


def layer_rank(unit: str, layers: tuple[tuple[str, ...], ...] = LAYERS) -> int:
    for rank, names in enumerate(layers):
        if unit in names:
            return rank
    raise KeyError(f"{unit!r} is in no layer: add it to LAYERS in scripts/import_graph.py")


def module_edges(package: Path = PACKAGE) -> list[tuple[str, str, bool, int]]:
    """``(importer, imported, module level, line)`` for every import of the package by its own modules."""
    edges = []
    for path in sorted(package.rglob("*.py")):
        source = module_name(path, package)
        for target, top, line in imports(path, package):
            if target != source:
                edges.append((source, target, top, line))
    return edges


def problems(package: Path = PACKAGE, layers: tuple[tuple[str, ...], ...] = LAYERS,
             lazy_allowed: dict[tuple[str, str], str] | None = None) -> list[str]:
    """Every upward import (a lower layer importing a higher one), every module in no layer, and every import
    circle between modules."""
    allowed = LAZY_ALLOWED if lazy_allowed is None else lazy_allowed
    found = []
    graph: dict[str, set[str]] = defaultdict(set)
    for path in sorted(package.rglob("*.py")):
        unit = layer_of(module_name(path, package), layers)
        try:
            layer_rank(unit, layers)
        except KeyError:
            found.append(f"no layer: {module_name(path, package)} ({unit} is not in LAYERS)")
    if found:
        return found
    for source, target, top, line in module_edges(package):
        graph[source].add(target)
        low, high = layer_of(source, layers), layer_of(target, layers)
        if layer_rank(high, layers) > layer_rank(low, layers) and (source, target) not in allowed:
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
    """A Mermaid flowchart: one node per layer unit (folder or module) naming what is in it, one arrow per
    unit imported by another, drawn from the faces (top) to the core (bottom)."""
    units: dict[str, set[str]] = defaultdict(set)
    arrows: set[tuple[str, str]] = set()
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        unit = layer_of(name)
        parts = name.split(".")
        depth = 1 + unit.count(".")
        if len(parts) > depth + 1:   # a module of a sub-folder, or the folder's own modules
            member = parts[depth + 1] + ("/" if (PACKAGE.joinpath(*parts[1:depth + 2])).is_dir() else "")
            units[unit].add(member)
        else:
            units[unit]
    for source, target, _top, _line in module_edges():
        a, b = layer_of(source), layer_of(target)
        if a != b:
            arrows.add((a, b))
    lines = ["```mermaid", "flowchart TD"]
    for rank in range(len(LAYERS) - 1, -1, -1):
        for unit in LAYERS[rank]:
            if unit not in units:
                continue
            path = PACKAGE.joinpath(*unit.split("."))
            label = ("tidings (public API)" if unit == "__init__" else f"{unit.replace('.', '/')}/" if path.is_dir()
                     else f"{unit.replace('.', '/')}.py")
            body = ", ".join(sorted(units[unit]))
            text = f"<b>{label}</b><br/>{body}" if body else f"<b>{label}</b>"
            lines.append(f'    {_node(unit)}["{text}"]')
    for a, b in sorted(arrows, key=lambda ab: (-layer_rank(ab[0]), ab[0], -layer_rank(ab[1]), ab[1])):
        lines.append(f"    {_node(a)} --> {_node(b)}")
    lines.append("```")
    return "\n".join(lines)


def _node(unit: str) -> str:
    return "pkg" if unit == "__init__" else "main" if unit == "__main__" else unit.replace(".", "_")


BEGIN, END = "<!-- import graph: begin (scripts/import_graph.py --write) -->", "<!-- import graph: end -->"


def write(path: Path) -> None:
    """Replace the picture between the markers of the document at ``path``."""
    text = path.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    path.write_text(text[:start] + "\n" + mermaid() + "\n" + text[end:], encoding="utf-8")


def main(argv: list[str]) -> int:
    if "--write" in argv:
        write(Path(argv[argv.index("--write") + 1]))
        return 0
    if "--check" in argv:
        found = problems()
        print("\n".join(found) if found else "imports point only downward; no circles")
        return 1 if found else 0
    print(mermaid())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
