"""API latency under load: N synthetic events, ``tidings.api.app`` under uvicorn, an asyncio/httpx load generator.

    python benchmarks/bench_api.py                      # 100k events, concurrency 1 and 8
    python benchmarks/bench_api.py 1000000 -c 1 -c 16   # the goal: filtered query p95 <= 100 ms
    python benchmarks/bench_api.py -w 1 -q filtered     # one server process, the headline query only

The server runs in its own process(es) (``-w`` uvicorn workers, as ``tidings serve --workers`` runs it) so the
load generator does not share its interpreter; both share the machine, so on a small box the client's own CPU
is part of every latency measured (it is reported as a conservative figure, not subtracted).

Latency on a shared machine measures the other jobs as much as tidings, so each row also reports the CPU
time one request cost the server (all its processes, from /proc) and the client: figures the machine's
load barely changes, and from which ``cap/s`` estimates the requests per second ``os.cpu_count()`` idle
cores would serve (CPUs ÷ CPU per request, server and client together).
The data is ``bench_store.Synthetic``: 10 events per document, ~40 actors, ~300 places, two years of dates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import CHUNK_DOCUMENTS, Synthetic

from tidings.cli.serve import default_workers
from tidings.store.database import Store

# name → path; the first is the headline figure (a filtered events page, as the dashboard and scripts ask).
QUERIES: dict[str, str] = {
    "events type+country+dates, 100": "/api/events?type=ASSAULT&country=SYR&since=2024-03-01&until=2024-05-31"
                                      "&limit=100",
    "events actor prefix, 100": "/api/events?actor=IRN&limit=100",
    "events place + modality, 100": "/api/events?place=Homs&modality=reported&modality=hedged&limit=100",
    "events text (FTS) + type, 100": "/api/events?text=ceasefire&type=AID&limit=100",
    "events flat page (dashboard), 1000": "/api/events?shape=flat&limit=1000&offset=1000",
    "events csv, 1000": "/api/events?format=csv&type=ASSAULT&limit=1000",
    "event detail": "/api/events/doc00000042-3",
    "actors (aggregate), 100": "/api/actors?limit=100",
    "places (aggregate), 100": "/api/places?limit=100",
    "stats": "/api/stats",
}
# As `tidings serve --workers N` runs it: each worker process builds the app from TIDINGS_DB.
SERVER = ("import sys, uvicorn; uvicorn.run('tidings.api.app:create_app', factory=True, host='127.0.0.1', "
          "port=int(sys.argv[1]), workers=int(sys.argv[2]), log_level='warning')")


def build(url: str, n_events: int) -> float:
    """Fill the store; returns seconds spent saving."""
    data = iter(Synthetic(n_events))
    spent = 0.0
    with Store(url) as store:
        while chunk := list(islice(data, CHUNK_DOCUMENTS)):
            t0 = time.perf_counter()
            store.save_many(chunk)
            spent += time.perf_counter() - t0
    return spent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(workers)],
                              env={**os.environ, "TIDINGS_DB": url})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the API server did not start within 60 s")


async def load(base: str, path: str, requests: int, concurrency: int) -> list[float]:
    """``requests`` GETs of ``path`` with ``concurrency`` in flight; latencies in ms (client-side)."""
    latencies: list[float] = []
    remaining = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        async def worker() -> None:
            for _ in remaining:
                t0 = time.perf_counter()
                response = await client.get(path)
                latencies.append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{path}: HTTP {response.status_code} {response.text[:200]}")
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its descendants (Linux /proc; 0 elsewhere)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        own = int(entry.parent.name)
        parents[own] = int(fields[1])
        times[own] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(p, 0.0) for p in tree)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", nargs="?", type=int, default=100_000, help="events in the store (default 100000)")
    parser.add_argument("-c", "--concurrency", type=int, action="append", help="requests in flight (repeatable; "
                        "default 1 and 8)")
    parser.add_argument("-r", "--requests", type=int, default=300, help="requests per query and level (300)")
    parser.add_argument("-w", "--workers", type=int, default=default_workers(), help="server processes (default: "
                        "as tidings serve, one per CPU up to 4)")
    parser.add_argument("--db", type=Path, help="reuse/keep this database file instead of a temporary one")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("-q", "--query", action="append", help="only queries whose name contains this "
                        "(repeatable; 'filtered' = the headline query)")
    args = parser.parse_args(argv)
    levels = args.concurrency or [1, 8]

    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench_api.db"
        url = f"sqlite:///{path}"
        if not path.exists():
            seconds = build(url, args.n)
            print(f"stored {args.n:,} synthetic events in {seconds:.1f} s", flush=True)
        with Store(url) as store:
            print(f"database: {store.count_events():,} events, {path.stat().st_size / 1e6:,.0f} MB", flush=True)
        port = free_port()
        server = start_server(url, port, args.workers)
        results: list[dict[str, object]] = []
        try:
            base = f"http://127.0.0.1:{port}"
            print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, {args.workers} worker(s)")
            print(f"\n{'query':38} {'conc':>4} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>7} "
                  f"{'srv cpu':>8} {'cli cpu':>8} {'cap/s':>6}")
            wanted = [w.replace("filtered", next(iter(QUERIES))) for w in args.query or []]
            for name, query in QUERIES.items():
                if wanted and not any(w in name for w in wanted):
                    continue
                asyncio.run(load(base, query, 20, 2))   # warm the page cache and the code paths
                for level in levels:
                    t0, server_cpu, client_cpu = time.perf_counter(), tree_cpu(server.pid), time.process_time()
                    times = asyncio.run(load(base, query, args.requests, level))
                    rate = len(times) / (time.perf_counter() - t0)
                    server_ms = (tree_cpu(server.pid) - server_cpu) / len(times) * 1000
                    client_ms = (time.process_time() - client_cpu) / len(times) * 1000
                    capacity = (os.cpu_count() or 1) * 1000 / max(server_ms + client_ms, 1e-3)
                    row = {"query": name, "path": query, "concurrency": level, "p50_ms": percentile(times, 50),
                           "p95_ms": percentile(times, 95), "p99_ms": percentile(times, 99), "rps": rate,
                           "server_cpu_ms": server_ms, "client_cpu_ms": client_ms, "capacity_rps": capacity,
                           "load": os.getloadavg()[0]}
                    results.append(row)
                    print(f"{name:38} {level:4d} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f} "
                          f"{row['p99_ms']:8.1f} {rate:7.0f} {server_ms:8.2f} {client_ms:8.2f} {capacity:6.0f}",
                          flush=True)
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:   # a slow request still in flight
                server.kill()
                server.wait()
        headline = [r for r in results if r["query"] == next(iter(QUERIES))]
        goal = all(float(r["p95_ms"]) <= 100 for r in headline)   # type: ignore[arg-type]
        levels_text = ", ".join(f"c={r['concurrency']}: {float(r['p95_ms']):.0f} ms"  # type: ignore[arg-type]
                                for r in headline)
        print(f"\nfiltered events query p95 goal (<= 100 ms): {'met' if goal else 'NOT met'} ({levels_text}; "
              f"load average {os.getloadavg()[0]:.1f} at the end)")
        if args.json:
            args.json.write_text(json.dumps({"events": args.n, "cpus": os.cpu_count(), "workers": args.workers,
                                             "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
