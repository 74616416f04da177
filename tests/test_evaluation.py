"""Scorers, choice rules and the CI gate of ``tidings.evaluation`` — fast: no spaCy model, tiny gold
files written by the tests. Where the shared reference scorers are present they must agree with ours."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

from tidings import evaluation as ev
from tidings.core.records import Actor, Analysis, Document, Event, Mention, Place, Span, When

ROOT = Path(__file__).resolve().parents[1]
EVAL_DIR = Path(os.environ.get("TIDINGS_EVAL_DIR", ROOT.parent / "shared" / "eval"))
FLOORS = ROOT / "benchmarks" / "accuracy_floors.json"


def _shared(name: str, relative: str) -> ModuleType:
    path = EVAL_DIR / relative
    if not path.exists():
        pytest.skip(f"shared scorer {path} not present")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _event(type_: str, *, modality: str = "asserted", confidence: float = 0.5, trigger: tuple[int, int] = (0, 4),
           source: str | None = None, target: str | None = None, mode: str | None = None,
           place: Place | None = None, number: int = 0) -> Event:
    def actor(code: str | None) -> Actor | None:
        return Actor(code=code, name=code) if code else None

    return Event(id=f"e{type_}{number}{trigger}", doc_id="d", type=type_, mode=mode, modality=modality,
                 confidence=confidence, source_actor=actor(source), target_actor=actor(target), place=place,
                 evidence={"trigger": Span(start=trigger[0], end=trigger[1], text="x" * (trigger[1] - trigger[0]))})


def _analysis(events: list[Event] | None = None, mentions: list[Mention] | None = None) -> Analysis:
    return Analysis(document=Document.from_text("some text"), events=events or [], mentions=mentions or [])


# --- generic metrics -------------------------------------------------------------------------------

def test_label_scores_by_hand() -> None:
    pairs = [("A", "A"), ("A", "B"), ("B", "B"), ("C", ev.NONE)]
    s = ev.label_scores(pairs)
    assert s["accuracy_micro_f1"] == 0.5
    assert s["per_label"]["A"]["precision"] == 1.0 and s["per_label"]["A"]["recall"] == 0.5
    assert s["per_label"]["B"]["f1"] == pytest.approx(2 / 3)
    assert s["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert s["weighted_f1"] == pytest.approx((2 / 3 * 2 + 2 / 3 * 1) / 4)
    assert s["missing_predictions"] == 1


def test_confusion_matrix_and_top_confusions() -> None:
    pairs = [("A", "A"), ("A", "B"), ("A", "B"), ("B", "A")]
    matrix = ev.confusion_matrix(pairs)
    assert matrix == {"A": {"A": 1, "B": 2}, "B": {"A": 1}}
    assert ev.top_confusions(matrix) == [("A", "B", 2), ("B", "A", 1)]


def test_label_scores_agree_with_shared_scorer() -> None:
    shared = _shared("score_events", "events/score_events.py")
    rng = random.Random(7)
    labels = sorted(ev.CASE_SUB3)
    gold = [{"id": str(i), "text": "t", "label": rng.choice(labels)} for i in range(300)]
    pred = [{"id": g["id"], "label": rng.choice([g["label"], rng.choice(labels)])} for g in gold[:280]]
    ours = ev.score_classify(gold, pred)
    theirs = shared.score_labels(gold, pred)
    for view in ("all", "subtask1_acled25", "subtask2_plus3", "subtask3_all30"):
        for metric in ("n", "accuracy_micro_f1", "macro_f1", "weighted_f1", "missing_predictions"):
            assert ours[view][metric] == pytest.approx(theirs[view][metric]), (view, metric)
    assert ours["all"]["per_label"] == theirs["all"]["per_label"]


def test_constant_baseline_matches_readme() -> None:
    """The README's hand-checked figure: constant ARMED_CLASH on the CASE dev file."""
    path = EVAL_DIR / "events" / "case2021_task2_dev.jsonl"
    if not path.exists():
        pytest.skip("CASE dev file not present")
    gold = ev.read_jsonl(path)
    scores = ev.score_classify(gold, [{"id": g["id"], "label": "ARMED_CLASH"} for g in gold])
    assert scores["all"]["accuracy_micro_f1"] == pytest.approx(0.0646, abs=1e-4)
    assert scores["all"]["macro_f1"] == pytest.approx(0.0040, abs=1e-4)


