#!/usr/bin/env python3
"""CI gate: quality may not silently drop.

Runs a fast subset of the dev sets (PLOVER GSR all 161 sentences, CASE 2021 first 200 snippets, LGL
first 100 articles — the suites and limits are in ``accuracy_floors.json``) and exits 1 when any
pinned score is below its floor, 2 when the gold data is missing.

    python benchmarks/check_floors.py                      # the gate
    python benchmarks/check_floors.py --pin 0.01           # re-measure and pin floors 0.01 under
    python benchmarks/check_floors.py --scores s.json      # check saved scores (no engine run)

Floors are set just under the measured score: a real regression fails the gate; noise from a tie
broken differently does not. After an improvement, re-pin so the gain is protected too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from tidings import evaluation

HERE = Path(__file__).resolve().parent
DEFAULT_FLOORS = HERE / "accuracy_floors.json"
DEFAULT_EVAL_DIR = Path(os.environ.get("TIDINGS_EVAL_DIR", HERE.parent.parent / "shared" / "eval"))
RUNNERS = {"events": evaluation.run_events, "classify": evaluation.run_classify, "geo": evaluation.run_geo}


def measure(suites: dict[str, Any], eval_dir: Path, n_process: int | None = None) -> dict[str, dict[str, Any]]:
    """Run every suite with one shared engine (the model loads once) and return ``{suite: scores}``."""
    from tidings.pipeline import Engine

    engine = Engine()
    scores: dict[str, dict[str, Any]] = {}
    for name, suite in suites.items():
        start = time.perf_counter()
        report = RUNNERS[suite["task"]](eval_dir / suite["gold"], limit=suite.get("limit"), engine=engine,
                                        n_process=n_process)
        scores[name] = report.scores
        print(f"{name}: {report.documents} rows in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return scores


def pin(floors_doc: dict[str, Any], scores: dict[str, dict[str, Any]], margin: float) -> dict[str, Any]:
    """Floors ``margin`` under the measured scores, rounded down to 3 decimals."""
    for name, suite in floors_doc["suites"].items():
        flat = evaluation.flatten(scores.get(name, {}))
        for metric in suite["floors"]:
            if metric in flat:
                suite["floors"][metric] = max(0.0, math.floor((flat[metric] - margin) * 1000) / 1000)
        suite["measured"] = {metric: round(flat[metric], 4) for metric in suite["floors"] if metric in flat}
    floors_doc["pinned"] = dt.date.today().isoformat()
    return floors_doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--floors", type=Path, default=DEFAULT_FLOORS)
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR, help="the shared eval folder")
    parser.add_argument("--scores", type=Path, help="check these saved scores instead of running the engine")
    parser.add_argument("--write-scores", type=Path, help="save the measured scores as JSON")
    parser.add_argument("--pin", type=float, metavar="MARGIN", help="rewrite the floors MARGIN under the scores")
    parser.add_argument("--n-process", type=int, default=None)
    args = parser.parse_args(argv)

    floors_doc = json.loads(args.floors.read_text(encoding="utf-8"))
    suites: dict[str, Any] = floors_doc["suites"]
    if args.scores is not None:
        scores = json.loads(args.scores.read_text(encoding="utf-8"))
    else:
        missing = [str(args.eval_dir / s["gold"]) for s in suites.values() if not (args.eval_dir / s["gold"]).exists()]
        if missing:
            print(f"gold data missing: {', '.join(missing)} (set TIDINGS_EVAL_DIR or --eval-dir)", file=sys.stderr)
            return 2
        scores = measure(suites, args.eval_dir, args.n_process)
    if args.write_scores is not None:
        args.write_scores.write_text(json.dumps(scores, indent=1), encoding="utf-8")
    if args.pin is not None:
        args.floors.write_text(json.dumps(pin(floors_doc, scores, args.pin), indent=2) + "\n", encoding="utf-8")
        print(f"floors pinned {args.pin} under the measured scores in {args.floors}")
    floors = {name: suite["floors"] for name, suite in suites.items()}
    for name, pinned in floors.items():
        flat = evaluation.flatten(scores.get(name, {}))
        for metric, floor in pinned.items():
            value = flat.get(metric)
            shown = f"{value:.4f}" if value is not None else "missing"
            print(f"{'ok  ' if value is not None and value >= floor else 'FAIL'} {name:10} {metric:45} "
                  f"{shown:>8}  floor {floor:.4f}")
    problems = evaluation.check_floors(scores, floors)
    for problem in problems:
        print(f"below floor: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
