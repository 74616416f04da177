#!/usr/bin/env python3
"""Cost and yield of the casualties stage (``tidings.stages.casualties``), and its must / must-not pass rate.

    python benchmarks/bench_casualties.py [--docs 200] [--json out.json]

Speed: the same real news articles as ``bench_speed.py`` (LGL, TR-News, >= 100 words), one process: raw
spaCy ``nlp.pipe`` against the whole engine, with the engine's per-stage timer; the stage's share of the
pipeline and the throughput ratio to raw spaCy with and without the stage's seconds (goal: the stage costs
the ratio no more than 0.01). Yield: how many figures of each kind the stage attached, and how many are
background. Cases: the share of ``tests/data/casualty_cases.jsonl`` passed (the must / must-not rules of
``tests/casualty_support.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from bench_speed import MODEL, load_texts


def run(n_docs: int) -> dict[str, Any]:
    import spacy

    from casualty_support import case_failures, figures, load_cases
    from tidings.core.records import Document
    from tidings.pipeline import Engine
    from tidings.read import read_text

    texts = load_texts(n_docs)
    words = sum(len(t.split()) for t in texts)
    nlp = spacy.load(MODEL)
    engine = Engine()
    documents = [d for t in texts if isinstance(d := read_text(t), Document)]
    list(engine.analyze_many(documents[:8]))          # warm up both
    list(nlp.pipe(texts[:8]))
    start = time.perf_counter()
    for _ in nlp.pipe(texts, batch_size=32):
        pass
    raw = time.perf_counter() - start
    before = dict(engine.timer.seconds)
    start = time.perf_counter()
    analyses = list(engine.analyze_many(documents, batch_size=32))
    full = time.perf_counter() - start
    stages = {k: v - before.get(k, 0.0) for k, v in engine.timer.seconds.items() if k != "load"}
    stage = stages.get("casualties", 0.0)
    kinds: Counter[str] = Counter()
    background = 0
    with_figures = 0
    for analysis in analyses:
        for event in analysis.events:
            with_figures += bool(event.casualties)
            for casualty in event.casualties:
                kinds[casualty.kind] += 1
                background += casualty.background
    cases = load_cases()
    passed = sum(not case_failures(c, figures(engine.analyze(c["text"], published=c.get("published", "2024-05-02"))
                                                   .events)) for c in cases)
    return {
        "documents": len(documents), "words": words, "raw_spacy_s": raw, "tidings_s": full,
        "casualties_s": stage, "casualties_ms_per_doc": 1000 * stage / max(1, len(documents)),
        "share": stage / full, "ratio": raw / full, "ratio_without_stage": raw / (full - stage),
        "stage_seconds": stages, "events": sum(len(a.events) for a in analyses),
        "events_with_figures": with_figures, "figures": dict(kinds), "background_figures": background,
        "cases": len(cases), "cases_passed": passed, "case_pass_rate": passed / len(cases),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    text = json.dumps(run(args.docs), indent=1)
    if args.json:
        args.json.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
