"""Toponym resolution only: given the gold place-name strings, how close does the gazetteer land?

Run: ``python benchmarks/bench_places.py [--eval-dir DIR] [--errors N]``.

For each article the gold toponym strings are resolved together, the way the pipeline does
(:func:`tidings.places.resolve_document`): first alone, then each again in the context of the
*other* toponyms' places, so a toponym never votes for itself. Gold coordinates are
GeoNames points; a toponym left unresolved counts as 20,038 km off (half the Earth's
circumference), as in ``score_geo.py``. Recognition is not scored here: see the end-to-end
geoparsing benchmark for that.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tidings.places import Gazetteer, resolve_document
from tidings.records import Place

DEFAULT_EVAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "eval" / "geo"
CORPORA = ("lgl", "tr_news")
MISS_KM = 20_038.0


@dataclass(frozen=True)
class Outcome:
    corpus: str
    article: str
    name: str
    gold_id: int | None
    error_km: float
    place: Place | None


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


def articles(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def evaluate(gaz: Gazetteer, corpus: str, path: Path) -> list[Outcome]:
    outcomes = []
    for article in articles(path):
        toponyms = article["toponyms"]
        places = resolve_document(gaz, [t["name"] for t in toponyms])
        for t, place in zip(toponyms, places, strict=True):
            if t["lat"] is None or t["lon"] is None:
                continue   # unresolved in the gold: counts for recognition only
            error = MISS_KM
            if place is not None and place.lat is not None and place.lon is not None:
                error = haversine_km(t["lat"], t["lon"], place.lat, place.lon)
            outcomes.append(Outcome(corpus, str(article["id"]), t["name"], t["geonameid"], error, place))
    return outcomes


def summary(outcomes: Sequence[Outcome]) -> dict[str, float]:
    """Metrics as ``score_geo.py`` computes them, for gold toponyms that have coordinates."""
    errors = [o.error_km for o in outcomes]
    with_id = [o for o in outcomes if o.gold_id]
    return {
        "toponyms": len(outcomes),
        "accuracy@161km": sum(e <= 161 for e in errors) / len(errors),
        "median_km": statistics.median(errors),
        "mean_km": statistics.fmean(errors),
        "geonameid_accuracy": sum(o.place is not None and o.place.geonameid == o.gold_id for o in with_id)
        / max(1, len(with_id)),
        "resolved": sum(o.place is not None for o in outcomes) / len(outcomes),
        # demonyms ("Russian") are gold toponyms in these corpora but no place names: this is
        # the accuracy where the gazetteer had an answer at all
        "accuracy@161km_resolved": sum(o.error_km <= 161 for o in outcomes if o.place is not None)
        / max(1, sum(o.place is not None for o in outcomes)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR)
    parser.add_argument("--cache-dir", type=Path, default=None, help="gazetteer cache (default: tidings cache)")
    parser.add_argument("--errors", type=int, default=0, help="print the N most frequent misses per corpus")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    gaz = Gazetteer.open(args.cache_dir)
    print(f"gazetteer open: {time.perf_counter() - started:.2f} s ({gaz.path})")
    for corpus in CORPORA:
        path = args.eval_dir / f"{corpus}.jsonl"
        if not path.exists():
            print(f"{corpus}: {path} not found, skipped", file=sys.stderr)
            continue
        started = time.perf_counter()
        outcomes = evaluate(gaz, corpus, path)
        elapsed = time.perf_counter() - started
        s = summary(outcomes)
        print(f"{corpus:8} n={s['toponyms']:5}  accuracy@161km={s['accuracy@161km']:.3f}  "
              f"median={s['median_km']:.0f} km  mean={s['mean_km']:.0f} km  "
              f"geonameid={s['geonameid_accuracy']:.3f}  resolved={s['resolved']:.3f}  "
              f"accuracy@161km of resolved={s['accuracy@161km_resolved']:.3f}  ({elapsed:.2f} s)")
        if args.errors:
            print_misses(outcomes, args.errors)
    return 0


def print_misses(outcomes: Sequence[Outcome], n: int) -> None:
    misses: dict[str, list[Outcome]] = {}
    for o in outcomes:
        if o.error_km > 161:
            misses.setdefault(o.name, []).append(o)
    for name, group in sorted(misses.items(), key=lambda kv: -len(kv[1]))[:n]:
        p = group[0].place
        got = f"{p.name} ({p.feature}, {p.country}, {p.admin1})" if p else "unresolved"
        print(f"   {len(group):3} × {name!r:28} → {got}, {group[0].error_km:.0f} km off (gold id {group[0].gold_id})")


if __name__ == "__main__":
    raise SystemExit(main())
