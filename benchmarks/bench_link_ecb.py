"""Cross-document linking on real reporting nobody here wrote: ECB+ (``../shared/eval/linking``).

    python benchmarks/bench_link_ecb.py                  # event topics, test topics 36-45, all topics
    python benchmarks/bench_link_ecb.py --topics events --json   # conflict, protest, politics and crime
    python benchmarks/bench_link_ecb.py --topics 36-45   # the standard test topics

What it does: analyses the ECB+ documents with tidings (the analyses are cached outside the repository,
``--cache``, because linking is what is measured and analysis is the slow part), stores and links them, then
aligns tidings' events to the gold event mentions of the evaluated sentences by span (an event's trigger
overlaps the mention) and scores tidings' clusters over the aligned mentions:

* MUC, B³, CEAF-e and CoNLL F1 (their mean), the measures ECB+ results are reported in;
* ``cross_subtopic``: how often two different real-world events of one topic (its ECB and ECB+ halves)
  are merged — the share of linked cross-document pairs whose documents come from the two halves;
* two references computed on the same aligned mentions: every mention alone (singletons) and a
  lemma-style baseline (same trigger word within a topic half — note: it is told the subtopic, which is
  gold knowledge tidings does not get).

The published lemma baseline (CoNLL F1 76.4) clusters *all* gold mentions of the test topics with gold
topics given; tidings clusters only the events it codes (PLOVER types; reporting verbs, celebrity rehab,
sports and product launches are mostly not events to it), across all topics at once, with no topic given.
The figures are therefore not directly comparable: read them as "how well does tidings group what it codes".

The texts stay in ``../shared`` (evaluation only); nothing of them is written into the project.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "eval" / "linking" / "ecbplus.jsonl"
CACHE = Path(tempfile.gettempdir()) / "tidings-ecbplus-analyses.jsonl"
# The README's suggested subset: conflict, protest, politics, violence, crime and justice.
EVENT_TOPICS = (3, 8, 11, 12, 16, 18, 19, 21, 22, 26, 32, 33, 36, 41, 45)


def topics_of(spec: str) -> set[int] | None:
    if spec == "all":
        return None
    if spec == "events":
        return set(EVENT_TOPICS)
    out: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def load(path: Path, topics: set[int] | None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [r for r in rows if topics is None or r["topic"] in topics]


def analyses(rows: list[dict[str, Any]], cache: Path, fresh: bool) -> dict[str, Any]:
    """ECB document name → Analysis, analysing only documents not in the cache."""
    from tidings.core.records import Analysis, Document

    done: dict[str, Any] = {}
    if cache.exists() and not fresh:
        for line in cache.read_text("utf-8").splitlines():
            item = json.loads(line)
            done[item["doc"]] = Analysis.model_validate(item["analysis"])
    todo = [r for r in rows if r["doc"] not in done]
    if todo:
        from tidings.pipeline import Engine

        engine = Engine()
        docs = [Document.from_text(r["text"], meta={"ecb": r["doc"]}) for r in todo]
        start = time.perf_counter()
        with cache.open("a", encoding="utf-8") as out:
            for row, analysis in zip(todo, engine.analyze_many(docs), strict=True):
                done[row["doc"]] = analysis
                out.write(json.dumps({"doc": row["doc"], "analysis": json.loads(analysis.model_dump_json())}) + "\n")
        print(f"analysed {len(todo)} documents in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return {r["doc"]: done[r["doc"]] for r in rows}


# ------------------------------------------------------------------------------------------------ scoring

def muc(key: list[set[Any]], response: list[set[Any]]) -> tuple[float, float, float]:
    def recall(k: list[set[Any]], r: list[set[Any]]) -> float:
        where = {m: i for i, c in enumerate(r) for m in c}
        num = den = 0
        for c in k:
            parts = {where.get(m, ("alone", m)) for m in c}
            num += len(c) - len(parts)
            den += len(c) - 1
        return num / den if den else 0.0
    rec, prec = recall(key, response), recall(response, key)
    return rec, prec, _f(rec, prec)


def b_cubed(key: list[set[Any]], response: list[set[Any]]) -> tuple[float, float, float]:
    k_of = {m: c for c in key for m in c}
    r_of = {m: c for c in response for m in c}
    mentions = list(k_of)
    rec = sum(len(k_of[m] & r_of[m]) / len(k_of[m]) for m in mentions) / len(mentions)
    prec = sum(len(k_of[m] & r_of[m]) / len(r_of[m]) for m in mentions) / len(mentions)
    return rec, prec, _f(rec, prec)


def ceaf_e(key: list[set[Any]], response: list[set[Any]]) -> tuple[float, float, float]:
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    sim = np.zeros((len(key), len(response)))
    r_index: dict[Any, int] = {m: j for j, c in enumerate(response) for m in c}
    for i, c in enumerate(key):
        for m in c:
            j = r_index[m]
            sim[i, j] += 1
    for i, c in enumerate(key):
        for j in {r_index[m] for m in c}:
            sim[i, j] = 2 * sim[i, j] / (len(c) + len(response[j]))
    rows, cols = linear_sum_assignment(-sim)
    total = sim[rows, cols].sum()
    rec, prec = total / len(key), total / len(response)
    return rec, prec, _f(rec, prec)


def _f(r: float, p: float) -> float:
    return 2 * r * p / (r + p) if r + p else 0.0


def scores(key: list[set[Any]], response: list[set[Any]]) -> dict[str, float]:
    out = {}
    for name, fn in (("muc", muc), ("b3", b_cubed), ("ceafe", ceaf_e)):
        r, p, f = fn(key, response)
        out.update({f"{name}_r": r, f"{name}_p": p, f"{name}_f1": f})
    out["conll_f1"] = (out["muc_f1"] + out["b3_f1"] + out["ceafe_f1"]) / 3
    return {k: round(100 * v, 1) for k, v in out.items()}


def _groups(assign: dict[Any, Any]) -> list[set[Any]]:
    out: dict[Any, set[Any]] = defaultdict(set)
    for m, c in assign.items():
        out[c].add(m)
    return list(out.values())


# ------------------------------------------------------------------------------------------------ alignment

def align(rows: list[dict[str, Any]], done: dict[str, Any]) -> dict[tuple[str, int], str]:
    """(ECB doc, mention start) → tidings event id, for gold mentions of evaluated sentences whose span a
    coded event's trigger overlaps (the biggest overlap wins)."""
    out: dict[tuple[str, int], str] = {}
    for row in rows:
        events = done[row["doc"]].events
        for mention in row["events"]:
            if not mention["selected"]:
                continue
            best, overlap = None, 0
            for event in events:
                trigger = event.evidence.get("trigger")
                if trigger is None:
                    continue
                size = min(trigger.end, mention["end"]) - max(trigger.start, mention["start"])
                if size > overlap:
                    best, overlap = event.id, size
            if best is not None:
                out[(row["doc"], mention["start"])] = best
    return out


