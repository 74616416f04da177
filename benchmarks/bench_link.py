"""Linking speed: build clusters for N synthetic events, then add documents one at a time on top.

    python benchmarks/bench_link.py              # 100k events (the goal: incremental add <= 5 ms/event)
    python benchmarks/bench_link.py 20000 --json

The corpus is shaped like a news stream: real-world events (a type, actors, a place, a day) over a year,
each reported by one to four documents from different outlets with the usual noise: an actor given at
country level (IRN for IRNMIL), a country instead of the town, no date, a denial, a syndicated copy.
Documents hold two events. Generation and storing are untimed; the clock covers linking only.

Reported: bulk linking (batches of 500 documents, as ``tidings link`` does after an import) and the
incremental case the goal is about: documents linked one per call (as the analyse hook does) on top of
the N already linked.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tidings.across import link
from tidings.core.records import Actor, Analysis, Document, Event, Place, Source, Span, When
from tidings.store.database import Store

TYPES = ["ASSAULT", "RETREAT", "CONSULT", "AID", "SUPPORT", "THREATEN", "ACCUSE", "PROTEST", "COERCE", "MOBILIZE"]
COUNTRIES = ["SYR", "IRN", "RUS", "UKR", "ISR", "LBN", "TUR", "USA", "IRQ", "YEM", "SDN", "ETH", "MLI", "AFG"]
SECTORS = ["GOV", "MIL", "REB"]
OUTLETS = ["Reuters", "AP", "AFP", "Al Jazeera", "BBC", "The New York Times", "RBK-Ukraine", "IRNA", "SANA",
           "Kyiv Independent", "Haaretz", "Anadolu"]
SPEAKERS = [("officials", True), ("the foreign ministry", False), ("a military spokesman", True),
            ("the Syrian Observatory for Human Rights", False), ("witnesses", True), ("the UN envoy", False)]
SPAN = Span(start=0, end=4, text="text")
DAY0 = dt.date(2024, 1, 1)


class World:
    """Real-world events and the documents reporting them."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.places = [Place(geonameid=200_000 + i, name=f"Town {i}", country="SY", country3=COUNTRIES[i % 14],
                             lat=self.rng.uniform(25, 50), lon=self.rng.uniform(25, 60)) for i in range(600)]
        self.countries = {c: Place(geonameid=300_000 + i, name=f"Country {c}", country=c[:2], country3=c,
                                   feature="country", lat=35.0, lon=40.0) for i, c in enumerate(COUNTRIES)}
        self.serial = 0

    def real_event(self) -> dict[str, Any]:
        rng = self.rng
        source, target = rng.sample(COUNTRIES, 2)
        return {"type": rng.choice(TYPES), "source": (source, rng.choice(SECTORS)), "target": target,
                "place": rng.choice(self.places), "day": rng.randrange(365)}

    def report(self, real: dict[str, Any], doc_id: str, n: int, chain: list[Source]) -> Event:
        """One document's account of a real event, with realistic noise."""
        rng = self.rng
        country, sector = real["source"]
        source = Actor(code=country if rng.random() < 0.2 else country + sector, name=f"{country} {sector}",
                       country=country, sector=None if rng.random() < 0.2 else sector)
        target = Actor(code=real["target"], name=real["target"], country=real["target"], kind="state")
        place = real["place"]
        if rng.random() < 0.1:
            place = self.countries[place.country3]
        when = When() if rng.random() < 0.15 else When(
            start=DAY0 + dt.timedelta(days=real["day"]), end=DAY0 + dt.timedelta(days=real["day"]), granularity="day")
        modality = rng.choices(["reported", "asserted", "negated", "historical"], [6, 3, 0.5, 0.5])[0]
        return Event(id=f"{doc_id}-{n}", doc_id=doc_id, type=real["type"], source_actor=source,
                     target_actor=target if rng.random() < 0.7 else None, place=place, when=when,
                     modality=modality, attribution=chain, confidence=rng.uniform(0.4, 0.95),  # type: ignore[arg-type]
                     evidence={"trigger": SPAN, "sentence": SPAN})

    def documents(self, n_events: int, reports_per_event: float = 2.5) -> list[Analysis]:
        """Documents of two events each, about n_events / reports_per_event real events."""
        rng = self.rng
        reals = [self.real_event() for _ in range(max(1, int(n_events / reports_per_event)))]
        reals.sort(key=lambda r: r["day"])      # a stream: documents arrive roughly in date order
        analyses = []
        for i in range(n_events // 2):
            centre = int(i / (n_events // 2) * len(reals))
            picks = [reals[min(len(reals) - 1, max(0, centre + rng.randrange(-50, 50)))] for _ in range(2)]
            self.serial += 1
            outlet = rng.choice(OUTLETS)
            speaker, anonymous = rng.choice(SPEAKERS)
            chain = [Source(name=outlet, kind="outlet"), Source(name=speaker, kind="official", anonymous=anonymous)]
            text = f"report {self.serial} by {outlet}: " + " ".join(rng.choice(OUTLETS) for _ in range(30))
            doc = Document.from_text(text, outlet=outlet, published=DAY0 + dt.timedelta(days=picks[0]["day"] + 1))
            events = [self.report(real, doc.id, n, chain) for n, real in enumerate(picks)]
            analyses.append(Analysis(document=doc, events=events))
        return analyses


def run(n_events: int, incremental_docs: int, directory: Path) -> dict[str, Any]:
    world = World()
    base = world.documents(n_events)
    extra = world.documents(incremental_docs * 2)
    store = Store(f"sqlite:///{directory / 'link.db'}")
    store.save_many(base + extra)
    base_ids = [a.document.id for a in base]

    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(base_ids), 500):
        link.link_documents(store, base_ids[i:i + 500])
    bulk_s, bulk_cpu = time.perf_counter() - start, time.process_time() - cpu
    bulk_events = sum(len(a.events) for a in base)

    per_event, cpu_per_event = [], []
    for analysis in extra:     # one document per call: the analyse hook's case
        t, c = time.perf_counter(), time.process_time()
        link.link_documents(store, [analysis.document.id])
        n = max(1, len(analysis.events))
        per_event.append((time.perf_counter() - t) * 1000 / n)
        cpu_per_event.append((time.process_time() - c) * 1000 / n)

    t = time.perf_counter()
    again = link.link_documents(store, [a.document.id for a in extra])
    relink_ms = (time.perf_counter() - t) * 1000 / len(extra)
    found = link.clusters(store, min_size=2, limit=None)
    with store.read() as conn:
        n_clusters = conn.scalar(link.sa.select(link.sa.func.count()).select_from(link.clusters_table))
    store.close()
    return {
        "events": bulk_events, "documents": len(base),
        "bulk_link_s": round(bulk_s, 2), "bulk_ms_per_event": round(bulk_s * 1000 / bulk_events, 3),
        "bulk_cpu_ms_per_event": round(bulk_cpu * 1000 / bulk_events, 3),
        "incremental_events": sum(len(a.events) for a in extra),
        "incremental_ms_per_event_median": round(statistics.median(per_event), 3),
        "incremental_ms_per_event_mean": round(statistics.fmean(per_event), 3),
        "incremental_ms_per_event_p95": round(sorted(per_event)[int(0.95 * len(per_event))], 3),
        "incremental_cpu_ms_per_event_mean": round(statistics.fmean(cpu_per_event), 3),
        "unchanged_relink_ms_per_document": round(relink_ms, 3), "unchanged": again.unchanged,
        "clusters": n_clusters, "multi_member_clusters": len(found),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("events", nargs="?", type=int, default=100_000)
    parser.add_argument("--incremental", type=int, default=500, help="documents added one at a time afterwards")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.events, args.incremental, Path(tmp))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"linked {result['events']:,} events ({result['documents']:,} documents) in {result['bulk_link_s']} s: "
              f"{result['bulk_ms_per_event']} ms/event in batches of 500 documents "
              f"({result['bulk_cpu_ms_per_event']} ms CPU)")
        print(f"incremental, one document at a time on top: median {result['incremental_ms_per_event_median']} "
              f"ms/event, mean {result['incremental_ms_per_event_mean']}, p95 {result['incremental_ms_per_event_p95']} "
              f"(CPU mean {result['incremental_cpu_ms_per_event_mean']}; goal <= 5 ms/event)")
        print(f"re-linking unchanged documents: {result['unchanged_relink_ms_per_document']} ms/document; "
              f"{result['clusters']:,} clusters, {result['multi_member_clusters']:,} with 2+ reports")
    return 0 if result["incremental_ms_per_event_median"] <= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