# --- choosing the event ----------------------------------------------------------------------------

def test_pick_event_prefers_news_over_background_then_confidence_then_first() -> None:
    history = _event("ASSAULT", modality="historical", confidence=0.9, trigger=(0, 4))
    threat = _event("THREATEN", confidence=0.6, trigger=(10, 18))
    attack = _event("ASSAULT", modality="future", confidence=0.9, trigger=(22, 28))
    assert ev.pick_event([history, attack, threat]) is threat
    early = _event("REQUEST", confidence=0.6, trigger=(1, 3))
    assert ev.pick_event([threat, early]) is early
    assert ev.pick_event([]) is None


def test_pick_event_accept_filter_falls_back_to_all() -> None:
    a, b = _event("CONSULT", confidence=0.9), _event("ASSAULT", confidence=0.4, trigger=(5, 9))
    assert ev.pick_event([a, b], accept=lambda e: e.type == "ASSAULT") is b
    assert ev.pick_event([a, b], accept=lambda e: False) is a


def test_event_prediction_merges_coordinated_actors_and_truncates_codes() -> None:
    one = _event("AGREE", source="HUNGOV", target="ROU", trigger=(20, 26), number=1)
    two = _event("AGREE", source="ROUGOV", target="HUN", trigger=(20, 26), number=2)
    other = _event("CONSULT", source="USA", trigger=(40, 46), confidence=0.1)
    row = ev.event_prediction("r1", _analysis([one, two, other]))
    assert row["label"] == "AGREE"
    assert row["source_codes"] == ["HUN", "ROU"] and row["source_codes_full"] == ["HUNGOV", "ROUGOV"]
    assert row["types"] == ["AGREE", "CONSULT"] and row["n_events"] == 3
    empty = ev.event_prediction("r2", _analysis())
    assert empty["label"] is None and empty["source_codes"] == [] and empty["n_events"] == 0


def test_actor_country_used_when_code_missing() -> None:
    event = _event("ASSAULT").model_copy(update={"source_actor": Actor(name="army", country="SYR")})
    assert ev.event_prediction("r", _analysis([event]))["source_codes"] == ["SYR"]


# --- events scoring --------------------------------------------------------------------------------

GSR = [
    {"id": "1", "text": "t1", "label": "AGREE", "reciprocal": True, "date": "2000-01-01",
     "source": [{"code": "HUN", "sector": "GOV"}, {"code": "ROU", "sector": "GOV"}], "target": [],
     "source_codes": ["HUN", "ROU"], "target_codes": []},
    {"id": "2", "text": "t2", "label": "ASSAULT", "reciprocal": False, "mode": "heavy-weapons",
     "eventLoc": {"name": "Britain"}, "source": [{"code": "IRQ", "sector": "MIL"}],
     "target": [{"code": "USA", "sector": "***"}], "source_codes": ["IRQ"], "target_codes": ["USA"]},
    {"id": "3", "text": "t3", "label": "REJECT", "reciprocal": False, "source": [{"code": "FRA"}],
     "target": [], "source_codes": ["FRA"], "target_codes": []},
]


def _perfect() -> list[dict[str, Any]]:
    return [
        {"id": "1", "label": "AGREE", "source_codes": ["HUN"], "target_codes": ["ROU"],
         "source_codes_full": ["HUNGOV"], "target_codes_full": ["ROUGOV"], "types": ["AGREE"]},
        {"id": "2", "label": "ASSAULT", "mode": "heavy-weapons", "source_codes": ["IRQ"], "target_codes": ["USA"],
         "source_codes_full": ["IRQMIL"], "target_codes_full": ["USA"],
         "place": {"name": "United Kingdom", "text": "Britain"}},
        {"id": "3", "label": "REJECT", "source_codes": ["FRA"], "target_codes": [], "source_codes_full": ["FRA"],
         "target_codes_full": []},
    ]


