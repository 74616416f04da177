"""Training heads for the learned layer (``tidings train``): any label set, k-fold scores, calibration.

A head is a logistic regression (scikit-learn, ``tidings[train]``) over the packaged encoder's sentence
vectors, optionally stacked with the rule coder's outputs (``rules=True``: the candidate event's type, the
types the rules found in the text, and "the rules found nothing"). Cross-validation gives out-of-fold
predictions; those give the reported scores, the reliability table and the isotonic calibration curve, so a
head's probabilities mean "right that often" on text it did not see. The final head is fit on all rows.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from tidings.core.errors import TidingsError
from tidings.stages.coder import NONE, Head, isotonic_curve, plover_types, reliability, shared_encoder

if TYPE_CHECKING:
    import numpy as np

    from tidings.pipeline import Engine

__all__ = ["RuleCoding", "TrainReport", "read_gold", "rule_outputs", "train_head"]

TRAIN_FAILED = "E502"


class TrainError(TidingsError):
    """Training data or options that cannot give a head."""


@dataclass
class TrainReport:
    head: Head
    scores: dict[str, Any]           # out-of-fold: accuracy, macro/weighted F1, per label, reliability
    oof: list[dict[str, Any]]        # one row per training row: id, gold, predicted, probability


def read_gold(path: Path | str, label: str = "label", text: str = "text") -> list[dict[str, Any]]:
    """Rows of a JSONL file that have a non-empty ``text`` and ``label`` field."""
    rows = []
    with Path(path).open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TrainError(f"{path}:{number}: not JSON ({exc.msg})", code=TRAIN_FAILED) from exc
            if not isinstance(row, dict) or not row.get(text) or row.get(label) in (None, ""):
                continue
            rows.append({"id": str(row.get("id", number)), "text": str(row[text]), "label": str(row[label]),
                         "group": str(row.get("doc") or row.get("group") or row.get("id", number)),
                         "set": row.get("set")})
    if not rows:
        raise TrainError(f"{path}: no rows with both {text!r} and {label!r}", code=TRAIN_FAILED)
    return rows


class RuleCoding(NamedTuple):
    """What the rule coder made of one text, as the learned layer sees it: the acts before the strict-PLOVER
    intent step (:mod:`tidings.stages.intent`), and how that step recoded them (act type → code)."""

    top: str | None                 # the most confident event's type
    types: list[str]                # every type found
    recoded: dict[str, str]         # e.g. {"RETREAT": "AGREE"} for "will release"


def rule_outputs(texts: Sequence[str], engine: Engine | None = None) -> list[RuleCoding]:
    """For each text, analysed alone by the rule coder: what the learned layer reads (:class:`RuleCoding`).
    The layer judges events before the intent step recodes promises and refusals, so the acts are reported
    (``why["intended"]``), and the recoding beside them."""
    from tidings.core.records import Document
    from tidings.core.settings import Settings
    from tidings.pipeline import Engine

    engine = engine or Engine(Settings(coder_mode="rules"))
    out: list[RuleCoding] = []
    documents = [Document.from_text(t) for t in texts]
    for analysis in engine.analyze_many(documents):
        events = sorted(analysis.events, key=lambda e: -e.confidence)
        acts = [str((e.why.get("intended") or {}).get("type") or e.type) for e in events]
        recoded = {act: e.type for act, e in zip(acts, events, strict=True) if act != e.type}
        out.append(RuleCoding(acts[0] if acts else None, sorted(set(acts)), recoded))
    return out


def _folds(labels: Sequence[str], groups: Sequence[str], k: int, seed: int) -> list[np.ndarray]:
    """Test indices of ``k`` folds, stratified by label and keeping each group (article) in one fold."""
    import numpy as np
    from sklearn.model_selection import StratifiedGroupKFold

    counts = Counter(labels)
    strat = [lab if counts[lab] >= k else "__rare__" for lab in labels]
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [test for _, test in splitter.split(np.zeros(len(labels)), strat, groups)]


def _fit(features: np.ndarray, labels: Sequence[str], c: float, seed: int,
         balanced: bool = False) -> tuple[list[str], Any]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced" if balanced else None, random_state=seed)
    model.fit(features, list(labels))
    return [str(x) for x in model.classes_], model


#: Regularisation strengths tried when none is given: the one with the best out-of-fold weighted F1 is kept.
C_GRID = (1.0, 4.0, 16.0, 64.0)


def train_head(rows: Sequence[Mapping[str, Any]], *, rules: bool = True, folds: int = 5, c: float | None = None,
               seed: int = 13, rule_types: Sequence[str] | None = None, engine: Engine | None = None,
               evaluate_only: Sequence[bool] | None = None, meta: Mapping[str, Any] | None = None,
               vectors: np.ndarray | None = None, encoder_output: str = "embedding",
               balanced: bool | None = False, progress: Any = None) -> TrainReport:
    """Fit a head on ``rows`` (``id``, ``text``, ``label``, ``group``); ``folds`` ≥ 2 also cross-validates.

    ``evaluate_only`` marks rows scored in cross-validation; the others are always in training (a gold set
    folded while the project's own corpus trains every fold). ``rule_types`` fixes the rule-feature vocabulary
    (default: the PLOVER types). ``vectors`` replaces the encoder's output for the rows (e.g. out-of-fold
    probabilities of a fine-tuned encoder, ``encoder_output="plover"``). ``c=None`` picks the regularisation
    from :data:`C_GRID` by out-of-fold weighted F1 (the reported scores are then those of the chosen C).
    ``balanced`` weights classes inversely to their frequency (many small classes: CASE's 30 labels);
    ``None`` lets the same cross-validation choose, with C.
    """
    import numpy as np

    from tidings.core.extras import require

    require("sklearn", "train", "Training a head", code=TRAIN_FAILED, error=TrainError)
    texts = [r["text"] for r in rows]
    labels = [r["label"] for r in rows]
    groups = [r.get("group") or r["id"] for r in rows]
    if len(set(labels)) < 2:
        raise TrainError("training needs at least two distinct labels", code=TRAIN_FAILED)
    if rule_types is None and rules:
        rule_types = plover_types()
    if vectors is None:
        vectors = shared_encoder().encode(texts, encoder_output)
    if progress:
        progress("encoded", len(texts))
    head = Head(labels=[], weights=np.zeros((0, 0)), bias=np.zeros(0), rule_types=list(rule_types or []),
                input=encoder_output)
    if rules:
        outputs = rule_outputs(texts, engine)
        candidates = [o.top for o in outputs]
        found = [o.types for o in outputs]
        recodes = [o.recoded for o in outputs]
    else:
        candidates, found, recodes = [None] * len(texts), [[] for _ in texts], [{} for _ in texts]
    features = head.features(vectors, candidates, found)

    oof: list[dict[str, Any]] = []
    scores: dict[str, Any] = {"rows": len(rows), "labels": dict(Counter(labels).most_common())}
    if folds >= 2:
        scored = np.array(evaluate_only if evaluate_only is not None else [True] * len(rows))
        idx_scored = np.flatnonzero(scored)
        test_sets = [idx_scored[t] for t in _folds([labels[i] for i in idx_scored], [groups[i] for i in idx_scored],
                                                   min(folds, len(idx_scored)), seed)]
        # (C, balanced) → (scores, out-of-fold rows)
        tried: dict[tuple[float, bool], tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        for value in ([c] if c is not None else C_GRID):
            for weigh in ([balanced] if balanced is not None else [False, True]):
                run = _out_of_fold(features, labels, test_sets, value, seed, rows, candidates, weigh, recodes)
                tried[value, weigh] = (_oof_scores(run, folds), run)
                if progress:
                    progress(f"C={value:g}{' balanced' if weigh else ''}: out-of-fold weighted F1",
                             round(tried[value, weigh][0]["weighted_f1"], 4))
        c, balanced = max(tried, key=lambda key: tried[key][0]["weighted_f1"])
        best_scores, oof = tried[c, balanced]
        scores.update(best_scores)
        scores["C"] = c
        scores["class_weight"] = "balanced" if balanced else None
        scores["C_tried"] = {f"{k[0]:g}{' balanced' if k[1] else ''}": round(v[0]["weighted_f1"], 4)
                             for k, v in tried.items()}
    c = c if c is not None else 4.0
    balanced = bool(balanced)
    classes, model = _fit(features, labels, c, seed, balanced)
    head.labels = classes
    head.weights = model.coef_.T.astype(np.float32) if len(classes) > 2 else \
        np.hstack([-model.coef_.T, model.coef_.T]).astype(np.float32) / 2
    head.bias = model.intercept_.astype(np.float32) if len(classes) > 2 else \
        np.array([-model.intercept_[0], model.intercept_[0]], dtype=np.float32) / 2
    if oof:
        head.calibration = isotonic_curve([o["probability"] for o in oof], [o["gold"] == o["predicted"] for o in oof])
        scores["reliability_calibrated"] = _cross_calibrated(oof)
    head.meta = {"name": (meta or {}).get("name", "head"), "trained_rows": len(rows), "regularisation_C": c,
                 "class_weight": "balanced" if balanced else None,
                 "folds": folds, "data_sha1": hashlib.sha1("\n".join(
                     f"{t}\t{lab}" for t, lab in zip(texts, labels, strict=True)).encode()).hexdigest()[:16],
                 "cv": {k: v for k, v in scores.items() if k in ("accuracy", "macro_f1", "weighted_f1", "n")},
                 **{k: v for k, v in (meta or {}).items() if k != "name"}}
    return TrainReport(head=head, scores=scores, oof=oof)


def _out_of_fold(features: np.ndarray, labels: Sequence[str], test_sets: Sequence[np.ndarray], c: float,
                 seed: int, rows: Sequence[Mapping[str, Any]], candidates: Sequence[str | None],
                 balanced: bool = False, recodes: Sequence[Mapping[str, str]] | None = None) -> list[dict[str, Any]]:
    """Predictions for each test fold by a head fit on every other row (``recode``: how the intent step
    recoded the rules' acts in that row, for scoring the pipeline's final codes)."""
    import numpy as np

    oof = []
    for number, test in enumerate(test_sets):
        train_mask = np.ones(len(labels), dtype=bool)
        train_mask[test] = False
        classes, model = _fit(features[train_mask], [labels[int(i)] for i in np.flatnonzero(train_mask)], c, seed,
                              balanced)
        for row_index, p in zip((int(i) for i in test), model.predict_proba(features[test]), strict=True):
            best = int(p.argmax())
            oof.append({"id": rows[row_index]["id"], "gold": labels[row_index], "predicted": classes[best],
                        "probability": float(p[best]), "rule": candidates[row_index] or NONE, "fold": number,
                        "recode": dict(recodes[row_index]) if recodes is not None else {}})
    return oof


def _cross_calibrated(oof: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Reliability of calibrated probabilities measured honestly: the curve applied to odd folds is fit on
    even folds and the other way round, so no row is judged by a curve fit on it."""
    import numpy as np

    calibrated: list[float] = []
    correct: list[bool] = []
    for parity in (0, 1):
        fit = [o for o in oof if o["fold"] % 2 != parity]
        apply = [o for o in oof if o["fold"] % 2 == parity]
        if not fit or not apply:
            continue
        curve = isotonic_curve([o["probability"] for o in fit], [o["gold"] == o["predicted"] for o in fit])
        calibrated += [float(np.interp(o["probability"], *curve)) for o in apply]
        correct += [o["gold"] == o["predicted"] for o in apply]
    return reliability(calibrated, correct)


def _oof_scores(oof: Sequence[Mapping[str, Any]], folds: int) -> dict[str, Any]:
    from tidings.evaluation.scores import label_scores

    pairs = [(o["gold"], o["predicted"]) for o in oof]
    scores = label_scores(pairs)
    correct = [o["gold"] == o["predicted"] for o in oof]
    return {"folds": folds, "n": len(oof), "accuracy": scores["accuracy_micro_f1"], "macro_f1": scores["macro_f1"],
            "weighted_f1": scores["weighted_f1"], "per_label": scores.get("per_label", {}),
            "reliability_raw": reliability([o["probability"] for o in oof], correct)}
