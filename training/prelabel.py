"""Pre-label raw corpus sentences with the current rule coder, for annotators to check row by row.

    python training/prelabel.py training/corpus/gum_news_raw.jsonl OUT.jsonl

Input rows: ``{"id", "text", "doc", "published", ...}``; sentences of one ``doc`` are analysed together (one
line each, in order), so attribution, dates and coreference see their article. Each output row keeps the input
fields and adds ``prelabel``: the rule coder's events whose trigger lies in that sentence, as
``{"type", "mode", "modality", "source", "target", "trigger"}``.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any


def _actor(actor: Any) -> str | None:
    if actor is None:
        return None
    return f"{actor.name} [{actor.code}]" if actor.code else actor.name


def prelabel(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from tidings.core.records import Document
    from tidings.core.settings import Settings
    from tidings.pipeline import Engine

    engine = Engine(Settings(coder_mode="rules"))  # the rule coder's view, for annotators to correct
    by_doc: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_doc[row.get("doc") or row["id"]].append(row)
    for doc_rows in by_doc.values():
        text, starts = "", []
        for row in doc_rows:
            starts.append(len(text))
            text += row["text"].replace("\n", " ") + "\n"
        published = doc_rows[0].get("published")
        analysis = engine.analyze(Document.from_text(text, published=published))
        for row in doc_rows:
            row["prelabel"] = []
        for event in analysis.events:
            trigger = event.evidence.get("trigger")
            offset = trigger.start if trigger else 0
            index = max(i for i, start in enumerate(starts) if start <= offset)
            doc_rows[index]["prelabel"].append({
                "type": event.type, "mode": event.mode, "modality": event.modality,
                "source": _actor(event.source_actor), "target": _actor(event.target_actor),
                "trigger": trigger.text if trigger else None})
    return rows


def main(argv: list[str]) -> int:
    src, dst = Path(argv[1]), Path(argv[2])
    rows = [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines() if line.strip()]
    labelled = prelabel(rows)  # before opening dst: a failure leaves an existing output as it was
    with dst.open("w", encoding="utf-8") as out:
        for row in labelled:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} rows -> {dst}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
