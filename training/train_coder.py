"""Train the shipped PLOVER head (``src/tidings/models/plover``) — one reproducible command:

    .venv/bin/python training/train_coder.py [--gsr ../shared/eval/events/plover_gsr_dev.jsonl] [--folds 5]

Training rows, all with a licence that allows shipping weights trained on them (see docs/model-card.md):
- ``training/corpus/*.jsonl`` rows with a ``label``: English Wikinews sentences (CC BY 2.5) annotated by the
  project, pre-labelled by the rule coder and checked row by row (``checked_by``);
- the PLOVER gold-standard records, dev half (CC BY-SA 4.0, Open Event Data Alliance), when ``--gsr`` exists;
- the project's own must/must-not cases (``tests/data/cases.jsonl``): the first ``must`` type, or NONE.
Never trained on: ``plv_train_dev.jsonl`` and CASE 2021 (no licence; for measuring only).

Writes the head and ``cv.json`` (out-of-fold scores per set, reliability before/after calibration).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "training" / "corpus"
#: Corpus files whose labels are not PLOVER (checked: PETRARCH's unit tests use test-dictionary codes).
EXCLUDED = {"petrarch_unittests.jsonl"}


def corpus_rows() -> list[dict]:
    rows = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        if path.name in EXCLUDED or path.name.endswith("_raw.jsonl"):
            continue
        for line in path.read_text("utf-8").splitlines():
            r = json.loads(line)
            if r.get("label") and r.get("checked_by"):
                rows.append({"id": r["id"], "text": r["text"], "label": r["label"], "group": r.get("doc") or r["id"],
                             "set": "wikinews", "file": path.name})
    return rows


def gsr_rows(path: Path) -> list[dict]:
    if not path.exists():
        print(f"note: {path} not found; training without the PLOVER GSR dev half", file=sys.stderr)
        return []
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [{"id": r["id"], "text": r["text"], "label": r["label"], "group": r["text"], "set": "gsr"} for r in rows]


def case_rows(path: Path = ROOT / "tests" / "data" / "cases.jsonl") -> list[dict]:
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [{"id": r["id"], "text": r["text"], "label": r["must"][0]["type"] if r["must"] else "NONE",
             "group": r["id"], "set": "cases"} for r in rows]


THRESHOLDS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)


#: Sets labelled with acts (training/ANNOTATION.md: "will release" is RETREAT, future); the others (the GSR,
#: the project's cases) carry the strict-PLOVER code the pipeline gives after its intent step.
ACT_LABELLED = {"wikinews"}


def final(o: dict, type_: str) -> str:
    """``type_`` as the pipeline codes it after the intent step recoded this row's acts (tidings.stages.intent)."""
    return o.get("recode", {}).get(type_, type_)


def gold_of(o: dict) -> str:
    """The row's gold label in the pipeline's coding: act labels are recoded as the pipeline recodes them."""
    return final(o, o["gold"]) if o.get("set") in ACT_LABELLED else o["gold"]


def apply_policy(o: dict, p: float, drop: float, retype: float, add: float) -> str:
    """What the pipeline would code for one out-of-fold row (the pipeline's own rule, ``coder.decide``, then
    the intent step)."""
    from tidings.stages.coder import NONE, decide

    return final(o, decide(None if o["rule"] == NONE else o["rule"], o["predicted"], p, drop, retype, add))


