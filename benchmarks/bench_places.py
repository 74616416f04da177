"""Toponym resolution only: given the gold place-name strings, how close does the gazetteer land?

Run: ``python benchmarks/bench_places.py [--eval-dir DIR] [--errors N]``.

For each article the gold toponym strings are resolved together, the way the pipeline does
(:func:`tidings.stages.places.resolve_document`): first alone, then each again in the context of the
*other* toponyms' places, so a toponym never votes for itself. Gold coordinates are
GeoNames points; a toponym left unresolved counts as 20,038 km off (half the Earth's
circumference), as in ``score_geo.py``. Recognition is not scored here: see the end-to-end
geoparsing benchmark for that (``tidings eval geo``).

``--stages N`` also runs the whole pipeline over the first N articles of ≥ 100 words (LGL, then
TR-News) and prints each stage's share of the time: the places stage (toponym recognition and
resolution, :class:`tidings.stages.mentions.DocContext`) has a budget of 15 % (issue 13).

``--long 300000`` joins LGL articles into texts of a quarter, half and all of that many characters,
parses each once and times the places stage alone on them: its time per character should stay flat
(before issue 13's fix it grew with the length: every name re-summed the context of all others).

``--ablation`` parses LGL, TR-News and GeoVirus once, then re-runs only the places stage with each
recognition step of :mod:`tidings.stages.toponyms` switched off in turn (``TIDINGS_PLACE_STEPS_OFF``), and
prints exact-span recognition F1 and end-to-end accuracy@161 km per configuration, scored as
``tidings eval geo`` scores them: what each step buys.
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

from tidings.core.records import Place
from tidings.stages.places import Gazetteer, resolve_document

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
    parser.add_argument("--ablation", action="store_true", help="each recognition step off in turn (slow: parses)")
    parser.add_argument("--limit", type=int, default=None, help="--ablation: first N articles of each corpus")
    parser.add_argument("--long", type=int, default=0, metavar="CHARS",
                        help="time the places stage on one long text of CHARS characters (and 1/4, 1/2 of it)")
    parser.add_argument("--stages", type=int, default=0, metavar="N",
                        help="also time the pipeline's stages on N articles (places budget: 15 %%)")
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
    if args.long:
        long_documents(args.eval_dir, args.long)
    if args.ablation:
        ablation(args.eval_dir, args.limit)
    if args.stages:
        return stage_shares(args.eval_dir, args.stages)
    return 0


ABLATION_CORPORA = ("lgl", "tr_news", "geovirus")
NAMES_ONLY = frozenset({"geovirus"})   # gold sets whose guidelines mark no adjectival forms


def ablation(eval_dir: Path, limit: int | None) -> None:
    """Recognition F1 (exact) and end-to-end accuracy@161 km with each toponym step off in turn."""
    import os

    from tidings import evaluation
    from tidings.core.records import Analysis, Document
    from tidings.pipeline import Engine
    from tidings.stages.mentions import DocContext
    from tidings.stages.places import outlet_country
    from tidings.stages.toponyms import STEPS

    engine = Engine()
    parsed: dict[str, tuple[list[dict[str, Any]], list[Any]]] = {}
    for corpus in ABLATION_CORPORA:
        path = eval_dir / f"{corpus}.jsonl"
        if path.exists():
            gold = list(articles(path))[:limit]
            parsed[corpus] = (gold, list(engine.nlp.pipe((g["text"] for g in gold), batch_size=32)))
    configs = [("all steps", ""), *((f"without {step}", step) for step in STEPS), ("without outlet prior", "outlet"),
               ("spaCy entities only",
               ",".join(s for s in STEPS if s != "entities"))]
    print(f"{'configuration':28}" + "".join(f"{c + ' F1':>14}{c + ' e2e':>14}" for c in parsed))
    previous = os.environ.get("TIDINGS_PLACE_STEPS_OFF")
    try:
        for label, off in configs:
            os.environ["TIDINGS_PLACE_STEPS_OFF"] = off
            cells = []
            for corpus, (gold, docs) in parsed.items():
                predictions = []
                for g, doc in zip(gold, docs, strict=True):
                    ctx = DocContext.build(doc, None, "published", engine.actors, engine.gazetteer,
                                           outlet_country(url=g.get("url")) if "outlet" not in off else None)
                    analysis = Analysis(document=Document.from_text(g["text"]), mentions=ctx.mentions)
                    # GeoVirus marks place names only, never adjectival forms ("Canadian officials")
                    predictions.append(evaluation.geo_prediction(str(g["id"]), analysis,
                                                                 adjectives=corpus not in NAMES_ONLY))
                scores = evaluation.score_geo(gold, predictions)
                cells.append(f"{scores['recognition_exact']['f1']:14.3f}{scores['end_to_end_accuracy_at_161km']:14.3f}")
            print(f"{label:28}" + "".join(cells), flush=True)
    finally:
        if previous is None:
            os.environ.pop("TIDINGS_PLACE_STEPS_OFF", None)
        else:
            os.environ["TIDINGS_PLACE_STEPS_OFF"] = previous


def long_documents(eval_dir: Path, chars: int) -> None:
    """Seconds for the places stage on one text of ``chars`` characters, and on a quarter and half of it."""
    from tidings.pipeline import Engine
    from tidings.stages.mentions import DocContext

    texts = [a["text"] for a in articles(eval_dir / "lgl.jsonl")]
    joined = "\n\n".join(texts)
    while len(joined) < chars:
        joined += "\n\n" + joined
    engine = Engine()
    DocContext.build(engine.nlp(joined[:20_000]), None, "published", engine.actors, engine.gazetteer)   # warm-up
    for size in (chars // 4, chars // 2, chars):
        text = joined[:size]
        engine.nlp.max_length = max(engine.nlp.max_length, size + 1)
        doc = engine.nlp(text)
        started = time.perf_counter()
        ctx = DocContext.build(doc, None, "published", engine.actors, engine.gazetteer)
        seconds = time.perf_counter() - started
        print(f"places stage on {size:>8,} chars: {seconds:6.2f} s  {1e6 * seconds / size:6.1f} µs/char  "
              f"({sum(m.kind == 'place' for m in ctx.mentions)} places)", flush=True)


PLACES_BUDGET = 0.15


def stage_shares(eval_dir: Path, n: int) -> int:
    """Time every stage of the pipeline on ``n`` real articles; exit 1 when places exceed the budget."""
    from tidings.core.records import Document
    from tidings.pipeline import Engine

    texts: list[str] = []
    for corpus in CORPORA:
        path = eval_dir / f"{corpus}.jsonl"
        if path.exists():
            texts += [a["text"] for a in articles(path) if len(a["text"].split()) >= 100]
    documents = [Document.from_text(text) for text in texts[:n]]
    engine = Engine()
    list(engine.analyze_many(documents[:5]))   # warm-up: caches, lazy loads
    engine.timer.seconds.clear()
    started = time.perf_counter()
    list(engine.analyze_many(documents))
    wall = time.perf_counter() - started
    stages = dict(engine.timer.seconds)
    total = sum(stages.values()) or 1.0
    print(f"stages on {len(documents)} articles ({wall:.1f} s wall):")
    for name, seconds in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"  {name:12} {seconds:7.2f} s  {1000 * seconds / max(1, len(documents)):6.1f} ms/doc  "
              f"{seconds / total:5.1%}")
    share = stages.get("places", 0.0) / total
    verdict = "within" if share <= PLACES_BUDGET else "OVER"
    print(f"places share {share:.1%}: {verdict} the {PLACES_BUDGET:.0%} budget")
    return 0 if share <= PLACES_BUDGET else 1


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
