"""The learned layer: encoder, heads, calibration, `tidings train`, and the coder switch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tidings.cli.main import app
from tidings.stages.coder import (
    DEFAULT_MODEL_DIR,
    ENCODER_DIR,
    NONE,
    Encoder,
    LearnedCoder,
    isotonic_curve,
    load_head,
    reliability,
)

runner = CliRunner()

VIOLENCE = ["Gunmen attacked a police post near {p}, killing four officers.",
            "Artillery shelled the outskirts of {p} overnight, wounding civilians.",
            "A car bomb exploded outside a market in {p}, killing eleven people.",
            "Soldiers opened fire on a crowd in {p}, killing two.",
            "Militants ambushed an army convoy on the road to {p}.",
            "Drones struck an oil depot in {p} before dawn."]
TALKS = ["The foreign ministers met in {p} to discuss the border dispute.",
         "Delegations held a second round of talks in {p} on Tuesday.",
         "The envoy visited {p} for consultations with the prime minister.",
         "Negotiators from both sides convened in {p} for a summit.",
         "The two presidents spoke by telephone and agreed to meet in {p}.",
         "Officials gathered in {p} for a conference on regional security."]
PLACES = ["Kano", "Mosul", "Herat", "Goma", "Aden", "Idlib"]


def _gold(tmp_path: Path) -> Path:
    rows = [{"id": f"v{i}-{j}", "text": t.format(p=p), "label": "VIOLENCE"}
            for i, t in enumerate(VIOLENCE) for j, p in enumerate(PLACES)]
    rows += [{"id": f"t{i}-{j}", "text": t.format(p=p), "label": "TALKS"}
             for i, t in enumerate(TALKS) for j, p in enumerate(PLACES)]
    path = tmp_path / "gold.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_encoder_gives_normalised_vectors_that_separate_meanings():
    encoder = Encoder(ENCODER_DIR)
    vectors = encoder.encode(["Rebels attacked the town.", "Insurgents assaulted the village.",
                              "The central bank raised interest rates."])
    assert vectors.shape == (3, encoder.dim)
    assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-4
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])
    assert encoder.encode([]).shape == (0, encoder.dim)


def test_isotonic_curve_is_monotone_and_reliability_counts():
    confidences = [0.1, 0.2, 0.3, 0.6, 0.7, 0.9, 0.95, 0.99]
    correct = [False, False, True, False, True, True, True, True]
    xs, ys = isotonic_curve(confidences, correct)
    assert xs == sorted(xs) and ys == sorted(ys) and 0.0 <= ys[0] and ys[-1] <= 1.0
    table = reliability(confidences, correct, bins=5)
    assert table["n"] == 8 and sum(b["n"] for b in table["bins"]) == 8
    assert reliability([1.0, 1.0], [True, True])["ece"] == 0.0


def test_train_cli_scores_saves_and_classifies(tmp_path):
    gold = _gold(tmp_path)
    out = tmp_path / "head"
    result = runner.invoke(app, ["train", str(gold), "--out", str(out), "--folds", "3", "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    assert scores["rows"] == 72 and scores["accuracy"] >= 0.9 and scores["C"] in (1.0, 4.0, 16.0, 64.0)
    assert scores["reliability_raw"]["n"] == 72
    head = load_head(out)
    assert sorted(head.labels) == ["TALKS", "VIOLENCE"] and head.calibration is not None
    assert not head.uses_rules

    unseen = tmp_path / "unseen.jsonl"
    unseen.write_text(json.dumps({"id": "a", "text": "Troops bombed a hospital in Sirte.", "label": "VIOLENCE"}) + "\n"
                      + json.dumps({"id": "b", "text": "Leaders held talks in Doha.", "label": "TALKS"}) + "\n")
    result = runner.invoke(app, ["eval", "classify", str(unseen), "--model", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["scores"]["all"]["accuracy_micro_f1"] == 1.0


def test_train_chooses_class_weighting_by_cross_validation(tmp_path):
    gold = _gold(tmp_path)
    out = tmp_path / "head"
    result = runner.invoke(app, ["train", str(gold), "--out", str(out), "--folds", "3", "--json", "-C", "4"])
    scores = json.loads(result.output)
    assert set(scores["C_tried"]) == {"4", "4 balanced"} and scores["class_weight"] in (None, "balanced")
    result = runner.invoke(app, ["train", str(gold), "--out", str(out), "--folds", "3", "--json", "-C", "4",
                                 "--class-weight", "balanced"])
    scores = json.loads(result.output)
    assert list(scores["C_tried"]) == ["4 balanced"] and load_head(out).meta["class_weight"] == "balanced"
    result = runner.invoke(app, ["train", str(gold), "--out", str(out), "--class-weight", "heavy"])
    assert result.exit_code == 2 and "E504" in result.output


def test_bad_coder_choices_answer_in_one_line(tmp_path):
    result = runner.invoke(app, ["analyze", "-", "--coder", "bogus", "--no-store"], input="Rebels attacked Homs.")
    assert result.exit_code == 2 and "E503" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["analyze", "-", "--model", str(tmp_path), "--no-store"], input="x")
    assert result.exit_code == 2 and "E501" in result.output and len(result.output.strip().splitlines()) == 1
    gold = _gold(tmp_path)
    runner.invoke(app, ["train", str(gold), "--out", str(tmp_path / "h"), "--folds", "0"])
    result = runner.invoke(app, ["analyze", "-", "--model", str(tmp_path / "h"), "--no-store"], input="x")
    assert result.exit_code == 2 and "not PLOVER types" in result.output
    result = runner.invoke(app, ["train", str(gold), "--out", str(tmp_path / "h2"), "--label", "nothing"])
    assert result.exit_code == 1 and "E502" in result.output


def test_shipped_head_is_a_plover_event_head():
    head = load_head(DEFAULT_MODEL_DIR)
    assert NONE in head.labels and "ASSAULT" in head.labels and head.uses_rules
    assert head.calibration is not None and set(head.policy) == {"drop", "retype", "add"}
    assert head.meta["sources"]["wikinews"] >= 2000


def test_learned_layer_judges_rule_events_and_explains(engine_learned):
    analysis = engine_learned.analyze("Rebels attacked an army base near Homs on Friday, killing nine soldiers.",
                                      published="2024-12-07")
    assault = [e for e in analysis.events if e.type == "ASSAULT"]
    assert assault, analysis.events
    event = assault[0]
    assert event.why["rule"].startswith("verbs.jsonl:") and event.why["model"][0][0] == "ASSAULT"
    assert 0.0 <= event.confidence <= 1.0 and "trigger" in event.evidence


def test_learned_layer_drops_what_is_no_event(engine_learned, engine_rules):
    # A business offer the trigger row "offer → AGREE" codes; the model knows it is no political event.
    text = "Apple offered a new discount to students at Harvard University."
    rule_events = engine_rules.analyze(text).events
    assert [e.type for e in rule_events] == ["AGREE"] and all("model" not in e.why for e in rule_events)
    assert engine_learned.analyze(text).events == []


@pytest.fixture(scope="module")
def engine_learned():
    from tidings.core.settings import Settings
    from tidings.pipeline import Engine

    engine = Engine(Settings(coder_mode="learned"))
    assert isinstance(engine.learned, LearnedCoder)
    return engine


@pytest.fixture(scope="module")
def engine_rules():
    from tidings.core.settings import Settings
    from tidings.pipeline import Engine

    engine = Engine(Settings(coder_mode="rules"))
    assert engine.learned is None
    return engine
