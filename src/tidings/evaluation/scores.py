"""Scorers: predictions and gold in, scores out (pure; nothing is run here).

Measured quality: score tidings against gold data (``tidings eval``, ``benchmarks/``).

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
"""

from __future__ import annotations

import collections
import itertools
import json
import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tidings.core.codebook import CaseMapping, load_case_mapping
from tidings.core.records import Analysis, Event

__all__ = ["CASE_ACLED", "CASE_SUB2", "CASE_SUB3", "NONE", "CaseMapping", "check_floors", "classify_prediction", "confusion_matrix", "event_group", "event_prediction", "flatten", "geo_prediction", "label_scores", "load_case_mapping", "pick_event", "prf", "read_jsonl", "score_classify", "score_events", "score_geo", "write_jsonl"]

NONE = "<none>"  # the label of "no prediction" in confusion tables (as score_events.py)

CASE_ACLED = frozenset({
    "ABDUCT_DISSAP", "AGREEMENT", "AIR_STRIKE", "ARMED_CLASH", "ARREST", "ART_MISS_ATTACK", "ATTACK",
    "CHANGE_TO_GROUP_ACT", "CHEM_WEAP", "DISR_WEAP", "FORCE_AGAINST_PROTEST", "GOV_REGAINS_TERIT", "GRENADE",
    "HQ_ESTABLISHED", "MOB_VIOL", "NON_STATE_ACTOR_OVERTAKES_TER", "NON_VIOL_TERRIT_TRANSFER", "OTHER",
    "PEACE_PROTEST", "PROPERTY_DISTRUCT", "PROTEST_WITH_INTER", "REM_EXPLOS", "SEX_VIOL", "SUIC_BOMB",
    "VIOL_DEMONSTR",
})
CASE_SUB2 = CASE_ACLED | {"ORG_CRIME", "NATURAL_DISASTER", "MAN_MADE_DISASTER"}
CASE_SUB3 = CASE_SUB2 | {"DIPLO", "ATTRIB"}
_CASE_VIEWS = (("subtask1_acled25", CASE_ACLED), ("subtask2_plus3", CASE_SUB2), ("subtask3_all30", CASE_SUB3))

EARTH_RADIUS_KM = 6371.0088
MAX_ERROR_KM = 20038.0   # half the Earth's circumference: the error of a matched place without coordinates
ACC_RADIUS_KM = 161.0    # 100 miles, the field's customary "correct" radius


# --- files ---------------------------------------------------------------------------------------

def read_jsonl(path: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of a JSONL file (blank lines skipped); the first ``limit`` rows when given."""
    rows: list[dict[str, Any]] = []
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
                if limit is not None and len(rows) >= limit:
                    break
    return rows


def write_jsonl(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write rows as JSONL (UTF-8, one object a line) so the shared scorers can read them."""
    with Path(path).open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


# --- generic metrics -----------------------------------------------------------------------------

def prf(tp: int, npred: int, ngold: int) -> dict[str, Any]:
    """Precision, recall and F1 from counts (0.0 where undefined, as the shared scorers do)."""
    p = tp / npred if npred else 0.0
    r = tp / ngold if ngold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "tp": tp, "pred": npred, "gold": ngold}


