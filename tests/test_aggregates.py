"""The dashboard's aggregate endpoints (/api/aggregates/*) and the view download (/api/export), over the
wire-style corpus (tests/wire_corpus.py): every number is checked against the events themselves."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wire_corpus import events, stored

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from tidings.api.aggregates import bulk_range
from tidings.api.app import create_app
from tidings.core.records import Event


@pytest.fixture(scope="module")
def corpus() -> list[Event]:
    return events()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    url = stored(f"sqlite:///{tmp_path_factory.mktemp('agg') / 'agg.db'}")
    with TestClient(create_app(url, deliver_webhooks=False)) as test_client:
        yield test_client


def _get(client: TestClient, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return response.json()


def test_facets_follow_the_other_filters(client: TestClient, corpus: list[Event]) -> None:
    body = _get(client, "/api/aggregates/facets?type=ASSAULT&modality=asserted")
    asserted = Counter(e.type for e in corpus if e.modality == "asserted")
    assaults = Counter(e.modality for e in corpus if e.type == "ASSAULT")
    assert body["type"] == dict(asserted)          # type counts ignore the type filter, keep the modality one
    assert body["modality"] == dict(assaults)
    assert body["total"] == sum(1 for e in corpus if e.type == "ASSAULT" and e.modality == "asserted")


def test_map_counts_places_with_their_level(client: TestClient, corpus: list[Event]) -> None:
    body = _get(client, "/api/aggregates/map?type=ASSAULT")
    assaults = [e for e in corpus if e.type == "ASSAULT"]
    assert body["total"] == body["placed"] == len(assaults)
    by_place = Counter(e.place.geonameid for e in assaults if e.place)
    assert {p["geonameid"]: p["events"] for p in body["places"]} == dict(by_place)
    assert all(set(p["types"]) == {"ASSAULT"} for p in body["places"])
    levels = {p["name"]: (p["level"], p["area"]) for p in body["places"]}
    for name, level in (("Syria", "country"), ("Borno", "admin1"), ("Aleppo", "city")):
        if name in levels:
            assert levels[name] == (level, level != "city")
    admin1 = Counter((e.place.country, e.place.admin1) for e in assaults
                     if e.place and e.place.admin1 and e.place.feature != "country")
    assert {(t["country"], t["admin1"]): t["events"] for t in body["admin1"]} == dict(admin1)


def test_timeline_bins_keep_date_precision_and_find_the_bulk(client: TestClient, corpus: list[Event]) -> None:
    body = _get(client, "/api/aggregates/timeline")
    assert body["total"] == len(corpus) and body["undated"] == 0
    assert sum(b["events"] for b in body["bins"]) == len(corpus)
    years = [b for b in body["bins"] if b["granularity"] == "year"]
    assert years and all(b["start"].endswith("-01-01") and b["end"].endswith("-12-31") for b in years)
    bulk = body["bulk"]
    assert bulk["first"] == "1961-05-01" and bulk["last"] == "2030-01-01"
    assert "2016-10" <= bulk["start"] and bulk["end"] <= "2017-09"     # the outliers are outside the bulk
    assert bulk["before"] >= 1 and bulk["after"] >= 1
    regions = _get(client, "/api/aggregates/timeline?by=region")
    assert {"Middle East", "North America"} <= {b["key"] for b in regions["bins"]}
    assert sum(b["events"] for b in regions["bins"]) == len(corpus)


def test_bulk_range_keeps_an_even_spread_whole() -> None:
    days = [(dt.date(2020, 1, 1) + dt.timedelta(days=i), 1) for i in range(400)]
    bulk = bulk_range(days)
    assert bulk is not None and (bulk.before, bulk.after) == (0, 0)
    assert bulk_range([]) is None
    outlier = bulk_range([*days, (dt.date(1900, 1, 1), 1)])
    assert outlier is not None and outlier.before == 1 and outlier.start > dt.date(1900, 1, 1)


def test_network_keeps_same_code_actors_apart(client: TestClient, corpus: list[Event]) -> None:
    body = _get(client, "/api/aggregates/network?limit=300")
    ids = {n["id"] for n in body["nodes"]}
    assert {"Barack Obama [USAGOV]", "Donald Trump [USAGOV]", "Vladimir Putin [RUSGOV]"} <= ids
    obama = next(n for n in body["nodes"] if n["name"] == "Barack Obama")
    assert obama["events"] == sum(1 for e in corpus if "Barack Obama" in
                                  {a.name for a in (e.source_actor, e.target_actor) if a})
    assert all(e["source"] != e["target"] for e in body["edges"])     # self-loops draw no edge
    small = _get(client, "/api/aggregates/network?min_events=60")
    assert small["nodes"] and all(n["events"] >= 60 for n in small["nodes"])
    assert small["total_nodes"] < body["total_nodes"]


@pytest.mark.parametrize("fmt", ["csv", "geojson", "parquet"])
def test_export_downloads_every_matching_event(client: TestClient, corpus: list[Event], fmt: str,
                                               tmp_path: Path) -> None:
    response = client.get(f"/api/export?format={fmt}&type=RETREAT&country=SYR")
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    wanted = {e.id for e in corpus if e.type == "RETREAT" and "SYR" in
              {e.place.country3 if e.place else None, *(a.country for a in (e.source_actor, e.target_actor) if a)}}
    if fmt == "csv":
        ids = {row["id"] for row in csv.DictReader(io.StringIO(response.text))}
    elif fmt == "geojson":
        ids = {f["id"] for f in json.loads(response.text)["features"]}
    else:
        pq = pytest.importorskip("pyarrow.parquet")
        path = tmp_path / "view.parquet"
        path.write_bytes(response.content)
        ids = set(pq.read_table(path).column("id").to_pylist())
    assert ids == wanted and wanted


@pytest.mark.parametrize("url", ["/api/aggregates/map?type=BOGUS", "/api/aggregates/timeline?modality=bogus",
                                 "/api/aggregates/facets?text=%22", "/api/export?format=xlsx",
                                 "/api/aggregates/network?min_events=0", "/api/aggregates/map?actor=a%00b",
                                 "/api/aggregates/timeline?since=2017-05-01&until=2017-01-01"])
def test_bad_filters_answer_422_in_the_error_shape(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 422, response.text
    assert set(response.json()) == {"error"} and response.json()["error"]["message"]


def test_min_fatalities_filters_the_aggregates_like_the_event_list(client: TestClient, corpus: list[Event]) -> None:
    killed = [e for e in corpus if (e.fatalities or 0) >= 1]
    body = _get(client, "/api/aggregates/facets?min_fatalities=1")
    listed = _get(client, "/api/events?min_fatalities=1&limit=1000")
    assert body["total"] == len(killed) == listed["total"]
    assert client.get("/api/aggregates/facets?min_fatalities=-1").status_code == 422


@pytest.mark.parametrize(("path", "model"), [
    ("/api/aggregates/facets?modality=asserted", "Facets"),
    ("/api/aggregates/map", "MapAggregate"), ("/api/aggregates/map?type=ASSAULT", "MapAggregate"),
    ("/api/aggregates/timeline", "TimelineAggregate"), ("/api/aggregates/timeline?by=region", "TimelineAggregate"),
    ("/api/aggregates/network?limit=20", "NetworkAggregate")])
def test_answers_are_exactly_their_documented_models(client: TestClient, path: str, model: str) -> None:
    """The aggregates encode plain dicts themselves (no response_model pass): each answer must still be its
    schema model, field for field (a missing field fails validation, an extra or retyped one the round trip)."""
    from tidings.api import aggregates

    body = _get(client, path)
    cls = getattr(aggregates, model)
    assert body == cls.model_validate(body).model_dump(mode="json")
    assert body[next(iter(cls.model_fields))] is not None
