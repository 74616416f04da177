"""The API's rows read from stored JSON (tidings.api.rows) equal the rows built through the Event model."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.api.rows import EVENT_KEYS, current, event_json, flat_record, flat_row, flat_row_json, parse
from tidings.core.records import Actor, Casualty, Event, Place, Source, Span, When
from tidings.store.export import FLAT_COLUMNS

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
maybe_text = st.none() | text
spans = st.builds(Span, start=st.integers(0, 50), end=st.integers(50, 99), text=text)
actors = st.none() | st.builds(Actor, code=maybe_text, name=text, country=maybe_text, sector=maybe_text,
                               span=st.none() | spans)
places = st.none() | st.builds(
    Place, geonameid=st.none() | st.integers(1, 10**7), name=text, country=maybe_text, country3=maybe_text,
    admin1=maybe_text, lat=st.none() | st.floats(-90, 90), lon=st.none() | st.floats(-180, 180),
    feature=st.sampled_from(["city", "site", "admin1", "country"]),
    precision=st.sampled_from(["exact", "city", "admin1", "country"]))
dates = st.none() | st.dates(dt.date(1950, 1, 1), dt.date(2030, 12, 31))
whens = st.builds(When, start=dates, end=dates, granularity=st.sampled_from(["day", "month", "year", "unknown"]))
counts = st.none() | st.integers(0, 10**6)
casualties = st.builds(Casualty, kind=st.sampled_from(["killed", "injured", "missing", "arrested"]), low=counts,
                       high=counts, qualifier=st.sampled_from(["exact", "at_least", "up_to", "range"]),
                       background=st.booleans(), source=maybe_text, span=spans)
sources = st.builds(Source, name=text, kind=st.sampled_from(["person", "official", "outlet"]),
                    anonymous=st.booleans())
evidence = st.fixed_dictionaries({}, optional={"trigger": spans, "sentence": spans})
events = st.builds(
    Event, id=st.from_regex(r"[0-9a-f]{8}-[0-9]", fullmatch=True), doc_id=st.just("d" * 16),
    type=st.sampled_from(["ASSAULT", "AID", "PROTEST"]), mode=maybe_text, contexts=st.lists(text, max_size=3),
    cameo=maybe_text, source_actor=actors, target_actor=actors, place=places, when=whens,
    modality=st.sampled_from(["asserted", "reported", "hedged"]), attribution=st.lists(sources, max_size=3),
    confidence=st.floats(0, 1), evidence=evidence, sentence=st.integers(0, 40), coder=text,
    casualties=st.lists(casualties, max_size=4))


def model_row(event: Event, sources: int | None) -> object:
    """The row as the model path answers it, through JSON (as a client reads it)."""
    return json.loads(json.dumps(flat_row(event, sources), ensure_ascii=False))


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(events, st.none() | st.integers(1, 9))
def test_the_flat_row_read_from_stored_json_is_the_models_row(event: Event, sources: int | None) -> None:
    stored = event.model_dump_json()   # what the store keeps
    data = parse(stored)
    assert current(data)
    fast = flat_record(data, sources)
    assert list(fast) == [*FLAT_COLUMNS, "anonymous", "independent_sources"]
    assert json.loads(flat_row_json(stored, data, sources)) == model_row(event, sources)
    assert event_json(stored) == stored


def test_a_row_written_by_an_older_tidings_goes_through_the_model() -> None:
    """A stored row without a field added since (here ``casualties``) is not current: the model fills it."""
    event = Event(id="00000001-0", doc_id="d" * 16, type="ASSAULT", when=When(start=dt.date(2024, 1, 2)),
                  attribution=[Source(name="a witness", anonymous=True)],
                  place=Place(name="Gao", lat=16.27, lon=-0.04))
    old = json.loads(event.model_dump_json())
    del old["casualties"]
    stored = json.dumps(old)
    data = parse(stored)
    assert not current(data) and tuple(data) != EVENT_KEYS
    assert json.loads(event_json(stored)) == json.loads(event.model_dump_json())
    row = json.loads(flat_row_json(stored, data, 3))
    assert row == model_row(event, 3)
    assert row["casualties"] == [] and row["anonymous"] is True and row["independent_sources"] == 3
