"""End to end on the bundled sample (published 2024-12-07): the issue's acceptance checks."""

from __future__ import annotations

import datetime as dt

import pytest

FRIDAY = dt.date(2024, 12, 6)


def _events(analysis, type_):
    return [e for e in analysis.events if e.type == type_]


def test_evacuation_is_reported_retreat_by_iran_from_syria_on_friday(sample_analysis):
    retreats = [e for e in _events(sample_analysis, "RETREAT")
                if e.source_actor and (e.source_actor.country or "").startswith("IRN")]
    assert retreats, [(e.type, e.source_actor) for e in sample_analysis.events]
    dated = [e for e in retreats if e.when.start == FRIDAY]
    assert dated, [(e.evidence["trigger"].text, e.when) for e in retreats]
    event = dated[0]
    assert event.source_actor.code.startswith("IRN")
    assert event.source_actor.sector in (None, "GOV", "MIL") or event.source_actor.code in ("IRN", "IRNGOV", "IRNMIL")
    assert event.when.granularity == "day"
    assert event.modality == "reported"
    names = [s.name for s in event.attribution]
    assert names[0] == "RBK-Ukraine" and names[1] == "The New York Times", names
    assert event.attribution[-1].anonymous and "officials" in event.attribution[-1].name.lower()
    syria = [e for e in retreats if (e.place and e.place.country == "SY") or
             (e.target_actor and e.target_actor.code == "SYR")]
    assert syria


def test_capture_of_homs_and_deir_ez_zor_dated_friday_in_syria(sample_analysis):
    captured = {e.place.name: e for e in sample_analysis.events
                if e.place is not None and e.evidence["trigger"].text == "captured"}
    assert {"Homs", "Deir ez-Zor"} <= set(captured) or len(captured) == 2, captured.keys()
    for event in captured.values():
        assert event.type == "ASSAULT"
        assert event.when.start == FRIDAY
        assert event.place.country == "SY"
        assert event.source_actor is not None and "REB" in (event.source_actor.code or "")
        assert event.modality in ("reported", "asserted")


BACKGROUND = ("throughout the 13-year civil war", "has long sent", "during the height of the civil war")


def test_background_is_historical(sample_analysis):
    background = [e for e in sample_analysis.events
                  if any(cue in e.evidence["sentence"].text for cue in BACKGROUND)]
    assert len(background) >= 3, [(e.type, e.evidence["trigger"].text) for e in sample_analysis.events]
    for event in background:
        assert event.modality == "historical", (event.evidence["trigger"].text, event.evidence["sentence"].text[:70])


@pytest.mark.parametrize("name,country", [
    ("Damascus", "SY"), ("Latakia", "SY"), ("Aleppo", "SY"), ("Hama", "SY"), ("Homs", "SY"),
    ("Deir ez-Zor", "SY"), ("Tehran", "IR"),
])
def test_places_resolve_to_the_right_cities(sample_analysis, name, country):
    places = [m for m in sample_analysis.mentions if m.kind == "place" and m.span.text == name]
    assert places, f"{name} not recognised as a place"
    for mention in places:
        assert mention.value["country"] == country
        assert mention.value["feature"] != "country"


def test_every_event_has_evidence_chain_and_modality(sample_analysis):
    text = sample_analysis.document.text
    assert sample_analysis.events
    for event in sample_analysis.events:
        assert {"trigger", "sentence"} <= set(event.evidence)
        for span in event.evidence.values():
            assert text[span.start:span.end] == span.text
        if event.source_actor is not None:
            assert "source" in event.evidence
        if event.place is not None:
            assert "place" in event.evidence
        if event.when.start is not None:
            assert "time" in event.evidence
        assert event.attribution, event
        assert event.modality in ("asserted", "reported", "hedged", "negated", "future", "historical")


def test_document_chain(sample_analysis):
    assert [s.name for s in sample_analysis.document_chain][:2] == ["RBK-Ukraine", "The New York Times"]
