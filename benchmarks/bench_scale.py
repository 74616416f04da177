"""Scale: documents/s per engine, PostgreSQL next to SQLite at N events, and Parquet export memory.

    python benchmarks/bench_scale.py                         # 200 LGL articles; 100k events; no PostgreSQL
    python benchmarks/bench_scale.py --docs 500 --events 1000000 --pg-url "$(scripts/pg_test_server.sh)"
    python benchmarks/bench_scale.py --only engines          # or: store, export
    python benchmarks/bench_scale.py --only engines --docs 2000 --engines local:2,ray:2   # start-up amortised

1. **Engines**: the same documents through ``tidings batch`` with ``local`` on 1 and 2 processes and ``ray``
   with 2 workers (a local Ray), or the runs ``--engines`` names; wall time includes model loading (and Ray's
   start), and the outputs are compared event for event with the first run's. Beyond LGL's 588 articles the
   other news sets in ``shared/eval`` follow (2,001 in all), so start-up can be amortised over 2,000.
2. **Store**: bulk insert rate (``save_many``) and filtered-query latency on SQLite and PostgreSQL, with the
   synthetic corpus and queries of ``bench_store.py`` (generation is outside the clock).
3. **Export**: peak memory (max RSS, in a fresh process) of a Parquet export of all N events from each store,
   against the same process's memory before the export.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_store import CHUNK_DOCUMENTS, Synthetic, queries, timed

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
LGL = EVAL / "geo" / "lgl.jsonl"
# News texts for the engine runs, in this order: LGL's 588 first (the runs of earlier rounds), then the other
# news sets, so --docs 2000 has 2,000 distinct real articles (read at run time, never copied into the repo).
CORPORA = (LGL, EVAL / "geo" / "geovirus.jsonl", EVAL / "geo" / "tr_news.jsonl",
           EVAL / "linking" / "ecbplus.jsonl", EVAL / "attribution" / "polnear_dev.jsonl")
ENGINES = "local:1,local:2,ray:2"


def _articles(n_docs: int) -> Iterator[dict[str, Any]]:
    """The first ``n_docs`` articles of CORPORA; fewer when they run out."""
    def rows() -> Iterator[dict[str, Any]]:
        for path in CORPORA:
            if path.exists():
                with path.open(encoding="utf-8") as source:
                    yield from map(json.loads, source)
    for row in islice(rows(), n_docs):
        yield {"text": row["text"], "title": row.get("title"), "url": row.get("url")}


# --------------------------------------------------------------------------------------------- engines

def bench_engines(n_docs: int, tmp: Path, runs: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """Each (engine, workers) run over the same articles; outputs compared with the first run's."""
    from tidings.scale import run_batch, shutdown_ray

    corpus = tmp / "corpus.jsonl"
    with corpus.open("w", encoding="utf-8") as out:
        for row in _articles(n_docs):
            out.write(json.dumps(row) + "\n")
    results = []
    for engine, workers in runs:
        out = tmp / f"{engine}-{workers}"
        started = time.perf_counter()
        try:
            stats = run_batch([corpus], [str(out)], engine=engine, workers=workers, batch_size=16)
        except Exception as exc:  # noqa: BLE001 - e.g. Ray missing: report and go on
            results.append({"engine": engine, "workers": workers, "error": str(exc)})
            continue
        finally:
            if engine == "ray":
                shutdown_ray()
        wall = time.perf_counter() - started
        results.append({"engine": engine, "workers": workers, "documents": stats.done, "events": stats.events,
                        "wall_s": round(wall, 1), "docs_per_s": round(stats.done / wall, 2),
                        "events_digest": _events_digest(out)})
    reference = results[0].get("events_digest")
    for result in results:
        result["same_events_as_first"] = result.get("events_digest") == reference
    timed_runs = {(r["engine"], r["workers"]): r["docs_per_s"] for r in results if "docs_per_s" in r}
    for (engine, workers), rate in timed_runs.items():
        local = timed_runs.get(("local", workers))
        if engine != "local" and local:
            results.append({"ratio": f"{engine}/local at {workers} workers", "value": round(rate / local, 3)})
    return results


def _events_digest(directory: Path) -> str:
    import hashlib

    import pyarrow.parquet as pq

    rows = sorted(json.dumps(r, sort_keys=True, default=str) for r in pq.read_table(directory / "events").to_pylist())
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------------------------- store

def bench_store(url: str, n_events: int, reuse: bool = False) -> dict[str, Any]:
    from tidings.store.database import Store

    result: dict[str, Any] = {"events": n_events}
    with Store(url) as store:
        if reuse and store.stats()["events"] >= n_events:
            result["insert"] = "reused an existing database"
        else:
            data = iter(Synthetic(n_events))
            wall = 0.0
            while chunk := list(islice(data, CHUNK_DOCUMENTS)):
                t0 = time.perf_counter()
                store.save_many(chunk)
                wall += time.perf_counter() - t0
            result.update({"insert_s": round(wall, 1), "insert_events_per_s": round(n_events / wall)})
    with Store(url) as store:
        if store._pg:   # fresh statistics, as autovacuum would give soon after a bulk load
            with store._engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        result["queries_ms"] = {}
        for name, fn in queries(store).items():
            median, worst, _ = timed(fn, repeat=5)
            result["queries_ms"][name] = (round(median, 1), round(worst, 1))
    return result


