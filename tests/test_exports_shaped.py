"""ACLED- and GDELT-shaped exports: the datasets' own column names and code values; Parquet in row groups.

Events are built by hand (no model needed). Expected values come from the ACLED codebook (2023/2024 columns,
inter codes, precision codes, ISO numeric country codes) and the GDELT 2.0 event codebook (CAMEO codes,
QuadClass, FIPS 10-4 geography, geo types).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest

from tidings.core.records import Actor, Document, Event, Place, Source, Span, When
from tidings.store.export import ACLED_COLUMNS, GDELT_COLUMNS, acled_row, export_events, gdelt_row

# As ACLED publishes them (export files and API, since March 2023).
ACLED_PUBLISHED = ["event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type", "sub_event_type", "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2", "interaction", "civilian_targeting", "iso", "region", "country", "admin1", "admin2", "admin3", "location", "latitude", "longitude", "geo_precision", "source", "source_scale", "notes", "fatalities", "tags", "timestamp"]
# As GDELT 2.0 publishes them (event codebook V2.0; BigQuery gdeltv2.events).
GDELT_PUBLISHED = ["GLOBALEVENTID", "SQLDATE", "MonthYear", "Year", "FractionDate", "Actor1Code", "Actor1Name", "Actor1CountryCode", "Actor1KnownGroupCode", "Actor1EthnicCode", "Actor1Religion1Code", "Actor1Religion2Code", "Actor1Type1Code", "Actor1Type2Code", "Actor1Type3Code", "Actor2Code", "Actor2Name", "Actor2CountryCode", "Actor2KnownGroupCode", "Actor2EthnicCode", "Actor2Religion1Code", "Actor2Religion2Code", "Actor2Type1Code", "Actor2Type2Code", "Actor2Type3Code", "IsRootEvent", "EventCode", "EventBaseCode", "EventRootCode", "QuadClass", "GoldsteinScale", "NumMentions", "NumSources", "NumArticles", "AvgTone", "Actor1Geo_Type", "Actor1Geo_FullName", "Actor1Geo_CountryCode", "Actor1Geo_ADM1Code", "Actor1Geo_ADM2Code", "Actor1Geo_Lat", "Actor1Geo_Long", "Actor1Geo_FeatureID", "Actor2Geo_Type", "Actor2Geo_FullName", "Actor2Geo_CountryCode", "Actor2Geo_ADM1Code", "Actor2Geo_ADM2Code", "Actor2Geo_Lat", "Actor2Geo_Long", "Actor2Geo_FeatureID", "ActionGeo_Type", "ActionGeo_FullName", "ActionGeo_CountryCode", "ActionGeo_ADM1Code", "ActionGeo_ADM2Code", "ActionGeo_Lat", "ActionGeo_Long", "ActionGeo_FeatureID", "DATEADDED", "SOURCEURL"]

SYRGOV = Actor(code="SYRGOV", name="Syrian government", country="SYR", sector="GOV", kind="organization")
SYRMIL = Actor(code="SYRMIL", name="Syrian army", country="SYR", sector="MIL", kind="organization")
HTS = Actor(code="SYRREB", name="Hayat Tahrir al-Sham", country="SYR", sector="REB")
RUSMIL = Actor(code="RUSMIL", name="Russian air force", country="RUS", sector="MIL")
CIVILIANS = Actor(code="SYRCVL", name="civilians", country="SYR", sector="CVL")
PROTESTERS = Actor(code="GEOCVL", name="protesters", country="GEO", sector="CVL")
POLICE = Actor(code="GEOCOP", name="police", country="GEO", sector="COP")
UN = Actor(code="IGOUNO", name="United Nations", sector="IGO", kind="organization")
IRAN = Actor(code="IRNGOV", name="Iranian government", country="IRN", sector="GOV")
HOMS = Place(geonameid=169577, name="Homs", country="SY", country3="SYR", admin1="Homs Governorate",
             admin1_code="SY.11", lat=34.72682, lon=36.72339, feature="city")
SYRIA = Place(geonameid=163843, name="Syria", country="SY", country3="SYR", lat=35.0, lon=38.0,
              feature="country", precision="country")
TBILISI = Place(geonameid=611717, name="Tbilisi", country="GE", country3="GEO", admin1="Tbilisi",
                admin1_code="GE.51", lat=41.69411, lon=44.83368, feature="city")
AUSTIN = Place(geonameid=4671654, name="Austin", country="US", country3="USA", admin1="Texas",
               admin1_code="US.TX", lat=30.26715, lon=-97.74306, feature="city")
DOC = Document.from_text("Russian jets struck Homs.", url="https://wire.example/homs", outlet="Levant Wire")


def day(iso: str) -> When:
    d = dt.date.fromisoformat(iso)
    return When(start=d, end=d, granularity="day")


def event(**fields: Any) -> Event:
    base: dict[str, Any] = {
        "id": "a9dbab8ebdf7e05e", "doc_id": DOC.id, "type": "ASSAULT", "mode": "aerial", "cameo": "195",
        "source_actor": RUSMIL, "target_actor": HTS, "place": HOMS, "when": day("2024-12-06"),
        "modality": "reported", "attribution": [Source(name="Reuters", kind="agency")], "sentence": 0,
        "evidence": {"trigger": Span(start=13, end=19, text="struck"),
                     "sentence": Span(start=0, end=25, text="Russian jets struck\nHoms.")},
    }
    base.update(fields)
    return Event(**base)


def test_columns_are_the_published_ones_in_order() -> None:
    assert list(ACLED_COLUMNS) == ACLED_PUBLISHED
    assert list(GDELT_COLUMNS) == GDELT_PUBLISHED and len(GDELT_COLUMNS) == 61


# ---------------------------------------------------------------------------------------------- ACLED

def test_acled_air_strike_by_foreign_forces() -> None:
    row = acled_row(event(), DOC)
    assert row is not None and list(row) == ACLED_PUBLISHED
    assert (row["event_type"], row["sub_event_type"], row["disorder_type"]) == (
        "Explosions/Remote violence", "Air/drone strike", "Political violence")
    assert (row["inter1"], row["inter2"], row["interaction"]) == (8, 2, 28)    # external forces vs rebels
    assert (row["event_date"], row["year"], row["time_precision"]) == ("2024-12-06", 2024, 1)
    assert (row["iso"], row["region"], row["country"]) == (760, "Middle East", "Syria")
    assert (row["location"], row["admin1"], row["geo_precision"]) == ("Homs", "Homs Governorate", 1)
    assert (row["latitude"], row["longitude"]) == (34.72682, 36.72339)
    assert row["event_id_cnty"].startswith("SYR") and row["event_id_cnty"][3:].isdigit()
    assert row["source"] == "Levant Wire; Reuters"
    assert row["notes"] == "Russian jets struck Homs."                           # one line
    assert row["fatalities"] is None                                            # not invented
    assert "tidings_id=a9dbab8ebdf7e05e" in row["tags"]


@pytest.mark.parametrize(("fields", "expected"), [
    ({"source_actor": SYRMIL, "target_actor": CIVILIANS, "mode": "firearms", "cameo": "190"},
     {"inter1": 1, "inter2": 7, "interaction": 17, "civilian_targeting": "Civilian targeting"}),
    ({"source_actor": HTS, "target_actor": SYRMIL, "mode": "firearms", "cameo": "190"},
     {"inter1": 2, "inter2": 1, "interaction": 12, "civilian_targeting": None}),
    ({"type": "PROTEST", "mode": "demonstrate", "cameo": "141", "source_actor": PROTESTERS,
      "target_actor": None, "place": TBILISI},
     {"event_type": "Protests", "disorder_type": "Demonstrations", "inter1": 6, "interaction": 60,
      "iso": 268, "region": "Caucasus and Central Asia", "country": "Georgia"}),
    ({"type": "ASSAULT", "mode": "firearms", "cameo": "190", "source_actor": HTS, "target_actor": None,
      "place": SYRIA}, {"geo_precision": 3, "location": "Syria", "inter1": 2, "interaction": 20}),
])
def test_acled_actor_types_and_interactions(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    row = acled_row(event(**fields))
    assert row is not None
    assert {k: row[k] for k in expected} == expected


@pytest.mark.parametrize(("when", "date", "precision"), [
    (When(start=dt.date(2024, 12, 2), end=dt.date(2024, 12, 8), granularity="week"), "2024-12-05", 2),
    (When(start=dt.date(2024, 11, 1), end=dt.date(2024, 11, 30), granularity="month"), "2024-11-15", 3),
])
def test_acled_time_precision_uses_the_middle_date(when: When, date: str, precision: int) -> None:
    row = acled_row(event(when=when))
    assert row is not None and (row["event_date"], row["time_precision"]) == (date, precision)


@pytest.mark.parametrize("fields", [
    {"type": "CONSULT", "mode": "visit", "cameo": "042", "source_actor": IRAN, "target_actor": SYRGOV},
    {"when": When(start=dt.date(2024, 1, 1), end=dt.date(2024, 12, 31), granularity="year")},
    {"when": When()},
])
def test_acled_leaves_out_what_acled_does_not_record(fields: dict[str, Any]) -> None:
    assert acled_row(event(**fields)) is None


def test_acled_csv_export_writes_only_what_happened() -> None:
    events = [event(), event(id="b" * 16, modality="negated"), event(id="c" * 16, modality="historical"),
              event(id="d" * 16, type="CONSULT", cameo="042", mode="visit")]
    out = io.StringIO()
    assert export_events(events, "acled", out, documents={DOC.id: DOC}.get) == 1
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(row) == ACLED_PUBLISHED and row["inter1"] == "8" and row["source"].startswith("Levant Wire")
    everything = io.StringIO()
    assert export_events(events, "acled", everything, modalities=("reported", "negated", "historical")) == 3


# ---------------------------------------------------------------------------------------------- GDELT

def test_gdelt_row_codes_and_geography() -> None:
    row = gdelt_row(event(), DOC)
    assert row is not None and list(row) == GDELT_PUBLISHED
    assert (row["SQLDATE"], row["MonthYear"], row["Year"]) == (20241206, 202412, 2024)
    assert row["FractionDate"] == round(2024 + 341 / 365, 4)
    assert (row["EventCode"], row["EventBaseCode"], row["EventRootCode"], row["QuadClass"]) == (
        "195", "195", "19", 4)
    assert (row["Actor1Code"], row["Actor1Name"], row["Actor1CountryCode"], row["Actor1Type1Code"]) == (
        "RUSMIL", "RUSSIAN AIR FORCE", "RUS", "MIL")
    assert (row["Actor2Code"], row["Actor2CountryCode"], row["Actor2Type1Code"]) == ("SYRREB", "SYR", "REB")
    assert (row["ActionGeo_Type"], row["ActionGeo_CountryCode"], row["ActionGeo_ADM1Code"]) == (4, "SY", "SY11")
    assert row["ActionGeo_FullName"] == "Homs, Homs Governorate, Syria"
    assert row["ActionGeo_FeatureID"] == 169577 and row["Actor1Geo_Type"] == 0
    assert (row["NumMentions"], row["NumSources"], row["NumArticles"], row["IsRootEvent"]) == (1, 1, 1, 1)
    assert row["GoldsteinScale"] is None and row["AvgTone"] is None               # not invented
    assert row["SOURCEURL"] == "https://wire.example/homs"
    assert len(str(row["DATEADDED"])) == 14
    assert 0 < row["GLOBALEVENTID"] < 2**63


@pytest.mark.parametrize(("place", "geo"), [
    (SYRIA, {"ActionGeo_Type": 1, "ActionGeo_CountryCode": "SY", "ActionGeo_FeatureID": "SY",
             "ActionGeo_FullName": "Syria"}),
    (AUSTIN, {"ActionGeo_Type": 3, "ActionGeo_CountryCode": "US", "ActionGeo_ADM1Code": "USTX"}),
    (Place(name="Kyiv", country="UA", lat=50.45, lon=30.52, geonameid=703448, admin1_code="UA.12"),
     {"ActionGeo_CountryCode": "UP", "ActionGeo_ADM1Code": "UP12"}),                # FIPS, not ISO
    (Place(name="Baghdad", country="IQ", feature="admin1", admin1="Baghdad", admin1_code="IQ.07"),
     {"ActionGeo_Type": 5, "ActionGeo_CountryCode": "IZ", "ActionGeo_FeatureID": "IZ07"}),
])
def test_gdelt_geography_uses_fips_and_gdelt_geo_types(place: Place, geo: dict[str, Any]) -> None:
    row = gdelt_row(event(place=place))
    assert row is not None and {k: row[k] for k in geo} == geo


def test_gdelt_actor_codes_are_split_into_their_parts() -> None:
    row = gdelt_row(event(source_actor=UN, target_actor=Actor(code="IRQMOSSHI", name="Shia militias",
                                                              country="IRQ", sector="MOSSHI")))
    assert row is not None
    assert (row["Actor1Code"], row["Actor1CountryCode"], row["Actor1Type1Code"], row["Actor1KnownGroupCode"]) \
        == ("IGOUNO", None, "IGO", "UNO")
    assert (row["Actor2CountryCode"], row["Actor2Religion1Code"], row["Actor2Religion2Code"]) == (
        "IRQ", "MOS", None)


def test_gdelt_without_a_cameo_code_uses_the_types_root_and_without_a_date_the_documents() -> None:
    undated = event(cameo=None, when=When())
    assert gdelt_row(undated) is None
    row = gdelt_row(undated, DOC.model_copy(update={"published": dt.date(2024, 12, 7)}))
    assert row is not None and row["SQLDATE"] == 20241207
    assert row["EventCode"] == row["EventRootCode"] and row["QuadClass"] == 4


def test_gdelt_export_is_tab_separated_with_the_header() -> None:
    out = io.StringIO()
    assert export_events([event(), event(id="e" * 16, modality="future")], "gdelt", out) == 1
    header, line = out.getvalue().splitlines()
    assert header.split("\t") == GDELT_PUBLISHED and len(line.split("\t")) == 61


# -------------------------------------------------------------------------------------------- Parquet

def test_parquet_is_written_in_row_groups(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.parquet as pq

    import tidings.store.export as export_module

    monkeypatch.setattr(export_module, "PARQUET_ROW_GROUP", 1_000)
    events = (event(id=f"{i:016x}") for i in range(2_500))             # a generator: never a list
    path = tmp_path / "events.parquet"
    assert export_events(events, "parquet", path) == 2_500
    meta = pq.ParquetFile(path).metadata
    assert (meta.num_row_groups, meta.num_rows) == (3, 2_500)
    table = pq.read_table(path)
    assert table.column("place_name")[0].as_py() == "Homs" and table.column("contexts")[0].as_py() == []