def evaluate(rows: list[dict[str, Any]], done: dict[str, Any], cluster_of: dict[str, str]) -> dict[str, Any]:
    aligned = align(rows, done)
    gold = {(r["doc"], m["start"]): m for r in rows for m in r["events"] if m["selected"]}
    part_of = {r["doc"]: (r["topic"], r["part"]) for r in rows}
    key = _groups({m: gold[m]["cluster"] for m in aligned})
    system = _groups({m: cluster_of.get(e, e) for m, e in aligned.items()})
    singletons = [{m} for m in aligned]
    lemma = _groups({m: (*part_of[m[0]], gold[m]["text"].lower().split()[0]) for m in aligned})
    pairs = Counter()
    for group in system:
        ms = sorted(group)
        for i, a in enumerate(ms):
            for b in ms[i + 1:]:
                if a[0] == b[0]:
                    continue
                same_gold = gold[a]["cluster"] == gold[b]["cluster"]
                (ta, pa), (tb, pb) = part_of[a[0]], part_of[b[0]]
                pairs["linked"] += 1
                pairs["correct"] += same_gold
                pairs["cross_subtopic"] += ta == tb and pa != pb
                pairs["cross_topic"] += ta != tb
    gold_pairs = sum(1 for group in key for a in group for b in group if a < b and a[0] != b[0])
    n_events = sum(len(done[r["doc"]].events) for r in rows)
    return {
        "documents": len(rows), "gold_mentions": len(gold), "events_coded": n_events,
        "aligned_mentions": len(aligned), "aligned_share": round(100 * len(aligned) / max(1, len(gold)), 1),
        "gold_clusters_aligned": len(key), "system_clusters_aligned": len(system),
        "tidings": scores(key, system), "singletons": scores(key, singletons), "lemma_per_subtopic": scores(key, lemma),
        "cross_doc_pairs_linked": pairs["linked"],
        "cross_doc_pair_precision": round(100 * pairs["correct"] / max(1, pairs["linked"]), 1),
        "cross_doc_pair_recall": round(100 * pairs["correct"] / max(1, gold_pairs), 1),
        "cross_subtopic_share": round(100 * pairs["cross_subtopic"] / max(1, pairs["linked"]), 1),
        "cross_topic_share": round(100 * pairs["cross_topic"] / max(1, pairs["linked"]), 1),
    }