# ---------------------------------------------------------------------------------------------- export

# VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec, so a child would report its parent's peak.
_EXPORT_CHILD = """
import sys, time
from tidings.store.export import export_events
from tidings.store.database import Store
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
store = Store(sys.argv[1])
next(store.iter_events(), None)                     # imports and connection warm, before the baseline
before = hwm()
t0 = time.perf_counter()
n = export_events(store.iter_events(), "parquet", sys.argv[2])
seconds = time.perf_counter() - t0
print(n, before, hwm(), seconds)
"""


def bench_export(url: str, out: Path) -> dict[str, Any]:
    """In a fresh interpreter, so the peak is the export's own, not the benchmark's."""
    proc = subprocess.run([sys.executable, "-c", _EXPORT_CHILD, url, str(out)], capture_output=True, text=True,
                          check=True, env=os.environ)
    n, before, peak, seconds = proc.stdout.split()
    return {"events": int(n), "rss_before_mb": round(int(before) / 1024), "peak_rss_mb": round(int(peak) / 1024),
            "added_mb": round((int(peak) - int(before)) / 1024), "seconds": round(float(seconds), 1),
            "file_mb": round(out.stat().st_size / 1e6)}


# ------------------------------------------------------------------------------------------------ main

def _pg_schema(pg_url: str, schema: str | None) -> tuple[str, str]:
    """A schema on the server for this run (a fresh one unless named); returns (url, schema)."""
    from urllib.parse import quote

    import psycopg

    schema = schema or f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    sep = "&" if "?" in pg_url else "?"
    return f"{pg_url}{sep}options={quote(f'-csearch_path={schema}')}", schema


def _drop_schema(pg_url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=200, help="LGL articles for the engine runs (default 200)")
    parser.add_argument("--events", type=int, default=100_000, help="synthetic events for the store runs")
    parser.add_argument("--pg-url", default=os.environ.get("TIDINGS_TEST_PG_URL"),
                        help="PostgreSQL server (default $TIDINGS_TEST_PG_URL; without it SQLite only)")
    parser.add_argument("--ray-workers", type=int, default=None,
                        help="shorthand: the ray run's workers (default 2)")
    parser.add_argument("--engines", default=ENGINES,
                        help=f"engine:workers runs, the first the reference for outputs (default {ENGINES})")
    parser.add_argument("--only", choices=("engines", "store", "export"), action="append")
    parser.add_argument("--keep", type=Path, help="keep the SQLite database here (else a temporary file)")
    parser.add_argument("--pg-schema", help="keep the PostgreSQL data in this schema (else a temporary one)")
    parser.add_argument("--reuse", action="store_true", help="skip inserting into a kept database that is full")
    args = parser.parse_args(argv)
    parts = set(args.only or ("engines", "store", "export"))
    report: dict[str, Any] = {"cpus": os.cpu_count()}

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        if "engines" in parts:
            runs = [(engine, int(workers)) for engine, _, workers in
                    (item.partition(":") for item in args.engines.split(","))]
            if args.ray_workers is not None:
                runs = [(e, args.ray_workers if e == "ray" else w) for e, w in runs]
            report["engines"] = bench_engines(args.docs, tmp, runs)
            _print("engines", report["engines"])
        sqlite_url = f"sqlite:///{args.keep or tmp / 'bench.db'}"
        pg = _pg_schema(args.pg_url, args.pg_schema) if args.pg_url and parts & {"store", "export"} else None
        try:
            backends = [("sqlite", sqlite_url)] + ([("postgresql", pg[0])] if pg else [])
            for name, url in backends:
                if "store" in parts or "export" in parts:
                    report[f"store_{name}"] = bench_store(url, args.events, args.reuse)
                    _print(f"store {name}", report[f"store_{name}"])
                if "export" in parts:
                    report[f"export_{name}"] = bench_export(url, tmp / f"{name}.parquet")
                    _print(f"parquet export from {name}", report[f"export_{name}"])
        finally:
            if pg and not args.pg_schema:
                _drop_schema(args.pg_url, pg[1])
    print(json.dumps(report, indent=1))
    return 0


def _print(title: str, value: Any) -> None:
    print(f"\n== {title}", flush=True)
    if isinstance(value, list):
        for row in value:
            print("  " + json.dumps(row), flush=True)
        return
    for key, item in value.items():
        if isinstance(item, dict):
            for name, ms in item.items():
                print(f"  {name:40} median/max ms {ms}", flush=True)
        else:
            print(f"  {key}: {item}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