def test_score_events_perfect() -> None:
    s = ev.score_events(GSR, _perfect())
    for name in ("type", "source_country", "target_country", "source_full", "target_full", "actors_country",
                 "mode", "place"):
        assert s["fields"][name]["f1"] == 1.0, name
    assert s["fields"]["date"]["gold"] == 0  # no gold event dates: not scored, not zero
    assert s["labels"]["accuracy_micro_f1"] == 1.0 and s["type_any_event"] == 1.0
    assert s["actor_code_set_match"]["actors"] == 1.0


def test_score_events_errors_count() -> None:
    pred = _perfect()
    pred[1] = {"id": "2", "label": "COERCE", "source_codes": ["IRN"], "target_codes": ["USA"],
               "source_codes_full": ["IRNMIL"], "target_codes_full": ["USAGOV"], "types": ["COERCE", "ASSAULT"]}
    del pred[2]  # no row: type and actors wrong, recall drops, precision does not
    s = ev.score_events(GSR, pred)
    assert s["fields"]["type"] == pytest.approx({**s["fields"]["type"], "precision": 0.5, "recall": 1 / 3})
    assert s["fields"]["target_country"]["f1"] == 1.0 and s["fields"]["target_full"]["tp"] == 0
    assert s["fields"]["mode"]["gold"] == 1 and s["fields"]["mode"]["pred"] == 0
    assert s["type_any_event"] == pytest.approx(2 / 3)  # ASSAULT was found, another event was chosen
    assert s["confusion"]["ASSAULT"] == {"COERCE": 1} and s["confusion"]["REJECT"] == {ev.NONE: 1}


def test_actor_set_match_agrees_with_shared_scorer() -> None:
    shared = _shared("score_events", "events/score_events.py")
    pred = _perfect()
    pred[0]["source_codes"] = ["HUN", "ROU"]
    pred[0]["target_codes"] = []
    pred[1]["target_codes"] = ["GBR"]
    assert ev.actor_set_match(GSR, pred) == pytest.approx(shared.score_labels(GSR, pred)["actor_code_set_match"])


# --- classify --------------------------------------------------------------------------------------

PLOVER_RULES = {
    "types": {
        "ASSAULT": {"acled": {"rules": [
            {"when": {"mode": ["aerial", "drone"]}, "acled": ["Explosions/Remote violence", "Air/drone strike"]},
            {"when": {"lemma": ["intercept"], "object": ["missile"]},
             "acled": ["Strategic developments", "Disrupted weapons use"]},
            {"when": {"target_sector": ["CVL"]}, "acled": ["Violence against civilians", "Attack"]},
            {"when": {}, "acled": ["Battles", "Armed clash"]}]}},
        "COERCE": {"acled": {"rules": [
            {"when": {"cameo": ["192"], "actor_kind": "state"}, "acled": ["Battles", "Government regains territory"]},
            {"when": {"cameo": ["192"]}, "acled": ["Battles", "Non-state actor overtakes territory"]},
            {"when": {"mode": ["seize"], "object": ["weapon"]},
             "acled": ["Strategic developments", "Disrupted weapons use"]},
            {"when": {}, "acled": ["Strategic developments", "Other"]}]}},
        "AGREE": {"acled": {"rules": [{"when": {"armed_parties": True}, "acled": ["Strategic developments",
                                                                                   "Agreement"]},
                                      {"when": {}, "acled": None}]}},
        "COOPERATE": {"acled": {"rules": [{"when": {}, "acled": None}]}},
    },
    "case2021": {
        "rules": [{"when": {"contexts": ["crime"]}, "label": "ORG_CRIME"},
                  {"when": {"type": ["CONSULT"]}, "label": "DIPLO"},
                  {"when": {"type": ["AGREE"], "armed_parties": False}, "label": "DIPLO"},
                  {"when": {"acled": True}, "label": "via acled_to_case"},
                  {"when": {"bogus_condition": True}, "label": "SEX_VIOL"},
                  {"when": {}, "label": "OTHER"}],
        "acled_to_case": {"Explosions/Remote violence|Air/drone strike": "AIR_STRIKE",
                          "Strategic developments|Disrupted weapons use": "DISR_WEAP",
                          "Violence against civilians|Attack": "ATTACK", "Battles|Armed clash": "ARMED_CLASH",
                          "Battles|Government regains territory": "GOV_REGAINS_TERIT",
                          "Battles|Non-state actor overtakes territory": "NON_STATE_ACTOR_OVERTAKES_TER",
                          "Strategic developments|Agreement": "AGREEMENT", "Strategic developments|Other": "OTHER"},
    },
}