def choose_policy(report) -> tuple[dict, dict]:  # type: ignore[no-untyped-def]
    """Thresholds (on calibrated probability) for dropping, retyping and adding events, chosen by the
    out-of-fold accuracy of the decisions the pipeline makes with them — on training rows, never on a
    measuring set."""
    import numpy as np

    xs, ys = report.head.calibration
    probs = [float(np.interp(o["probability"], xs, ys)) for o in report.oof]
    best, best_acc = (0.5, 0.5, 0.6), -1.0
    for drop in THRESHOLDS:
        for retype in THRESHOLDS:
            for add in THRESHOLDS:
                right = sum(apply_policy(o, p, drop, retype, add) == gold_of(o) for o, p in zip(report.oof, probs))
                if right > best_acc:
                    best, best_acc = (drop, retype, add), right
    drop, retype, add = best
    by_set: dict[str, list[bool]] = {}
    for o, p in zip(report.oof, probs):
        by_set.setdefault(o.get("set", "all"), []).append(apply_policy(o, p, drop, retype, add) == gold_of(o))
    print(f"policy: drop ≥ {drop}, retype ≥ {retype}, add ≥ {add}: out-of-fold accuracy "
          f"{best_acc / len(report.oof):.4f}", file=sys.stderr)
    return ({"drop": drop, "retype": retype, "add": add},
            {name: round(sum(v) / len(v), 4) for name, v in by_set.items()})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gsr", type=Path, default=ROOT.parent / "shared" / "eval" / "events" / "plover_gsr_dev.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "tidings" / "models" / "plover")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("-C", type=float, default=None, help="default: chosen by cross-validation")
    parser.add_argument("--oof", type=Path, default=None,
                        help="out-of-fold probabilities of a fine-tuned encoder (finetune_encoder.py --cv): the head "
                             "reads that encoder's 'plover' output instead of the sentence embedding")
    args = parser.parse_args()

    from tidings.train import train_head

    rows = corpus_rows() + gsr_rows(args.gsr) + case_rows()
    print(f"{len(rows)} rows: {dict(Counter(r['set'] for r in rows))}")
    print(f"labels: {dict(Counter(r['label'] for r in rows).most_common())}")
    vectors, output = None, "embedding"
    if args.oof:
        import numpy as np

        saved = np.load(args.oof)
        by_row = {str(i): p for i, p in zip(saved["ids"], saved["probs"], strict=True)}
        missing = [r["id"] for r in rows if r["id"] not in by_row]
        if missing:
            raise SystemExit(f"{args.oof} has no out-of-fold probabilities for {len(missing)} rows, e.g. {missing[:3]}")
        vectors, output = np.stack([by_row[r["id"]] for r in rows]), "plover"
    report = train_head(rows, rules=True, folds=args.folds, c=args.C, vectors=vectors, encoder_output=output, meta={
        "name": "plover", "sources": dict(Counter(r["set"] for r in rows)),
        "label_counts": dict(Counter(r["label"] for r in rows).most_common())},
        progress=lambda what, n: print(f"  {what} {n}", file=sys.stderr))
    by_id = {r["id"]: r for r in rows}
    for o in report.oof:
        o["set"] = by_id[o["id"]]["set"]
    per_set: dict[str, dict] = {}
    for name in sorted({r["set"] for r in rows}):
        oof = [o for o in report.oof if by_id[o["id"]]["set"] == name]
        model_right = sum(gold_of(o) == final(o, o["predicted"]) for o in oof)
        rule_right = sum(gold_of(o) == final(o, o["rule"]) for o in oof)
        per_set[name] = {"n": len(oof), "learned_accuracy": round(model_right / max(len(oof), 1), 4),
                         "rules_accuracy": round(rule_right / max(len(oof), 1), 4)}
    report.head.policy, policy_scores = choose_policy(report)
    for name, row in per_set.items():
        row["pipeline_policy_accuracy"] = policy_scores.get(name)
    report.head.meta["cv_per_set"] = per_set
    report.head.save(args.out)
    cv = {k: v for k, v in report.scores.items()}
    cv["per_set"] = per_set
    (args.out / "cv.json").write_text(json.dumps(cv, indent=1) + "\n", "utf-8")
    print(json.dumps({k: cv[k] for k in ("accuracy", "macro_f1", "weighted_f1", "per_set")}, indent=1))
    print("reliability (raw):", report.scores["reliability_raw"]["ece"],
          "calibrated:", report.scores.get("reliability_calibrated", {}).get("ece"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
