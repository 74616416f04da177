"""Granularity of places (issue 13): every exported shape says how precise an event's place is."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest

from tidings.core.records import Actor, Document, Event, Place, Span, When
from tidings.store.export import FLAT_COLUMNS, acled_row, export_events, flat_event

DOC = Document.from_text("Gunmen attacked a checkpoint.", outlet="Wire")
TOWN = Place(geonameid=2460596, name="Gao", country="ML", country3="MLI", admin1="Gao", admin1_code="ML.07",
             lat=16.27, lon=-0.04, feature="city", precision="exact")
SITE = Place(name="Gao airport", country="ML", country3="MLI", admin1="Gao", admin1_code="ML.07",
             lat=16.27, lon=-0.04, feature="site", precision="city")
DISTRICT = Place(geonameid=2460594, name="Gao Cercle", country="ML", country3="MLI", admin1="Gao",
                 admin1_code="ML.07", lat=16.5, lon=0.2, feature="admin2", precision="admin2")
PROVINCE = Place(geonameid=2460593, name="Gao Region", country="ML", country3="MLI", admin1="Gao",
                 admin1_code="ML.07", lat=17.0, lon=0.5, feature="admin1", precision="admin1")
COUNTRY = Place(geonameid=2453866, name="Mali", country="ML", country3="MLI", lat=17.0, lon=-4.0,
                feature="country", precision="country")


def event(place: Place) -> Event:
    d = dt.date(2024, 12, 1)
    return Event(id=f"{abs(hash(place.feature)) % 16**8:08x}a9dbab8e", doc_id=DOC.id, type="ASSAULT", mode="firearms",
                 source_actor=Actor(code="MLIREB", name="gunmen", country="MLI", sector="REB"),
                 target_actor=Actor(code="MLIMIL", name="soldiers", country="MLI", sector="MIL"),
                 place=place, when=When(start=d, end=d, granularity="day"), modality="asserted",
                 evidence={"trigger": Span(start=7, end=15, text="attacked"),
                           "sentence": Span(start=0, end=29, text="Gunmen attacked a checkpoint.")})


@pytest.mark.parametrize(("place", "level"), [(TOWN, "city"), (SITE, "site"), (DISTRICT, "admin2"),
                                               (PROVINCE, "admin1"), (COUNTRY, "country")])
def test_flat_row_carries_the_level(place: Place, level: str) -> None:
    row = flat_event(event(place))
    assert "place_feature" in FLAT_COLUMNS
    assert row["place_feature"] == level and row["place_precision"] == place.precision


def test_geojson_properties_carry_the_level() -> None:
    out = io.StringIO()
    export_events([event(p) for p in (TOWN, PROVINCE, COUNTRY)], "geojson", out)
    features = json.loads(out.getvalue())["features"]
    assert [f["properties"]["place_feature"] for f in features] == ["city", "admin1", "country"]
    assert [f["properties"]["geo_precision"] for f in features] == [1, 3, 3]


@pytest.mark.parametrize(("place", "precision"), [(TOWN, 1), (SITE, 1), (DISTRICT, 2), (PROVINCE, 3), (COUNTRY, 3)])
def test_acled_geo_precision(place: Place, precision: int) -> None:
    row: dict[str, Any] | None = acled_row(event(place), DOC)
    assert row is not None and row["geo_precision"] == precision


def test_plover_resolution_knows_districts() -> None:
    out = io.StringIO()
    export_events([event(DISTRICT)], "jsonl", out)
    assert json.loads(out.getvalue().splitlines()[0])["place"]["feature"] == "admin2"