def label_scores(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Single-label scores over ``(gold, predicted)`` pairs, exactly as ``score_events.py``.

    Accuracy equals micro F1 for one label per item; macro F1 averages over the union of gold and
    predicted labels (as scikit-learn); weighted F1 weights each label by its gold support. A missing
    prediction (:data:`NONE`) is wrong and adds no label.
    """
    n = len(pairs)
    if not n:
        return {"n": 0}
    labels = {g for g, _ in pairs} | {p for _, p in pairs if p != NONE}
    per: dict[str, dict[str, Any]] = {}
    for lab in sorted(labels):
        tp = sum(1 for g, p in pairs if g == lab and p == lab)
        per[lab] = prf(tp, sum(1 for _, p in pairs if p == lab), sum(1 for g, _ in pairs if g == lab))
    return {
        "n": n,
        "accuracy_micro_f1": sum(1 for g, p in pairs if g == p) / n,
        "macro_f1": sum(v["f1"] for v in per.values()) / len(per),
        "weighted_f1": sum(v["f1"] * v["gold"] for v in per.values()) / n,
        "missing_predictions": sum(1 for _, p in pairs if p == NONE),
        "per_label": per,
    }


def confusion_matrix(pairs: Iterable[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """``matrix[gold][pred] = count``; only non-zero cells, so it stays readable as JSON."""
    matrix: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for gold, pred in pairs:
        matrix[gold][pred] = matrix[gold].get(pred, 0) + 1
    return {g: dict(sorted(row.items())) for g, row in sorted(matrix.items())}


def top_confusions(matrix: Mapping[str, Mapping[str, int]], n: int = 15) -> list[tuple[str, str, int]]:
    """The ``n`` largest off-diagonal cells: where the errors are."""
    cells = [(g, p, c) for g, row in matrix.items() for p, c in row.items() if g != p]
    return sorted(cells, key=lambda cell: (-cell[2], cell[0], cell[1]))[:n]


def _item_prf(items: Iterable[tuple[Any, Any]]) -> dict[str, Any]:
    """P/R/F1 of one optional field over ``(gold, pred)`` items, ``None`` meaning "no value".

    Precision is over items with a predicted value, recall over items with a gold value, so a coder
    that abstains loses recall but not precision.
    """
    tp = npred = ngold = 0
    for gold, pred in items:
        npred += pred is not None
        ngold += gold is not None
        tp += gold is not None and pred is not None and gold == pred
    return prf(tp, npred, ngold)


def _set_prf(items: Iterable[tuple[set[str], set[str]]]) -> dict[str, Any]:
    """Micro P/R/F1 over per-item sets ``(gold, pred)``: partial credit for compound actors."""
    tp = npred = ngold = 0
    for gold, pred in items:
        tp += len(gold & pred)
        npred += len(pred)
        ngold += len(gold)
    return prf(tp, npred, ngold)


# --- choosing one event --------------------------------------------------------------------------

# Gold sets code one event per sentence or snippet: the one the text is *about*. An asserted or
# reported event is news; a hedged, future or negated one is usually the complement of the main
# verb ("threatened to attack": THREATEN is asserted, the attack is future); background history is
# never the news (DESIGN §5). So modality ranks first, confidence second, and the earliest trigger
# (the main clause usually comes first in news prose) breaks ties.
_MODALITY_RANK: dict[str, int] = {"asserted": 0, "reported": 0, "hedged": 1, "future": 1, "negated": 1,
                                  "historical": 2}


def _event_rank(event: Event) -> tuple[int, float, int]:
    trigger = event.evidence.get("trigger")
    return (_MODALITY_RANK.get(event.modality, 1), -event.confidence,
            trigger.start if trigger is not None else 1 << 30)


def pick_event(events: Sequence[Event], accept: Callable[[Event], bool] | None = None) -> Event | None:
    """The event a one-label gold set would have coded, or None (see ``_MODALITY_RANK`` for why).

    ``accept`` filters candidates first (e.g. only events that map to a CASE label); when it rejects
    all of them, the best of all events is returned so the caller can still report its type.
    """
    candidates = [e for e in events if accept(e)] if accept is not None else list(events)
    pool = candidates or list(events)
    return min(pool, key=_event_rank) if pool else None


def event_group(events: Sequence[Event], best: Event) -> list[Event]:
    """The events that share ``best``'s trigger: one verb with coordinated actors gives one event per
    actor ("Hungary and Romania agreed"), while the gold codes one event with a compound actor."""
    trigger = best.evidence.get("trigger")
    if trigger is None:
        return [best]
    key = (trigger.start, trigger.end)
    return [e for e in events if (t := e.evidence.get("trigger")) is not None and (t.start, t.end) == key
            and e.type == best.type] or [best]


# --- events (PLOVER gold standard records) -------------------------------------------------------

def _actor_code(actor: Any) -> str | None:
    """A predicted actor's code: the CAMEO-style code, else its country (still right at country level)."""
    if actor is None:
        return None
    code = actor.code or actor.country
    return code.upper() if code else None


def _gold_full_code(actor: Mapping[str, Any]) -> str:
    """Gold country code plus its primary role (``HUN`` + ``GOV``); ``***`` and suffixes are dropped."""
    code = str(actor.get("code") or "").upper()
    sector = str(actor.get("sector") or "")[:3]
    return code + sector.upper() if sector.isalpha() and len(sector) == 3 else code


def event_prediction(record_id: str, analysis: Analysis | None) -> dict[str, Any]:
    """One prediction row for a gold-standard sentence (readable by ``score_events.py``).

    ``source_codes``/``target_codes`` are country-level (the first 3 characters), as the gold codes
    are; ``*_codes_full`` keep country + role (6 characters). Actors of every event that shares the
    chosen event's trigger are merged, since the gold codes compound actors on one event.
    """
    row: dict[str, Any] = {"id": record_id, "label": None, "source_codes": [], "target_codes": [],
                           "source_codes_full": [], "target_codes_full": [], "n_events": 0}
    if analysis is None or not analysis.events:
        return row  # empty actor sets: a sentence with no event got its actors wrong too
    best = pick_event(analysis.events)
    if best is None:
        return row
    group = event_group(analysis.events, best)
    sources = [c for e in group if (c := _actor_code(e.source_actor))]
    targets = [c for e in group if (c := _actor_code(e.target_actor))]
    row.update({
        "label": best.type,
        "mode": best.mode,
        "modality": best.modality,
        "confidence": best.confidence,
        "source_codes": sorted({c[:3] for c in sources}),
        "target_codes": sorted({c[:3] for c in targets}),
        "source_codes_full": sorted({c[:6] for c in sources}),
        "target_codes_full": sorted({c[:6] for c in targets}),
        "place": _place_row(best),
        "date": best.when.start.isoformat() if best.when.start else None,
        "types": sorted({e.type for e in analysis.events}),
        "n_events": len(analysis.events),
        "trigger": t.text if (t := best.evidence.get("trigger")) is not None else None,
    })
    return row


def _place_row(event: Event) -> dict[str, Any] | None:
    place = event.place
    if place is None:
        return None
    return {"name": place.name, "text": place.span.text if place.span else None, "country": place.country,
            "country3": place.country3, "geonameid": place.geonameid}


def _gold_place(record: Mapping[str, Any]) -> str | None:
    loc = record.get("eventLoc")
    name = loc.get("name") if isinstance(loc, Mapping) else loc
    return str(name).casefold().strip() if name else None


def _pred_place(row: Mapping[str, Any], gold: str | None) -> str | None:
    """The predicted place, in the gold's spelling when either the mention or the gazetteer name matches
    ("Britain" in the text, "United Kingdom" in GeoNames)."""
    place = row.get("place")
    if not place:
        return None
    names = {str(v).casefold().strip() for v in (place.get("text"), place.get("name")) if v}
    return gold if gold in names else min(names) if names else None


def _role_sets(gold: Mapping[str, Any], pred: Mapping[str, Any], full: bool) -> tuple[tuple[set[str], set[str]],
                                                                                          tuple[set[str], set[str]] | None]:
    """(source gold/pred sets, target gold/pred sets); reciprocal records compare all actors once, as
    the gold lists every party of a reciprocal event as a source."""
    if full:
        gs = {_gold_full_code(a) for a in gold.get("source", [])}
        gt = {_gold_full_code(a) for a in gold.get("target", [])}
        ps, pt = set(pred.get("source_codes_full", [])), set(pred.get("target_codes_full", []))
    else:
        gs = {str(c).upper()[:3] for c in gold.get("source_codes", [])}
        gt = {str(c).upper()[:3] for c in gold.get("target_codes", [])}
        ps, pt = set(pred.get("source_codes", [])), set(pred.get("target_codes", []))
    if gold.get("reciprocal"):
        return (gs | gt, ps | pt), None
    return (gs, ps), (gt, pt)


def actor_set_match(gold: Sequence[Mapping[str, Any]], pred: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The share of records whose predicted code set equals the gold set, as ``score_events.py``
    (source, target, and all actors together; only records with a prediction row are scored)."""
    pm = {str(r["id"]): r for r in pred}
    counts: collections.Counter[str] = collections.Counter()
    for g in gold:
        p = pm.get(str(g["id"]))
        if p is None:
            continue
        for key in ("source_codes", "target_codes"):
            if key in p:
                counts[key + "_n"] += 1
                counts[key + "_match"] += set(p[key]) == set(g.get(key, []))
        if "source_codes" in p or "target_codes" in p:
            counts["actors_n"] += 1
            counts["actors_match"] += (set(p.get("source_codes", [])) | set(p.get("target_codes", []))) == \
                (set(g.get("source_codes", [])) | set(g.get("target_codes", [])))
    out: dict[str, Any] = {k: (counts[k + "_match"] / counts[k + "_n"] if counts[k + "_n"] else None)
                           for k in ("source_codes", "target_codes", "actors")}
    out["n_scored"] = counts["actors_n"]
    return out


#: Gold sets with coarser roots: the ZSP/PLV set codes PLOVER's RETREAT and CONCEDE together as YIELD.
ROOT_FOLDS = {"YIELD": ("RETREAT", "CONCEDE")}


def score_events(gold: Sequence[Mapping[str, Any]], pred: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Score PLOVER-GSR-format predictions: per-field P/R/F1, per-type scores, confusions, actor sets.

    A user's gold file needs only ``id``, ``text`` and ``label`` (a PLOVER type); it may add
    ``source``/``target`` (``[{"code": "USA", "sector": "GOV"}]``), ``source_codes``/``target_codes``,
    ``reciprocal``, ``mode``, ``eventLoc`` (``{"name": ...}``), ``modality``, ``event_date`` and the
    publication ``date``. Optional fields are scored only on records whose gold has them; type is
    scored on every record (a sentence with no event counts against recall).
    """
    pm = {str(r["id"]): r for r in pred}
    rows = [(g, pm.get(str(g["id"]), {"id": g["id"], "label": None})) for g in gold]
    folds = {t: root for root, types in ROOT_FOLDS.items() if any(g["label"] == root for g in gold) for t in types}
    if folds:  # a gold set that codes YIELD (RETREAT + CONCEDE): score either prediction as YIELD
        rows = [(g, {**p, "label": folds.get(p.get("label") or "", p.get("label"))}) for g, p in rows]
    pairs = [(str(g["label"]), str(p.get("label") or NONE)) for g, p in rows]
    fields: dict[str, Any] = {"type": _item_prf((g["label"], p.get("label")) for g, p in rows)}
    for name, full in (("country", False), ("full", True)):
        sets = [_role_sets(g, p, full) for g, p in rows]
        fields[f"source_{name}"] = _set_prf(s for s, _ in sets)
        fields[f"target_{name}"] = _set_prf(t for _, t in sets if t is not None)
        fields[f"actors_{name}"] = _set_prf((s[0] | (t[0] if t else set()), s[1] | (t[1] if t else set()))
                                            for s, t in sets)
    for key, gold_key in (("mode", "mode"), ("modality", "modality")):
        fields[key] = _item_prf((g[gold_key], p.get(key)) for g, p in rows if g.get(gold_key))
    fields["place"] = _item_prf((gp, _pred_place(p, gp)) for g, p in rows if (gp := _gold_place(g)))
    fields["date"] = _item_prf((str(g[k])[:10], p.get("date")) for g, p in rows
                               for k in ("event_date", "eventDate") if g.get(k))
    labels = label_scores(pairs)
    per_type = labels.pop("per_label", {})
    matrix = confusion_matrix(pairs)
    return {
        "n": len(gold),
        "with_event": sum(1 for _, p in rows if p.get("label")),
        "fields": fields,
        "labels": labels,
        "type_any_event": _any_event_recall(rows),
        "per_type": per_type,
        "actor_code_set_match": actor_set_match(gold, [p for _, p in rows if str(p["id"]) in pm]),
        "confusion": matrix,
        "top_confusions": top_confusions(matrix),
    }


def _any_event_recall(rows: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> float | None:
    """Share of records where *some* event has the gold type: the ceiling of the choice rule, which
    tells detection errors (no such event) from choice errors (found, but another one was chosen)."""
    if not rows:
        return None
    return sum(1 for g, p in rows if g["label"] in (p.get("types") or [p.get("label")])) / len(rows)


# --- classify (CASE 2021 Task 2) -----------------------------------------------------------------

# The mapping (PLOVER → ACLED → CASE 2021 label) is type knowledge: it lives in data/plover.json and is
# read by tidings.core.codebook, which the export shares; re-exported here for the evaluation's callers.


def classify_prediction(record_id: str, analysis: Analysis | None, mapping: CaseMapping,
                        text: str = "") -> dict[str, Any]:
    """One prediction row ``{"id", "label"}`` (readable by ``score_events.py``).

    The chosen event is the best (:func:`pick_event`) of the events a specific rule maps; when only
    the catch-all maps them, the best event takes the catch-all label; a snippet with no event at all
    gets :meth:`CaseMapping.no_event_label`. ``source`` says which of the three happened.
    """
    events = list(analysis.events) if analysis is not None else []
    labels = {e.id: mapping.label(e) for e in events}
    best = pick_event(events, accept=lambda e: labels[e.id][1])
    if best is None:
        label, source = mapping.no_event_label(text or (analysis.document.text if analysis else "")), "no_event"
    else:
        label, specific = labels[best.id]
        source = "event" if specific else "catch_all"
    return {"id": record_id, "label": label, "source": source, "type": best.type if best else None,
            "mode": best.mode if best else None, "n_events": len(events)}


def score_classify(gold: Sequence[Mapping[str, Any]], pred: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Accuracy, macro and weighted F1, per-label scores, confusions and the three CASE subtask views."""
    pm = {str(r["id"]): r for r in pred}
    pairs = [(str(g["label"]), str(pm.get(str(g["id"]), {}).get("label") or NONE)) for g in gold]
    out: dict[str, Any] = {"all": label_scores(pairs)}
    if {g for g, _ in pairs} <= CASE_SUB3:
        for name, labels in _CASE_VIEWS:
            view = label_scores([(g, p) for g, p in pairs if g in labels])
            view.pop("per_label", None)
            out[name] = view
    sources = collections.Counter(str(pm.get(str(g["id"]), {}).get("source", "missing")) for g in gold)
    out["prediction_sources"] = dict(sources)
    matrix = confusion_matrix(pairs)
    out["confusion"] = matrix
    out["top_confusions"] = top_confusions(matrix)
    return out


# --- geo (toponyms) ------------------------------------------------------------------------------

def geo_prediction(record_id: str, analysis: Analysis | None, *, adjectives: bool = True) -> dict[str, Any]:
    """One prediction row in the geo gold format: every place mention with span and coordinates.

    Mentions with the same span are kept once (a span is one toponym however many stages saw it).
    ``adjectives=False`` leaves out adjectival forms ("Canadian researchers"), for gold sets whose
    guidelines annotate place names only (GeoVirus: none of its 229 articles marks an adjective,
    where LGL and TR-News mark them); abbreviations used attributively ("U.S. troops") stay.
    """
    toponyms: list[dict[str, Any]] = []
    seen: set[tuple[int, int]] = set()
    for mention in analysis.mentions if analysis is not None else []:
        key = (mention.span.start, mention.span.end)
        if mention.kind != "place" or key in seen or (not adjectives and mention.value.get("adjective")):
            continue
        seen.add(key)
        value = mention.value
        toponyms.append({"start": key[0], "end": key[1], "name": mention.span.text,
                         "lat": value.get("lat"), "lon": value.get("lon"), "geonameid": value.get("geonameid")})
    toponyms.sort(key=lambda t: (t["start"], t["end"]))
    return {"id": record_id, "toponyms": toponyms}


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


Toponym = Mapping[str, Any]


def match_exact(gold: Sequence[Toponym], pred: Sequence[Toponym]) -> list[tuple[Toponym, Toponym]]:
    """One-to-one pairs with identical spans."""
    by_span = {(p["start"], p["end"]): p for p in pred}
    return [(g, by_span[(g["start"], g["end"])]) for g in gold if (g["start"], g["end"]) in by_span]


def match_overlap(gold: Sequence[Toponym], pred: Sequence[Toponym]) -> list[tuple[Toponym, Toponym]]:
    """One-to-one pairs of spans sharing at least one character, largest overlap first."""
    pairs = sorted(((min(g["end"], p["end"]) - max(g["start"], p["start"]), i, j)
                    for i, g in enumerate(gold) for j, p in enumerate(pred)), reverse=True)
    used_g: set[int] = set()
    used_p: set[int] = set()
    out = []
    for overlap, i, j in pairs:
        if overlap > 0 and i not in used_g and j not in used_p:
            used_g.add(i)
            used_p.add(j)
            out.append((gold[i], pred[j]))
    return out


def _has_coords(t: Toponym) -> bool:
    return t.get("lat") is not None and t.get("lon") is not None


def _error_km(g: Toponym, p: Toponym) -> float:
    return haversine_km(g["lat"], g["lon"], p["lat"], p["lon"]) if _has_coords(p) else MAX_ERROR_KM


def auc_log_error(errors: Sequence[float]) -> float | None:
    """Area under the sorted ``log(1+error)`` curve, normalised to [0, 1] (Gritta et al. 2018)."""
    ys = sorted(math.log1p(e) / math.log1p(MAX_ERROR_KM) for e in errors)
    if len(ys) < 2:
        return ys[0] if ys else None
    return sum((a + b) / 2 for a, b in itertools.pairwise(ys)) / (len(ys) - 1)


def _resolution(pairs: Sequence[tuple[Toponym, Toponym]]) -> dict[str, Any]:
    errors = [_error_km(g, p) for g, p in pairs if _has_coords(g)]
    with_id = [(g, p) for g, p in pairs if g.get("geonameid") is not None]
    return {
        "n": len(errors),
        "accuracy_at_161km": sum(e <= ACC_RADIUS_KM for e in errors) / len(errors) if errors else None,
        "mean_error_km": statistics.fmean(errors) if errors else None,
        "median_error_km": statistics.median(errors) if errors else None,
        "auc_log_error": auc_log_error(errors),
        "geonameid_n": len(with_id),
        "geonameid_accuracy": (sum(str(p.get("geonameid")) == str(g["geonameid"]) for g, p in with_id)
                               / len(with_id)) if with_id else None,
    }


def _geo_prf(n_match: int, n_gold: int, n_pred: int) -> dict[str, Any]:
    out = prf(n_match, n_pred, n_gold)
    return {"precision": out["precision"], "recall": out["recall"], "f1": out["f1"],
            "matched": n_match, "gold": n_gold, "predicted": n_pred}


def score_geo(gold: Sequence[Mapping[str, Any]], pred: Sequence[Mapping[str, Any]],
              resolution_match: str = "exact") -> dict[str, Any]:
    """Recognition P/R/F1 (exact, overlap), resolution and end-to-end accuracy@161 km, as ``score_geo.py``."""
    gold_by_id = {str(r["id"]): r.get("toponyms", []) for r in gold}
    pred_by_id = {str(r["id"]): r.get("toponyms", []) for r in pred}
    unknown = set(pred_by_id) - set(gold_by_id)
    if unknown:
        raise ValueError(f"{len(unknown)} prediction ids not in gold, e.g. {sorted(unknown)[:3]}")
    exact: list[tuple[Toponym, Toponym]] = []
    overlap: list[tuple[Toponym, Toponym]] = []
    n_gold = n_pred = 0
    for doc_id, gold_tops in gold_by_id.items():
        pred_tops = pred_by_id.get(doc_id, [])
        n_gold, n_pred = n_gold + len(gold_tops), n_pred + len(pred_tops)
        exact += match_exact(gold_tops, pred_tops)
        overlap += match_overlap(gold_tops, pred_tops)
    matched = exact if resolution_match == "exact" else overlap
    n_gold_coords = sum(1 for tops in gold_by_id.values() for g in tops if _has_coords(g))
    hits = sum(1 for g, p in matched if _has_coords(g) and _has_coords(p) and _error_km(g, p) <= ACC_RADIUS_KM)
    return {
        "documents": len(gold_by_id),
        "documents_missing_in_predictions": len(set(gold_by_id) - set(pred_by_id)),
        "recognition_exact": _geo_prf(len(exact), n_gold, n_pred),
        "recognition_overlap": _geo_prf(len(overlap), n_gold, n_pred),
        "resolution_match": resolution_match,
        "resolution": _resolution(matched),
        "end_to_end_accuracy_at_161km": hits / n_gold_coords if n_gold_coords else None,
    }


# --- runners (these need the engine) -------------------------------------------------------------


# --- the CI gate ---------------------------------------------------------------------------------

def flatten(scores: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Nested scores → ``{"fields.type.f1": 0.71, ...}``: the keys floors are pinned on."""
    out: dict[str, float] = {}
    for key, value in scores.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def check_floors(scores: Mapping[str, Mapping[str, Any]], floors: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Every floor a score falls below, as readable lines; empty when the gate passes.

    ``scores`` is ``{suite: nested scores}``, ``floors`` is ``{suite: {"dotted.metric": minimum}}``. A
    metric that is missing or null fails too: a gate that silently skips a renamed metric protects
    nothing.
    """
    problems: list[str] = []
    for suite, pinned in floors.items():
        flat = flatten(scores.get(suite, {}))
        for metric, minimum in pinned.items():
            value = flat.get(metric)
            if value is None:
                problems.append(f"{suite}: {metric} is missing (floor {minimum:.4f})")
            elif value < minimum:
                problems.append(f"{suite}: {metric} = {value:.4f} is below its floor {minimum:.4f}")
    return problems