@pytest.fixture()
def mapping(tmp_path: Path) -> ev.CaseMapping:
    path = tmp_path / "plover.json"
    path.write_text(json.dumps(PLOVER_RULES), encoding="utf-8")
    return ev.load_case_mapping(path)


def _in_sentence(event: Event, sentence: str, trigger: str, **actors: Actor) -> Event:
    start = sentence.index(trigger)
    evidence = {"sentence": Span(start=100, end=100 + len(sentence), text=sentence),
                "trigger": Span(start=100 + start, end=100 + start + len(trigger), text=trigger)}
    return event.model_copy(update={"evidence": evidence, **actors})


@pytest.mark.parametrize(("event", "label", "specific"), [
    (_event("ASSAULT", mode="aerial"), "AIR_STRIKE", True),
    (_event("ASSAULT"), "ARMED_CLASH", True),
    (_event("ASSAULT").model_copy(update={"target_actor": Actor(code="SYRCVL", name="civilians")}), "ATTACK", True),
    (_in_sentence(_event("ASSAULT"), "Air defences intercepted two missiles over Haifa.", "intercepted"),
     "DISR_WEAP", True),
    (_event("CONSULT"), "DIPLO", True),
    (_event("AGREE", source="IRN", target="SYR"), "DIPLO", True),
    (_event("AGREE").model_copy(update={"source_actor": Actor(name="rebels", sector="REB")}), "AGREEMENT", True),
    (_event("COERCE").model_copy(update={"cameo": "1921", "source_actor": Actor(code="SYRMIL", name="army")}),
     "GOV_REGAINS_TERIT", True),
    (_event("COERCE").model_copy(update={"cameo": "192", "source_actor": Actor(code="SYRREB", name="HTS")}),
     "NON_STATE_ACTOR_OVERTAKES_TER", True),
    (_in_sentence(_event("COERCE", mode="seize"), "Police seized weapons and ammunition.", "seized"), "DISR_WEAP",
     True),
    (_event("COERCE", mode="seize"), "OTHER", True),
    (_event("ASSAULT").model_copy(update={"contexts": ["crime"]}), "ORG_CRIME", True),
    (_event("COOPERATE"), "OTHER", False),
])
def test_case_mapping_rules(mapping: ev.CaseMapping, event: Event, label: str, specific: bool) -> None:
    assert mapping.label(event) == (label, specific)


def test_classify_prediction_prefers_specific_events_and_falls_back(mapping: ev.CaseMapping) -> None:
    air = _event("ASSAULT", mode="aerial", confidence=0.3)
    cooperate = _event("COOPERATE", confidence=0.9, trigger=(9, 12))
    row = ev.classify_prediction("1", _analysis([cooperate, air]), mapping)
    assert (row["label"], row["source"], row["type"]) == ("AIR_STRIKE", "event", "ASSAULT")
    assert ev.classify_prediction("2", _analysis([cooperate]), mapping)["source"] == "catch_all"
    quake = ev.classify_prediction("3", None, mapping, "A strong earthquake hit the coast, killing 12.")
    assert (quake["label"], quake["source"]) == ("NATURAL_DISASTER", "no_event")
    assert ev.classify_prediction("4", None, mapping, "A factory fire killed 12 workers.")["label"] == \
        "MAN_MADE_DISASTER"


