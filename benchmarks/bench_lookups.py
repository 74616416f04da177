"""Micro-timings of the lookups every document pays for: dictionary and gazetteer loading, actor and place
resolution, the date grammar, and the gazetteer's spaCy EntityRuler build.

Run: ``python benchmarks/bench_lookups.py``. These were timed assertions in the tests once; the house rule
is that speed is a benchmark's goal, reported in ``docs/benchmarks.md``, never a pass/fail in the suite
(a loaded machine is not a broken program). Budgets printed beside each figure are the old test bounds.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time


def _per_call(fn, calls: int, rounds: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for i in range(calls):
            fn(i)
        times.append((time.perf_counter() - started) / calls)
    return statistics.median(times)


def main() -> int:
    import spacy

    from tidings.stages.actors import DEFAULT_DATA_DIR, ActorDictionary, _load_cached
    from tidings.stages.places import Gazetteer
    from tidings.stages.time import resolve

    started = time.perf_counter()
    _load_cached.__wrapped__(DEFAULT_DATA_DIR)
    print(f"actor dictionary load: {time.perf_counter() - started:.3f} s (budget 1.0 s)")
    actors = ActorDictionary.load()
    phrases = ["three Iranian officials", "Assad's government", "the Syrian army", "rebels", "Iran"]
    per = _per_call(lambda i: actors.resolve(phrases[i % len(phrases)], context_country="SYR"), 5000)
    print(f"actor resolve: {per * 1e6:.1f} µs per phrase (budget 200 µs)")

    gaz = Gazetteer.open()
    started = time.perf_counter()
    Gazetteer(gaz.path)
    print(f"gazetteer open (index built): {time.perf_counter() - started:.3f} s (budget 0.05 s)")
    names = ["Damascus", "Georgia", "Paris", "Deir ez-Zor", "Idlib province"]
    per = _per_call(lambda i: gaz.resolve(names[i % len(names)]), 1000)
    print(f"gazetteer resolve (warm): {per * 1e6:.1f} µs per name (budget 50 µs)")

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    patterns = gaz.entity_patterns()
    started = time.perf_counter()
    ruler.add_patterns(patterns)  # type: ignore[attr-defined]
    print(f"EntityRuler build, {len(patterns)} patterns: {time.perf_counter() - started:.2f} s (budget 1.5 s)")

    expressions = ["on Friday morning", "December 6", "last week", "in just over a week", "since March",
                   "from 2 to 5 March", "two days ago", "Dec. 6, 2024"]
    base = dt.date(2024, 1, 1)
    per = _per_call(lambda i: resolve(expressions[i % len(expressions)], base + dt.timedelta(days=i % 97 + 1)), 800)
    print(f"date rule resolve: {per * 1e6:.1f} µs per expression (budget 1000 µs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
