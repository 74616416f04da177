"""Measured quality: score tidings against gold data (``tidings eval``, ``benchmarks/``).

Three tasks, each split into a *prediction* step (run the engine, turn each Analysis into one plain
JSON row) and a *scoring* step (pure functions over gold and prediction rows). The split is why the
scorers are testable without a spaCy model, why a prediction file can be re-scored with the standard
scorers in ``shared/eval`` (``score_events.py``, ``score_geo.py``), and why the CI gate can be proven
to fail on a deliberately corrupted prediction file.

* **events** — PLOVER gold standard records (one sentence, one coded event): type, mode, source and
  target actor codes (country = first 3 characters; full = country + primary role, 6 characters),
  place and date where the gold has them, the scorer's actor code-set matches.
* **classify** — CASE 2021 Task 2 snippets (one of 30 ACLED-style labels): the best event's PLOVER
  (type, mode) mapped to a label through ``data/plover.json``.
* **geo** — toponym recognition (exact and overlap spans) and resolution (accuracy@161 km, errors),
  from the Analysis's place mentions.

The metric definitions mirror ``score_events.py`` and ``score_geo.py`` (``tests/test_evaluation.py``
checks that both give the same numbers), so a figure from ``tidings eval`` means the same as one from
those scripts. The scorers here are standard library only; the engine is imported only when a
runner needs it.

The scorers are in :mod:`tidings.evaluation.scores`, the runners in :mod:`tidings.evaluation.runs`;
both are re-exported here.
"""

from tidings.evaluation.runs import (
    CaseMapping,
    EngineTimeout,
    EvalReport,
    Progress,
    analyze_records,
    classify_prediction,
    event_prediction,
    geo_prediction,
    is_event_head,
    load_case_mapping,
    read_jsonl,
    run_classify,
    run_events,
    run_geo,
    run_head_classify,
    score_classify,
    score_events,
    score_geo,
)
from tidings.evaluation.scores import (
    CASE_ACLED,
    CASE_SUB2,
    CASE_SUB3,
    NONE,
    actor_set_match,
    check_floors,
    confusion_matrix,
    event_group,
    flatten,
    haversine_km,
    label_scores,
    pick_event,
    prf,
    top_confusions,
    write_jsonl,
)

__all__ = ["CASE_ACLED", "CASE_SUB2", "CASE_SUB3", "NONE", "CaseMapping", "EngineTimeout", "EvalReport", "Progress", "actor_set_match", "analyze_records", "check_floors", "classify_prediction", "confusion_matrix", "event_group", "event_prediction", "flatten", "geo_prediction", "haversine_km", "is_event_head", "label_scores", "load_case_mapping", "pick_event", "prf", "read_jsonl", "run_classify", "run_events", "run_geo", "run_head_classify", "score_classify", "score_events", "score_geo", "top_confusions", "write_jsonl"]
