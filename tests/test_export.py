"""Exports: every format written, then read back with an independent reader (csv, json, pyarrow)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import tidings.store.export as export_module
from tidings.core.errors import InputError
from tidings.core.records import Actor, Event, Place, Source, Span, When
from tidings.store.database import Store
from tidings.store.export import FLAT_COLUMNS, FORMATS, event_from_record, export_events, guess_format

DAMASCUS = Place(geonameid=170654, name="Damascus", country="SY", country3="SYR", admin1="Damascus",
                 lat=33.51, lon=36.29, feature="city", span=Span(start=30, end=38, text="Damascus"))


def make_event(n: int, **fields: Any) -> Event:
    base: dict[str, Any] = {
        "id": f"doc1-e{n}", "doc_id": "doc1", "type": "RETREAT", "mode": "withdraw",
        "contexts": ["military", "refugees"], "cameo": "0874",
        "source_actor": Actor(code="IRNMIL", name="Iranian forces", country="IRN", sector="MIL",
                              span=Span(start=0, end=7, text="Iranian")),
        "target_actor": Actor(code="SYR", name="Syria", country="SYR", kind="state"),
        "place": DAMASCUS,
        "when": When(start=dt.date(2024, 12, 6), end=dt.date(2024, 12, 7), granularity="range"),
        "modality": "reported",
        "attribution": [Source(name="RBK-Ukraine", kind="outlet"), Source(name="The New York Times",
                        kind="outlet"), Source(name="three Iranian officials", kind="anonymous", anonymous=True)],
        "confidence": 0.75, "sentence": 2, "coder": "tidings@test",
        "evidence": {"trigger": Span(start=20, end=29, text="evacuated"),
                     "sentence": Span(start=0, end=60, text="Iranian forces evacuated Damascus, officials said.")},
    }
    base.update(fields)
    return Event(**base)


@pytest.fixture()
def events() -> list[Event]:
    return [make_event(0), make_event(1, place=None, when=When(), contexts=[], target_actor=None,
                                      evidence={}, attribution=[]),
            make_event(2, type="ASSAULT", place=DAMASCUS.model_copy(update={"lat": None, "lon": None}))]


def test_csv_round_trip(tmp_path: Path, events: list[Event]) -> None:
    path = tmp_path / "out" / "events.csv"
    assert export_events(events, "csv", path) == 3
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == FLAT_COLUMNS
        rows = list(reader)
    first, bare = rows[0], rows[1]
    assert first["id"] == "doc1-e0" and first["type"] == "RETREAT"
    assert first["contexts"] == "military;refugees"
    assert first["attribution"] == "RBK-Ukraine > The New York Times > three Iranian officials"
    assert (first["date_start"], first["date_end"]) == ("2024-12-06", "2024-12-07")
    assert float(first["place_lat"]) == 33.51 and first["place_country3"] == "SYR"
    assert first["source_code"] == "IRNMIL" and first["target_name"] == "Syria"
    assert first["trigger"] == "evacuated" and first["evidence_text"].startswith("Iranian forces")
    assert bare["place_name"] == "" and bare["date_start"] == "" and bare["attribution"] == ""


def test_jsonl_is_plover_and_lossless(tmp_path: Path, events: list[Event]) -> None:
    path = tmp_path / "events.jsonl"
    assert export_events(events, "jsonl", path) == 3
    records = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert [event_from_record(r) for r in records] == events
    first = records[0]
    assert first["event_date"] == first["date"] == "2024-12-06" and first["enddate"] == "2024-12-07"
    assert first["event_type"] == "RETREAT" and first["event"] == ["RETREAT"]
    assert first["mode"] == "withdraw" and first["context"] == ["military", "refugees"]
    assert first["actor"] == [{"code": "IRN", "sector": "MIL", "entity_text": "Iranian",
                               "identifier_text": "Iranian forces", "actor_code": "IRNMIL"}]
    assert first["recipient"][0]["code"] == "SYR"
    assert first["country"] == "SYR"
    loc = first["event_loc"]
    assert (loc["resolved_place"], loc["geonameid"], loc["lat"], loc["lon"]) == ("Damascus", 170654, 33.51, 36.29)
    assert loc["country_code"] == "SYR" and loc["resolution"] == 4 and loc["extracted_place"] == "Damascus"
    assert first["event_text"] == ["evacuated"] and first["raw_text"].startswith("Iranian forces evacuated")
    bare = records[1]
    assert bare["event_loc"] is None and bare["recipient"] == [] and bare["date"] is None
    assert bare["country"] == "IRN"                      # no place: the acting actor's country


def test_json_is_one_array(tmp_path: Path, events: list[Event]) -> None:
    path = tmp_path / "events.json"
    assert export_events(iter(events), "json", path) == 3
    data = json.loads(path.read_text("utf-8"))
    assert [event_from_record(r) for r in data] == events
    empty = io.StringIO()
    assert export_events([], "json", empty) == 0
    assert json.loads(empty.getvalue()) == []


def test_parquet_row_groups_and_types(tmp_path: Path, events: list[Event],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_module, "PARQUET_ROW_GROUP", 2)
    path = tmp_path / "events.parquet"
    assert export_events(events, "parquet", path) == 3
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_row_groups == 2           # streamed in groups, not built whole
    table = parquet.read()
    assert tuple(table.column_names) == FLAT_COLUMNS and table.num_rows == 3
    rows = table.to_pylist()
    assert rows[0]["date_start"] == dt.date(2024, 12, 6) and rows[0]["place_geonameid"] == 170654
    assert rows[0]["contexts"] == ["military", "refugees"] and rows[0]["confidence"] == 0.75
    assert rows[1]["place_lat"] is None and rows[1]["attribution"] == []


def test_empty_parquet_still_has_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "none.parquet"
    assert export_events([], "parquet", path) == 0
    assert tuple(pq.read_table(path).column_names) == FLAT_COLUMNS


def test_geojson_skips_events_without_coordinates(tmp_path: Path, events: list[Event],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "events.geojson"
    assert export_events(events, "geojson", path) == 1
    collection = json.loads(path.read_text("utf-8"))
    assert collection["type"] == "FeatureCollection"
    [feature] = collection["features"]
    assert feature["geometry"] == {"type": "Point", "coordinates": [36.29, 33.51]}   # lon, lat
    assert feature["properties"]["type"] == "RETREAT" and feature["properties"]["date_start"] == "2024-12-06"
    assert collection["tidings"] == {"skipped_without_coordinates": 2}
    assert "2 event(s) without coordinates" in caplog.text


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "geojson"])
def test_text_formats_go_to_text_and_binary_streams(fmt: str, events: list[Event]) -> None:
    text, binary = io.StringIO(), io.BytesIO()
    export_events(events, fmt, text)
    export_events(events, fmt, binary)
    assert binary.getvalue().decode("utf-8") == text.getvalue()
    assert not binary.closed                              # the caller's stream stays theirs


def test_parquet_to_a_binary_stream_but_not_a_text_one(events: list[Event]) -> None:
    buffer = io.BytesIO()
    assert export_events(events, "parquet", buffer) == 3
    assert pq.read_table(io.BytesIO(buffer.getvalue())).num_rows == 3
    with pytest.raises(InputError) as err:
        export_events(events, "parquet", io.StringIO())
    assert err.value.code == "E303"


def test_unknown_format_and_guessing(events: list[Event]) -> None:
    with pytest.raises(InputError) as err:
        export_events(events, "xlsx", io.StringIO())
    assert err.value.code == "E302" and "parquet" in str(err.value)
    assert guess_format("a/b.GEOJSON") == "geojson" and guess_format("x.ndjson") == "jsonl"
    assert {guess_format(f"x.{f}") for f in FORMATS} == set(FORMATS)
    with pytest.raises(InputError):
        guess_format("events.txt")


def test_export_straight_from_the_store(tmp_path: Path, events: list[Event]) -> None:
    from tidings.core.records import Analysis, Document

    doc = Document(id="doc1", text="Iranian forces evacuated Damascus, officials said.")
    with Store(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.save(Analysis(document=doc, events=events))
        path = tmp_path / "all.jsonl"
        assert export_events(store.iter_events(modality="reported"), "jsonl", path) == 3
    exported = {event_from_record(json.loads(line)).id for line in path.read_text("utf-8").splitlines()}
    assert exported == {e.id for e in events}