def link_all(done: dict[str, Any], directory: Path) -> tuple[dict[str, str], float]:
    from tidings.across import link
    from tidings.store.database import Store

    store = Store(f"sqlite:///{directory / 'ecb.db'}")
    items = list(done.values())
    store.save_many(items)
    start = time.perf_counter()
    link.link_documents(store, [a.document.id for a in items])
    seconds = time.perf_counter() - start
    with store.read() as conn:
        found = link.clusters_of(conn, [e.id for a in items for e in a.events])
    store.close()
    return found, seconds


def run(topics: set[int] | None, cache: Path, fresh: bool = False) -> dict[str, Any]:
    rows = load(DATA, topics)
    done = analyses(rows, cache, fresh)
    with tempfile.TemporaryDirectory() as tmp:
        cluster_of, seconds = link_all(done, Path(tmp))
    result = evaluate(rows, done, cluster_of)
    result["link_seconds"] = round(seconds, 2)
    return result


def _print(name: str, result: dict[str, Any]) -> None:
    print(f"{name}: {result['documents']} documents, {result['gold_mentions']} gold mentions in evaluated "
          f"sentences, {result['events_coded']} events coded, {result['aligned_mentions']} mentions aligned "
          f"({result['aligned_share']}%) in {result['gold_clusters_aligned']} gold clusters")
    for who in ("tidings", "singletons", "lemma_per_subtopic"):
        s = result[who]
        print(f"  {who:20s} MUC {s['muc_f1']:5.1f}  B3 {s['b3_f1']:5.1f} (R {s['b3_r']:5.1f} P {s['b3_p']:5.1f})  "
              f"CEAF-e {s['ceafe_f1']:5.1f}  CoNLL {s['conll_f1']:5.1f}")
    print(f"  cross-document pairs linked {result['cross_doc_pairs_linked']}: precision "
          f"{result['cross_doc_pair_precision']}%, recall {result['cross_doc_pair_recall']}%; two events of one "
          f"topic merged in {result['cross_subtopic_share']}% of them, other topics in "
          f"{result['cross_topic_share']}% (linking {result['link_seconds']} s)")
    if result["topics"] == "36-45":
        print("  published on these topics (gold mentions, all of them, gold topics given): lemma baseline CoNLL 76.4, "
              "lemma + cross-encoder 81.7 — not comparable: tidings clusters only the mentions it codes, across all "
              "topics at once, without being told the topic")


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topics", action="append", help="events, all, or e.g. 36-45 or 8,12,41 (repeatable; "
                        "default: events, the test topics 36-45, and all)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="analyses cache (outside the repository)")
    parser.add_argument("--fresh", action="store_true", help="analyse again, ignoring the cache")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not DATA.exists():
        print(f"ECB+ not found at {DATA} (see ../shared/eval/linking/README.md)", file=sys.stderr)
        return 2
    if args.fresh and args.cache.exists():
        args.cache.unlink()
    results = []
    for spec in args.topics or ["events", "36-45", "all"]:
        result = run(topics_of(spec), args.cache)
        result["topics"] = spec
        result["date"] = dt.date.today().isoformat()
        results.append(result)
        if not args.json:
            _print(f"ECB+ topics {spec}", result)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
