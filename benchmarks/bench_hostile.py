"""The speed goals of issue 12 ("nothing lost, nothing let in"), measured; tests/test_hostile.py checks the
behaviour, this script the time it costs.

    python benchmarks/bench_hostile.py                   # the issue's figures (one 1.1M-character article)
    python benchmarks/bench_hostile.py --chars 300000    # a smaller long article (quicker)

1. A batch of 100 documents with one long article (``--chars``, default 1,100,000 characters: over spaCy's
   1,000,000 limit and over ``MAX_CHARS``, so it is refused with E119) through ``tidings analyze``
   (``service.analyze_paths``): the 99 others stored; with ``--chars`` under the limit, the long one is split,
   analysed whole and stored too. Seconds for the batch, and per stage.
2. Five articles analysed with a watch rule whose webhook never answers (a 127.0.0.1 server that reads the
   request and waits): the extra seconds over the same five with no rule (goal: a few seconds at most).
3. A server that sends one byte a second: seconds until the fetch gives up, against the policy's total
   deadline (goal: the deadline, not a multiple of it).

Everything runs locally; servers listen on 127.0.0.1 and stop by themselves.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = (ROOT / "examples" / "iran-syria-evacuation.txt").read_text("utf-8")


def _short(n: int) -> str:
    return (f"Foreign ministers of Iran, Russia and Turkey met in Doha on Saturday to discuss the fighting in "
            f"Syria, a Qatari official said. Meeting {n} ended without an agreement, the official said.")


def long_batch(engine: Any, chars: int) -> dict[str, Any]:
    from tidings import service
    from tidings.store.database import Store

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        for n in range(99):
            (folder / f"{n:03d}.txt").write_text(_short(n), "utf-8")
        text = ((SAMPLE + "\n\n") * (chars // len(SAMPLE) + 1))[:chars]
        (folder / "050-long.txt").write_text(text, "utf-8")
        db = f"sqlite:///{Path(tmp) / 'b.db'}"
        start = time.perf_counter()
        result = service.analyze_paths([folder], db=db, engine=engine, published="2024-12-07")
        seconds = time.perf_counter() - start
        with Store(db) as store:
            stored = store.stats()["documents"]
        long_one = next((a for a in result.analyses if (a.document.path or "").endswith("050-long.txt")), None)
    return {"documents": 100, "long_chars": chars, "stored": stored, "failures": [str(f) for f in result.failures],
            "long_events": len(long_one.events) if long_one else None, "seconds": round(seconds, 1),
            "stage_seconds": {k: round(v, 1) for k, v in engine.timer.seconds.items()}}


class _Silent(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.stop.wait(60)   # type: ignore[attr-defined]  # never answers; lets go when the run ends

    def do_GET(self) -> None:        # one byte a second, 120 at most
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "120")
        self.end_headers()
        for _ in range(120):
            if self.server.stop.wait(1.0):   # type: ignore[attr-defined]
                return
            try:
                self.wfile.write(b"a")
                self.wfile.flush()
            except OSError:
                return

    def log_message(self, *args: object) -> None:
        pass


def _server() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Silent)
    server.daemon_threads = True
    server.stop = threading.Event()   # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return server


def dead_webhook(engine: Any) -> dict[str, Any]:
    from tidings import service
    from tidings.across.watch import WatchRule, add_rule
    from tidings.store.database import Store

    server = _server()
    os.environ["TIDINGS_ALLOW_NETWORKS"] = "127.0.0.0/8"
    try:
        timings = {}
        for with_rule in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp) / "five"
                folder.mkdir()
                for n in range(5):
                    (folder / f"{n}.txt").write_text(SAMPLE.replace("Saturday", f"Saturday ({n})"), "utf-8")
                db = f"sqlite:///{Path(tmp) / 'w.db'}"
                if with_rule:
                    with Store(db) as store:
                        add_rule(store, WatchRule(name="all", webhook=f"http://127.0.0.1:{server.server_address[1]}/"))
                start = time.perf_counter()
                result = service.analyze_paths([folder], db=db, engine=engine, published="2024-12-07")
                timings["with_dead_webhook" if with_rule else "without_rule"] = time.perf_counter() - start
                assert not result.failures
    finally:
        server.stop.set()   # type: ignore[attr-defined]
        server.shutdown()
        os.environ.pop("TIDINGS_ALLOW_NETWORKS", None)
    return {"seconds": {k: round(v, 1) for k, v in timings.items()},
            "extra_seconds": round(timings["with_dead_webhook"] - timings["without_rule"], 1)}


def drip(deadline: float) -> dict[str, Any]:
    from tidings.read.web import FetchError, FetchPolicy, WebClient

    server = _server()
    try:
        policy = FetchPolicy(allow_networks=("127.0.0.0/8",), deadline=deadline)
        start = time.perf_counter()
        with WebClient(policy) as client:
            try:
                client.fetch(f"http://127.0.0.1:{server.server_address[1]}/")
                outcome = "fetched"
            except FetchError as exc:
                outcome = f"[{exc.code}] {exc.message}"
        seconds = time.perf_counter() - start
    finally:
        server.stop.set()   # type: ignore[attr-defined]
        server.shutdown()
    return {"deadline": deadline, "retries": policy.retries, "seconds": round(seconds, 1), "outcome": outcome}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chars", type=int, default=1_100_000, help="length of the long article")
    parser.add_argument("--deadline", type=float, default=60.0, help="the fetch policy's total deadline")
    args = parser.parse_args()
    from tidings.pipeline import Engine

    engine = Engine()
    report = {"drip_server": drip(args.deadline), "dead_webhook": dead_webhook(engine),
              "long_article_batch": long_batch(engine, args.chars)}
    d, w, b = report["drip_server"], report["dead_webhook"], report["long_article_batch"]
    print(f"one byte a second: gave up after {d['seconds']} s (total deadline {d['deadline']:g} s, "
          f"{d['retries']} retries allowed): {d['outcome']}")
    print(f"5 articles, webhook that never answers: +{w['extra_seconds']} s ({w['seconds']})")
    print(f"100 documents with one of {b['long_chars']:,} characters: {b['stored']} stored in {b['seconds']} s, "
          f"the long one with {b['long_events']} events; failures: {b['failures'] or 'none'}")
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