def test_packaged_case_mapping_is_consistent() -> None:
    """The shipped plover.json only ever yields CASE labels (data written by hand can drift)."""
    from tidings.core.settings import DATA_DIR

    if not (DATA_DIR / "plover.json").exists():
        pytest.skip("data/plover.json not written yet")
    mapping = ev.load_case_mapping()
    assert mapping.case_rules and set(mapping.acled_to_case.values()) <= ev.CASE_SUB3
    labels = {str(label) for _, label in mapping.case_rules if not str(label).startswith("via")}
    assert labels <= ev.CASE_SUB3
    for type_ in ("ASSAULT", "PROTEST", "COERCE", "AGREE", "CONSULT"):
        label, _ = mapping.label(_event(type_))
        assert label in ev.CASE_SUB3, type_


# --- geo -------------------------------------------------------------------------------------------

def _mention(kind: str, start: int, end: int, **value: Any) -> Mention:
    return Mention(kind=kind, span=Span(start=start, end=end, text="x" * (end - start)), label="GPE", value=value)


def test_geo_prediction_keeps_places_once() -> None:
    analysis = _analysis(mentions=[
        _mention("place", 10, 14, lat=1.0, lon=2.0, geonameid=5), _mention("actor", 0, 4),
        _mention("place", 0, 4, lat=None, lon=None, geonameid=None), _mention("place", 10, 14, lat=9.0, lon=9.0),
    ])
    row = ev.geo_prediction("a", analysis)
    assert [(t["start"], t["lat"], t["geonameid"]) for t in row["toponyms"]] == [(0, None, None), (10, 1.0, 5)]


GEO_GOLD = [
    {"id": "a", "text": "..", "toponyms": [
        {"start": 0, "end": 5, "name": "Paris", "lat": 48.85, "lon": 2.35, "geonameid": 2988507},
        {"start": 10, "end": 16, "name": "Berlin", "lat": 52.52, "lon": 13.40, "geonameid": 2950159},
        {"start": 20, "end": 29, "name": "Nowhereia", "lat": None, "lon": None, "geonameid": None}]},
    {"id": "b", "text": "..", "toponyms": [
        {"start": 3, "end": 9, "name": "London", "lat": 51.51, "lon": -0.13, "geonameid": 2643743}]},
    {"id": "c", "text": "..", "toponyms": []},
]
GEO_PRED = [
    {"id": "a", "toponyms": [
        {"start": 0, "end": 5, "lat": 48.86, "lon": 2.34, "geonameid": 2988507},        # exact, right
        {"start": 10, "end": 20, "lat": 40.0, "lon": -75.0, "geonameid": 1},            # overlap, wrong place
        {"start": 40, "end": 44, "lat": 0.0, "lon": 0.0, "geonameid": None}]},          # spurious
    {"id": "b", "toponyms": [{"start": 3, "end": 9, "lat": None, "lon": None, "geonameid": None}]},
]


