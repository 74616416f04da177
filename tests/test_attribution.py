"""Who says so and who acts: attribution scope and named agents NER misses (cases.jsonl holds the wire-style
must/must-not cases; these check fields the case format cannot name)."""

from __future__ import annotations

from tidings.core.records import Document


def _events(engine, text: str):
    return engine.analyze(Document(id=str(abs(hash(text))), text=text, published="2025-05-05")).events


def test_proper_noun_subject_missed_by_ner_is_a_named_actor(engine):
    # The small NER model reads this surname as a date or a place; as the subject of "blame" it is the agent.
    events = _events(engine, "Last week Stumpf appeared to blame low-level workers for the fraud.")
    sources = [e.source_actor.name for e in events if e.type == "ACCUSE" and e.source_actor is not None]
    assert sources == ["Stumpf"]


def test_weekday_subject_is_not_an_actor(engine):
    events = _events(engine, "Sunday marked the end of the ceasefire, and militias shelled the airport in Tripoli.")
    assert all(e.source_actor is None or e.source_actor.name != "Sunday" for e in events)


def test_pronoun_statement_is_not_the_document_source(engine):
    analysis = engine.analyze(Document(id="pron-chain", text="He said it over and over at the rally. "
                                       "Police detained four activists in Lagos on Sunday.", published="2025-05-05"))
    assert [s.name for s in analysis.document_chain] == []
