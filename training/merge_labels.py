"""Merge an annotator's compact label sheet into pre-labelled corpus rows.

    python training/merge_labels.py PRELABELLED.jsonl SHEET.txt [SHEET.txt ...] --checked-by NAME --out OUT.jsonl

Why: typing one JSON object per sentence by hand is slow and error-prone; the sheet has one line per sentence
(``NNN|LABEL[,LABEL2...]|mode|source_text|target_text|modality|note`` under a ``## doc`` header, empty = null)
so every row is still decided by the annotator. Rows of a doc with no sheet line are an error, not NONE.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def parse(paths: list[Path]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    doc = None
    for path in paths:
        for line in path.read_text("utf-8").splitlines():
            if not line.strip():
                continue
            if line.startswith("## "):
                doc = line[3:].strip()
                continue
            f = (line.split("|") + [""] * 7)[:7]
            labels = [x.strip() for x in f[1].split(",") if x.strip()]
            rid = f"{doc}-{f[0].strip()}"
            if rid in out:
                raise SystemExit(f"duplicate sheet line {rid}")
            out[rid] = {"label": labels[0], "labels": labels if len(labels) > 1 else None,
                        "mode": f[2] or None, "source_text": f[3] or None, "target_text": f[4] or None,
                        "modality": f[5] or None, "note": f[6] or None}
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("rows", type=Path)
    ap.add_argument("sheets", type=Path, nargs="+")
    ap.add_argument("--checked-by", required=True)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    sheet = parse(a.sheets)
    rows = [json.loads(x) for x in a.rows.read_text("utf-8").splitlines() if x.strip()]
    done_docs = {k.rsplit("-", 1)[0] for k in sheet}
    out = []
    for r in rows:
        if r["doc"] not in done_docs:
            continue
        if r["id"] not in sheet:
            raise SystemExit(f"no sheet line for {r['id']}")
        s = sheet.pop(r["id"])
        row = {k: v for k, v in r.items()}
        row["label"] = s["label"]
        if s["labels"]:
            row["labels"] = s["labels"]
        for k in ("mode", "source_text", "target_text", "modality"):
            row[k] = s[k] if s["label"] != "NONE" else None
        row["checked_by"] = a.checked_by
        row["note"] = s["note"]
        out.append(row)
    if sheet:
        raise SystemExit(f"sheet lines without a row: {sorted(sheet)[:5]}")
    a.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out), "utf-8")
    print(f"{len(out)} rows -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