def test_score_geo_by_hand() -> None:
    s = ev.score_geo(GEO_GOLD, GEO_PRED)
    assert s["recognition_exact"]["matched"] == 2 and s["recognition_exact"]["predicted"] == 4
    assert s["recognition_overlap"]["matched"] == 3
    assert s["resolution"]["n"] == 2 and s["resolution"]["accuracy_at_161km"] == 0.5
    assert s["end_to_end_accuracy_at_161km"] == pytest.approx(1 / 3)
    assert s["documents_missing_in_predictions"] == 1
    overlap = ev.score_geo(GEO_GOLD, GEO_PRED, "overlap")
    assert overlap["resolution"]["n"] == 3 and overlap["resolution"]["accuracy_at_161km"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        ev.score_geo(GEO_GOLD, [{"id": "zzz", "toponyms": []}])


@pytest.mark.parametrize("match", ["exact", "overlap"])
def test_score_geo_agrees_with_shared_scorer(match: str) -> None:
    shared = _shared("score_geo", "geo/score_geo.py")
    gold = {r["id"]: r["toponyms"] for r in GEO_GOLD}
    pred = {r["id"]: r["toponyms"] for r in GEO_PRED}
    ours, theirs = ev.score_geo(GEO_GOLD, GEO_PRED, match), shared.score(gold, pred, match)
    assert ev.flatten(ours) == pytest.approx(ev.flatten(theirs))
    assert ours["resolution_match"] == theirs["resolution_match"] and set(ours) == set(theirs)


# --- CLI without the engine --------------------------------------------------------------------------

def test_cli_scores_saved_predictions(tmp_path: Path) -> None:
    from tidings.cli.eval import eval_app

    gold, pred = tmp_path / "gold.jsonl", tmp_path / "pred.jsonl"
    ev.write_jsonl(gold, GEO_GOLD)
    ev.write_jsonl(pred, GEO_PRED)
    result = CliRunner().invoke(eval_app, ["geo", str(gold), "--predictions", str(pred), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["scores"]["recognition_exact"]["matched"] == 2
    table = CliRunner().invoke(eval_app, ["geo", str(gold), "--predictions", str(pred), "--limit", "1"])
    assert table.exit_code == 0 and "Toponym recognition" in table.output
    ev.write_jsonl(gold, GSR)
    ev.write_jsonl(pred, _perfect())
    result = CliRunner().invoke(eval_app, ["events", str(gold), "--predictions", str(pred)])
    assert result.exit_code == 0 and "Per PLOVER type" in result.output


# --- the CI gate -----------------------------------------------------------------------------------

def test_check_floors_pass_fail_missing() -> None:
    floors = {"lgl": {"recognition_exact.f1": 0.5, "resolution.accuracy_at_161km": 0.6}}
    good = {"lgl": {"recognition_exact": {"f1": 0.55}, "resolution": {"accuracy_at_161km": 0.7}}}
    assert ev.check_floors(good, floors) == []
    bad = {"lgl": {"recognition_exact": {"f1": 0.45}, "resolution": {"accuracy_at_161km": None}}}
    problems = ev.check_floors(bad, floors)
    assert len(problems) == 2 and "below its floor" in problems[0] and "missing" in problems[1]


def test_gate_fails_on_corrupted_predictions(tmp_path: Path) -> None:
    """Score a good and a corrupted prediction file of the same gold: the gate passes, then fails."""
    gold = tmp_path / "gold.jsonl"
    ev.write_jsonl(gold, GEO_GOLD)
    good = ev.score_geo(GEO_GOLD, GEO_PRED)
    floors = {"geo": {"recognition_exact.f1": good["recognition_exact"]["f1"] - 0.01,
                      "end_to_end_accuracy_at_161km": good["end_to_end_accuracy_at_161km"] - 0.01}}
    corrupted = json.loads(json.dumps(GEO_PRED))
    for row in corrupted:
        for t in row["toponyms"]:
            t["start"] += 1          # every span shifted: no exact match left
            t["lat"], t["lon"] = -t["lat"] if t["lat"] else None, t["lon"]
    pred = tmp_path / "pred.jsonl"
    ev.write_jsonl(pred, corrupted)
    assert ev.check_floors({"geo": good}, floors) == []
    worse = ev.run_geo(gold, predictions=pred).scores
    assert len(ev.check_floors({"geo": worse}, floors)) == 2


def _synthetic_scores() -> dict[str, dict[str, Any]]:
    case = [{"id": str(i), "text": "t", "label": lab} for i, lab in enumerate(sorted(ev.CASE_SUB3))]
    geo = ev.score_geo(GEO_GOLD, GEO_PRED)
    return {"events": ev.score_events(GSR, _perfect()), "classify": ev.score_classify(case, case), "geo": geo}


def test_pinned_floors_name_real_metrics() -> None:
    """Every floor in accuracy_floors.json names a metric the scorers produce, within [0, 1]."""
    if not FLOORS.exists():
        pytest.skip("benchmarks/accuracy_floors.json not written yet")
    pinned = json.loads(FLOORS.read_text(encoding="utf-8"))
    produced = {task: set(ev.flatten(s)) for task, s in _synthetic_scores().items()}
    assert pinned["suites"]
    for name, suite in pinned["suites"].items():
        assert suite["task"] in produced, name
        for metric, floor in suite["floors"].items():
            assert metric in produced[suite["task"]], (name, metric)
            assert 0.0 <= floor <= 1.0


def test_check_floors_script_exits_nonzero_below_floor(tmp_path: Path) -> None:
    script = ROOT / "benchmarks" / "check_floors.py"
    if not script.exists():
        pytest.skip("benchmarks/check_floors.py not written yet")
    floors = tmp_path / "floors.json"
    floors.write_text(json.dumps({"suites": {"lgl": {"task": "geo", "gold": "geo/lgl.jsonl", "limit": 3,
                                                     "floors": {"recognition_exact.f1": 0.6}}}}))
    scores = tmp_path / "scores.json"
    scores.write_text(json.dumps({"lgl": {"recognition_exact": {"f1": 0.59}}}))
    run = [sys.executable, str(script), "--floors", str(floors), "--scores", str(scores)]
    failed = subprocess.run(run, check=False, capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1 and "below its floor" in failed.stdout + failed.stderr
    scores.write_text(json.dumps({"lgl": {"recognition_exact": {"f1": 0.61}}}))
    assert subprocess.run(run, check=False, capture_output=True, text=True, timeout=60).returncode == 0


def test_flatten_skips_non_numbers() -> None:
    assert ev.flatten({"a": {"b": 1, "c": None, "d": True, "e": "x"}, "f": 0.5}) == {"a.b": 1.0, "f": 0.5}


def test_event_with_place_and_when_is_serialisable() -> None:
    place = Place(name="United Kingdom", country="GB", span=Span(start=0, end=7, text="Britain"))
    event = _event("ASSAULT", place=place).model_copy(update={"when": When(granularity="day")})
    row = ev.event_prediction("x", _analysis([event]))
    assert json.loads(json.dumps(row))["place"]["text"] == "Britain"


class _FakeEngine:
    """Stands in for the Engine: one ASSAULT event per document, a place mention on its first word."""

    def __init__(self) -> None:
        self.calls: list[tuple[int | None, int | None]] = []

    def analyze_many(self, documents: list[Document], *, batch_size: int | None = None,
                     n_process: int | None = None) -> Any:
        self.calls.append((batch_size, n_process))
        for doc in documents:
            first = doc.text.split()[0]
            event = _event("ASSAULT", source="SYRMIL", target="SYRREB").model_copy(update={"doc_id": doc.id})
            place = _mention("place", 0, len(first), lat=34.73, lon=36.72, geonameid=169577)
            yield Analysis(document=doc, events=[event], mentions=[place])


def test_runners_with_a_stand_in_engine(tmp_path: Path) -> None:
    gold = tmp_path / "gsr.jsonl"
    ev.write_jsonl(gold, [
        {"id": "a", "text": "Syrian troops attacked rebel positions near Homs.", "label": "ASSAULT", "date": "2000-01-01",
         "source": [{"code": "SYR", "sector": "MIL"}], "target": [{"code": "SYR", "sector": "REB"}],
         "source_codes": ["SYR"], "target_codes": ["SYR"], "reciprocal": False},
        {"id": "b", "text": "   ", "label": "AGREE", "source": [], "target": [], "source_codes": [],
         "target_codes": [], "reciprocal": False},
    ])
    engine = _FakeEngine()
    report = ev.run_events(gold, engine=engine, n_process=2)  # type: ignore[arg-type]
    assert engine.calls == [(32, 2)]
    assert report.failures and "empty" in report.failures[0]          # refused input: reported, scored as missed
    assert report.scores["fields"]["type"]["tp"] == 1 and report.scores["fields"]["type"]["gold"] == 2
    assert report.scores["fields"]["source_full"]["f1"] == 1.0
    assert ev.run_events(gold, limit=1, engine=_FakeEngine()).documents == 1  # type: ignore[arg-type]

    geo = tmp_path / "geo.jsonl"
    ev.write_jsonl(geo, [{"id": "g", "text": "Homs was shelled.", "toponyms": [
        {"start": 0, "end": 4, "name": "Homs", "lat": 34.72682, "lon": 36.72339, "geonameid": 169577}]}])
    scores = ev.run_geo(geo, engine=_FakeEngine()).scores  # type: ignore[arg-type]
    assert scores["recognition_exact"]["f1"] == 1.0 and scores["end_to_end_accuracy_at_161km"] == 1.0


def test_run_classify_with_a_stand_in_engine(tmp_path: Path, mapping: ev.CaseMapping) -> None:
    gold = tmp_path / "case.jsonl"
    ev.write_jsonl(gold, [{"id": "1", "text": "Troops attacked rebels in the town.", "label": "ARMED_CLASH"},
                          {"id": "2", "text": "Police attacked the crowd in the capital.", "label": "ATTACK"}])
    report = ev.run_classify(gold, mapping=mapping, engine=_FakeEngine())  # type: ignore[arg-type]
    assert [p["label"] for p in report.predictions] == ["ARMED_CLASH", "ARMED_CLASH"]
    assert report.scores["all"]["accuracy_micro_f1"] == 0.5 and report.scores["prediction_sources"] == {"event": 2}


class _CrashingEngine(_FakeEngine):
    """Raises on documents that mention "boom", as an engine bug would."""

    def analyze_many(self, documents: list[Document], *, batch_size: int | None = None,
                     n_process: int | None = None) -> Any:
        if any("boom" in d.text for d in documents):
            raise RecursionError("maximum recursion depth exceeded")
        yield from super().analyze_many(documents, batch_size=batch_size, n_process=n_process)


def test_an_engine_crash_costs_one_document_not_the_run(tmp_path: Path) -> None:
    gold = tmp_path / "geo.jsonl"
    rows = [{"id": str(i), "text": f"Homs {'boom' if i == 1 else 'calm'} today.", "toponyms": [
        {"start": 0, "end": 4, "name": "Homs", "lat": 34.72, "lon": 36.72, "geonameid": 169577}]} for i in range(3)]
    ev.write_jsonl(gold, rows)
    report = ev.run_geo(gold, engine=_CrashingEngine(), batch_size=2)  # type: ignore[arg-type]
    assert len(report.failures) == 1 and "1: engine error RecursionError" in report.failures[0]
    assert report.scores["recognition_exact"]["matched"] == 2 and report.scores["recognition_exact"]["gold"] == 3


def test_minimal_user_gold_scores() -> None:
    """A user's own file with only id, text and label is accepted; optional fields score when present."""
    gold = [{"id": 1, "text": "t", "label": "PROTEST", "modality": "negated", "event_date": "2024-12-06"},
            {"id": 2, "text": "t", "label": "AID"}]
    pred = [{"id": "1", "label": "PROTEST", "modality": "negated", "date": "2024-12-06", "source_codes": ["FRA"]},
            {"id": "2", "label": "AGREE"}]
    s = ev.score_events(gold, pred)
    assert s["labels"]["accuracy_micro_f1"] == 0.5
    assert s["fields"]["modality"]["f1"] == 1.0 and s["fields"]["date"]["f1"] == 1.0
    assert s["fields"]["source_country"]["precision"] == 0.0 and s["actor_code_set_match"]["n_scored"] == 1


class _HangingEngine(_FakeEngine):
    """Never returns on documents that mention "loop", as an endless loop in a stage would."""

    def analyze_many(self, documents: list[Document], *, batch_size: int | None = None,
                     n_process: int | None = None) -> Any:
        if any("loop" in d.text for d in documents):
            while True:
                time.sleep(0.01)
        yield from super().analyze_many(documents, batch_size=batch_size, n_process=n_process)


def test_a_stalled_document_times_out() -> None:
    records = [{"id": "a", "text": "Homs is calm."}, {"id": "b", "text": "Homs loop again."}]
    analyses, failures = ev.analyze_records(records, _HangingEngine(), timeout_s=0.2)  # type: ignore[arg-type]
    assert analyses[0] is not None and analyses[1] is None
    assert len(failures) == 1 and "EngineTimeout" in failures[0]


def test_coding_failures_are_reported() -> None:
    class _Failing(_FakeEngine):
        def analyze_many(self, documents: list[Document], *, batch_size: int | None = None,
                         n_process: int | None = None) -> Any:
            for doc in documents:
                yield Analysis(document=doc, warnings=["E401: coding failed (TypeError: x); stored without events"])

    analyses, failures = ev.analyze_records([{"id": "a", "text": "Homs is calm."}], _Failing())  # type: ignore[arg-type]
    assert analyses[0] is not None and failures == ["a: E401: coding failed (TypeError: x); stored without events"]
