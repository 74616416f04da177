"""The annotated training corpus (``training/corpus/*.jsonl``) keeps the row format of ``training/ANNOTATION.md``.

Runs ``training/validate_corpus.py`` over every labelled file (labels are PLOVER types or NONE, modalities the
engine's, actor spans exact substrings, ids unique, no article annotated in two files), and checks that the
validator itself reports broken rows. Fast and offline: reads JSON lines only.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "training" / "corpus"
LABELLED = sorted(p for p in CORPUS.glob("*.jsonl") if not p.name.endswith("_raw.jsonl"))


def _validator():
    spec = importlib.util.spec_from_file_location("validate_corpus", ROOT / "training" / "validate_corpus.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", LABELLED, ids=lambda p: p.name)
def test_labelled_corpus_file_is_valid(path: Path) -> None:
    assert _validator().check(path) == []


def test_validator_reports_broken_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    validator = _validator()
    folder = tmp_path / "corpus"
    folder.mkdir()
    monkeypatch.setattr(validator, "CORPUS", folder)
    good = {"id": "x-001", "text": "Police arrested two men.", "doc": "x", "url": "https://en.wikinews.org/wiki/X",
            "label": "COERCE", "mode": "arrest", "source_text": "Police", "target_text": "two men",
            "modality": "asserted", "checked_by": "annotator-T"}
    bad = [dict(good, id="x-002", label="ARREST"),                      # not a PLOVER type
           dict(good, id="x-003", modality="certain"),                  # not a modality
           dict(good, id="x-004", target_text="three men"),             # not in the sentence
           dict(good, id="x-005", label="NONE", modality="asserted"),   # NONE carries no modality
           dict(good, id="x-006", labels=["ASSAULT"]),                  # labels must include label
           dict(good)]                                                  # duplicate id
    mine = folder / "mine.jsonl"
    mine.write_text("".join(json.dumps(r) + "\n" for r in [good, *bad]), "utf-8")
    (folder / "other.jsonl").write_text(json.dumps(dict(good, id="y-001")) + "\n", "utf-8")  # same article
    problems = validator.check(mine)
    for needle in ("x-002", "x-003", "x-004", "x-005", "x-006", "x-001: id used 2 times", "url also in other.jsonl"):
        assert any(needle in p for p in problems), needle
    (folder / "other.jsonl").unlink()
    mine.unlink()
    (folder / "clean.jsonl").write_text(json.dumps(good) + "\n", "utf-8")
    assert validator.check(folder / "clean.jsonl") == []
