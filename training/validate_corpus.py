"""Check annotated corpus files before they are committed or trained on.

    python training/validate_corpus.py training/corpus/wikinews_c.jsonl [more.jsonl ...]

For each named file: every row has the row-format fields of ``training/ANNOTATION.md``; ``label`` (and every entry
of ``labels``, which must contain ``label``) is one of the 16 PLOVER types of ``src/tidings/data/plover.json`` or
NONE; ``modality`` is one of the guide's values (null on NONE rows, set on event rows); ``source_text`` and
``target_text`` are exact substrings of the sentence; ids are unique within the file and across the other labelled
files; and no article ``url`` of the file appears in another labelled corpus file (an article is annotated once, so
cross-validation folds grouped by document cannot leak; ``*_raw.jsonl`` files are the unlabelled sources of
labelled parts and are not compared). Prints the problems and exits 1 when there are any, so it can guard a commit.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))  # run as a script from a checkout: the engine's own vocabulary

from tidings.core.records import MODALITIES

CORPUS = ROOT / "training" / "corpus"
TYPES = set(json.loads((ROOT / "src" / "tidings" / "data" / "plover.json").read_text("utf-8"))["types"])
FIELDS = ("id", "text", "doc", "url", "label", "mode", "source_text", "target_text", "modality", "checked_by")


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _norm(url: str | None) -> str | None:
    return url.replace(".org//wiki", ".org/wiki") if url else url


def check(path: Path) -> list[str]:
    """The problems found in one corpus file (empty when it is valid)."""
    problems: list[str] = []
    rows = _rows(path)
    for row in rows:
        rid = row.get("id", "?")
        missing = [f for f in FIELDS if f not in row]
        if missing:
            problems.append(f"{rid}: missing fields {missing}")
            continue
        label = row["label"]
        labels = row.get("labels")
        if label != "NONE" and label not in TYPES:
            problems.append(f"{rid}: label {label!r} is not a PLOVER type")
        if labels is not None and (label not in labels or any(lab not in TYPES for lab in labels)
                                   or len(set(labels)) != len(labels)):
            problems.append(f"{rid}: labels {labels} must be distinct PLOVER types that include {label!r}")
        modality = row["modality"]
        if label == "NONE" and modality is not None:
            problems.append(f"{rid}: NONE row with modality {modality!r}")
        if label != "NONE" and modality not in MODALITIES:
            problems.append(f"{rid}: modality {modality!r} not in {list(MODALITIES)}")
        for field in ("source_text", "target_text"):
            value = row[field]
            if value is not None and value not in row["text"]:
                problems.append(f"{rid}: {field} {value!r} is not a substring of the sentence")
        if not row["checked_by"]:
            problems.append(f"{rid}: checked_by is empty")
    ids = Counter(r.get("id") for r in rows)
    problems += [f"{rid}: id used {n} times in {path.name}" for rid, n in ids.items() if n > 1]
    mine = {_norm(r.get("url")) for r in rows} - {None}
    for other in sorted(CORPUS.glob("*.jsonl")):
        if other.resolve() == path.resolve() or other.name.endswith("_raw.jsonl"):
            continue  # a *_raw.jsonl file is the unlabelled source of labelled parts, not another annotation
        other_rows = _rows(other)
        shared = mine & {_norm(r.get("url")) for r in other_rows}
        problems += [f"url also in {other.name}: {url}" for url in sorted(shared)]
        clash = set(ids) & {r.get("id") for r in other_rows}
        problems += [f"{rid}: id also in {other.name}" for rid in sorted(clash)]
    return problems


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    failed = False
    for name in argv[1:]:
        path = Path(name)
        problems = check(path)
        rows = _rows(path)
        events = Counter(r["label"] for r in rows)
        print(f"{path.name}: {len(rows)} rows, {len({r['doc'] for r in rows})} docs, "
              f"{len(rows) - events['NONE']} event rows, {len(problems)} problems")
        for problem in problems:
            print("  " + problem)
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
