"""Stated intentions and refusals (tidings.stages.intent): the strict-PLOVER recoding keeps what was promised."""

from __future__ import annotations

import pytest

from tidings import analyze
from tidings.core.settings import Settings
from tidings.pipeline import Engine

PROMISE = "The rebel command said on Monday it will release the two aid workers it seized near Goma."


def test_promise_is_agree_and_keeps_the_act() -> None:
    events = analyze(PROMISE, published="2024-07-01").events
    promise = [e for e in events if e.type == "AGREE"]
    assert promise and all(e.modality == "asserted" for e in promise)
    intended = promise[0].why["intended"]
    assert intended["type"] == "RETREAT" and intended["modality"] == "future" and intended["cue"] == "will"
    assert promise[0].evidence["trigger"].text == "release"
    assert not [e for e in events if e.type == "RETREAT" and e.modality == "asserted"]


@pytest.fixture(scope="module")
def acts_engine() -> Engine:
    return Engine(Settings(strict_plover=False))


def test_switch_keeps_acts(acts_engine: Engine) -> None:
    events = acts_engine.analyze(PROMISE, published="2024-07-01").events
    assert [e.type for e in events if e.type in ("RETREAT", "AGREE")] == ["RETREAT"]
    assert all(e.modality == "future" for e in events if e.type == "RETREAT")
    assert not any("intended" in e.why for e in events)
