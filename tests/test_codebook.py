"""The codebook (tidings.core.codebook): type knowledge read from data/plover.json, one definition for every module."""

from __future__ import annotations

import ast
import copy
from pathlib import Path

from tidings.core import codebook as cb
from tidings.core.records import Actor, Event

SRC = Path(cb.__file__).resolve().parents[1]   # the package root (codebook is in core/)


def test_codebook_reads_the_file() -> None:
    book = cb.codebook()
    data = cb.read_plover()
    assert book.types == tuple(data["types"]) and len(book.types) == 16
    assert book.state_sectors == frozenset(data["sectors"]["state"]["sectors"])
    assert book.state_sectors < book.state_sector_codes
    assert book.theme_types == {"RETREAT", "MOBILIZE"} and book.symmetric == book.linking.symmetric
    assert book.relation_of_type["ASSAULT"] == "assault" and book.stance["assault"] == "hostile"
    assert book.quad_classes["ASSAULT"] == 4 and book.root_quad_classes["19"] == 4


def test_an_edit_to_the_data_changes_the_codebook() -> None:
    """Knowledge is data: a sector or role edited in plover.json reaches the record (and the ACLED rules)."""
    data = copy.deepcopy(dict(cb.read_plover()))
    data["sectors"]["state"]["sectors"] = ["GOV"]
    data["roles"]["theme_types"]["types"] = ["AID"]
    book = cb.Codebook.from_data(data)
    assert book.state_sectors == {"GOV"} and book.theme_types == {"AID"}
    assert book.acled_mapping.state_sectors == {"GOV"}
    assert book.state_sector_codes == {"GOV", *data["sectors"]["state_combined"]["sectors"]}


def test_acled_mapping_reads_sectors_from_the_codebook() -> None:
    army = Event(id="e", doc_id="d", type="COERCE", cameo="1921", confidence=0.9,
                 source_actor=Actor(code="SYRMIL", name="army"))
    rebels = army.model_copy(update={"source_actor": Actor(code="SYRREB", name="rebels")})
    mapping = cb.codebook().acled_mapping
    assert mapping.facts(army).source_state and not mapping.facts(rebels).source_state
    assert mapping.acled(army) is not None


def _module_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return names | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}


def test_one_definition_of_type_tables() -> None:
    """No module keeps its own copy of the state sectors, and the export no longer needs the evaluation."""
    assert "tidings.evaluation" not in _module_names(SRC / "store" / "export.py")
    for name in ("across/link.py", "across/graph.py", "evaluation/scores.py", "evaluation/runs.py", "store/export.py", "stages/events.py"):
        text = (SRC / name).read_text("utf-8")
        assert "_STATE_SECTORS" not in text and "_THEME_TYPES" not in text, name
