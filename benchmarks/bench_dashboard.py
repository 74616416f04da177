"""What the dashboard's first load costs the server: the aggregate requests it makes, on N synthetic events.

    python benchmarks/bench_dashboard.py            # 100k events, 10 rounds
    python benchmarks/bench_dashboard.py 1000000 -r 5

The dashboard draws /api/aggregates/* (counts over every matching event) and fetches one page of 200 flat
rows for its list; before, it fetched up to five flat pages of 1,000 rows and counted on the client. Both
are timed here in-process (FastAPI's TestClient, one request at a time: server work, no network), for the
unfiltered view and a filtered one. The data is ``bench_store.Synthetic`` (as ``bench_api.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import build
from fastapi.testclient import TestClient

from tidings.api.app import create_app

VIEWS = {"all events": "", "type+country": "type=ASSAULT&country=SYR"}
REQUESTS = {
    "facets": "/api/aggregates/facets?{q}",
    "map": "/api/aggregates/map?{q}",
    "timeline": "/api/aggregates/timeline?{q}",
    "network": "/api/aggregates/network?limit=150&{q}",
    "list page of 200": "/api/events?shape=flat&limit=200&{q}",
}
BEFORE = "/api/events?shape=flat&limit=1000&offset={offset}&{q}"   # the old first load: up to 5 of these


def timed(client: TestClient, path: str, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        response = client.get(path)
        out.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (path, response.text[:200])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("events", nargs="?", type=int, default=100_000)
    parser.add_argument("-r", "--rounds", type=int, default=10)
    parser.add_argument("--db", help="time this existing store instead of building one (e.g. bench_api's)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/dash.db"
        if not args.db:
            spent = build(url, args.events)
            print(f"stored {args.events:,} synthetic events in {spent:.1f} s\n")
        with TestClient(create_app(url, deliver_webhooks=False)) as client:
            print(f"{'view':14} {'request':22} {'p50 ms':>8} {'p95 ms':>8}")
            for view, q in VIEWS.items():
                first_load = 0.0
                for name, path in REQUESTS.items():
                    ms = timed(client, path.format(q=q), args.rounds)
                    p50, p95 = statistics.median(ms), statistics.quantiles(ms, n=20)[-1]
                    first_load += p50
                    print(f"{view:14} {name:22} {p50:8.1f} {p95:8.1f}")
                before = sum(statistics.median(timed(client, BEFORE.format(offset=o, q=q), max(3, args.rounds // 3)))
                             for o in range(0, 5000, 1000))
                print(f"{view:14} {'first load, now':22} {first_load:8.1f}   (sum of p50s, one at a time)")
                print(f"{view:14} {'first load, before':22} {before:8.1f}   (5 flat pages of 1000)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
