"""What the dashboard draws, aggregated on the server: ``/api/aggregates/*`` and ``/api/export``.

Why a router of its own: the dashboard's views (map, timeline, network, filter counts) need counts, not
rows. Fetching pages of 1,000 full events to count them on the client cost ~0.9 s per page on 100k events
and capped every view at the newest 5,000; a GROUP BY over the filtered events answers the same question
for every matching event in one query (:meth:`~tidings.store.database.Store.group_events`). Every endpoint takes
the filters of ``GET /api/events`` with the same names and meanings, so a view and its download agree.

Answers are encoded here with orjson from plain dicts and returned as a ``Response``: the models below are
the schema (``response_model``), but building 30k of them and having FastAPI validate and serialise them
again cost more than the counting (``docs/benchmarks.md``, issue 16). The dicts have the models' fields in
their order; ``tests/test_aggregates.py`` validates answers against the models.

Fatalities: summed where the store's events carry a ``fatalities`` column (``fatalities_available`` in
each answer says whether they do); until then the sums are ``null`` and the dashboard offers events only.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from typing import Annotated, Any, Literal, cast

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from tidings.api.schemas import _ERRORS, _TERM, _check_types
from tidings.core.records import Modality
from tidings.store.database import EventFilters, Store
from tidings.store.export import _acled_region, export_events

__all__ = ["BULK_QUANTILE", "bulk_range", "router"]

#: The timeline's "bulk": dates between these quantiles (weighted by events), widened by BULK_PAD of their
#: span. Events outside are outliers (a 1961 flashback or a mis-inferred 2030 in a 2017 corpus): counted and
#: noted, not allowed to squash the rest into 1-px bars.
BULK_QUANTILE = 0.01
BULK_PAD = 0.25
BULK_MIN_PAD_DAYS = 7
NETWORK_MAX_NODES = 300
EXPORT_MEDIA = {"csv": "text/csv; charset=utf-8", "geojson": "application/geo+json",
                "parquet": "application/vnd.apache.parquet"}
AREA_LEVELS = frozenset({"country", "admin1", "region", "continent"})

router = APIRouter(tags=["aggregates"])


# --------------------------------------------------------------------------------------------- filters

def event_filters(
    type: Annotated[list[str] | None, Query(description="PLOVER type; repeat for several.", max_length=50)] = None,
    actor: Annotated[str | None, Query(description="Actor code prefix or name substring.", **_TERM)] = None,
    country: Annotated[str | None, Query(description="ISO alpha-3 or alpha-2 of an actor or the place.",
                                         **_TERM)] = None,
    place: Annotated[str | None, Query(description="Place name or GeoNames id.", **_TERM)] = None,
    since: Annotated[dt.date | None, Query(description="Events overlapping this day or later.")] = None,
    until: Annotated[dt.date | None, Query(description="Events starting on or before this day.")] = None,
    modality: Annotated[list[Modality] | None, Query(description="Repeat for several.")] = None,
    source: Annotated[str | None, Query(description="Name in the attribution chain.", **_TERM)] = None,
    text: Annotated[str | None, Query(description="Full-text search (FTS5 syntax).", **_TERM)] = None,
    as_of: Annotated[dt.date | None, Query(description="Only events reported by this day.")] = None,
    min_fatalities: Annotated[int | None, Query(ge=0, le=10_000_000, description=(
        "Only events whose text reports at least this many killed."))] = None,
) -> EventFilters:
    """The filters of ``GET /api/events`` (same names, same checks), as the store takes them."""
    _check_types(type)
    found = {"type": type, "actor": actor, "country": country, "place": place, "since": since, "until": until,
             "modality": modality, "source": source, "text": text, "as_of": as_of}
    filters: dict[str, object] = {k: v for k, v in found.items() if v}
    if min_fatalities is not None:
        filters["min_fatalities"] = min_fatalities
    return EventFilters(**filters)  # type: ignore[typeddict-item]


Filters = Annotated[EventFilters, Depends(event_filters)]


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def _answer(body: dict[str, Any]) -> Response:
    """``body`` (plain values, dates included) as the JSON answer, without FastAPI's validation pass."""
    return Response(orjson.dumps(body), media_type="application/json")


def _add(counter: dict[str, int], key: str | None, n: int) -> None:
    if key is not None:
        counter[key] = counter.get(key, 0) + n


def _plus(a: int | None, b: int | None) -> int | None:
    return None if a is None and b is None else (a or 0) + (b or 0)


# ---------------------------------------------------------------------------------------------- facets

class Facets(BaseModel):
    """Counts per type and per modality under the current filters. Each list ignores its own filter (the
    type counts are what ticking that type would add), as faceted search does."""

    total: int
    type: dict[str, int]
    modality: dict[str, int]


@router.get("/api/aggregates/facets", response_model=Facets, responses=_ERRORS)
def facets(request: Request, filters: Filters) -> Facets:
    store = _store(request)
    rows, _ = store.group_events(["type"], **{k: v for k, v in filters.items() if k != "type"})  # type: ignore[arg-type]
    types = {r.type: r.events for r in rows}
    rows, _ = store.group_events(["modality"], **{k: v for k, v in filters.items() if k != "modality"})  # type: ignore[arg-type]
    modalities = {r.modality: r.events for r in rows}
    total = store.count_events(**filters)
    return Facets(total=total, type=types, modality=modalities)


# ------------------------------------------------------------------------------------------------- map

class MapPlace(BaseModel):
    """One place with its events. ``level`` is how precise the place is: a city or site is a point; a
    country or admin1 is an area whose point is only its centre, and the map draws it so."""

    key: str
    geonameid: int | None
    name: str | None
    country: str | None
    country3: str | None
    admin1: str | None
    lat: float
    lon: float
    level: str
    area: bool
    events: int
    fatalities: int | None
    types: dict[str, int]
    modalities: dict[str, int]


class Admin1Total(BaseModel):
    """Events (and fatalities) per first-level division, at the mean point of its places."""

    country: str | None
    admin1: str
    events: int
    fatalities: int | None
    lat: float
    lon: float
    places: int


class MapAggregate(BaseModel):
    total: int
    placed: int
    fatalities_available: bool
    places: list[MapPlace]
    admin1: list[Admin1Total]


@router.get("/api/aggregates/map", response_model=MapAggregate, responses=_ERRORS)
def map_aggregate(request: Request, filters: Filters) -> Response:
    """Matching events per place (with its precision level), and totals per admin1, for the map."""
    by = ["place_geonameid", "place_name", "place_country", "place_country3", "place_admin1", "place_lat",
          "place_lon", "type", "modality"]
    store = _store(request)
    rows, has_fatalities = store.group_events(by, sum_fatalities=True, **filters)
    places: dict[str, dict[str, Any]] = {}
    total = 0
    # Rows unpacked as tuples: a Row's attribute look-up per column was most of the loop's time (30k rows).
    table = cast("list[tuple[Any, ...]]", rows)
    for geonameid, name, country, country3, admin1, lat, lon, type_, modality, events, fatalities in table:
        total += events
        if lat is None or lon is None:
            continue
        key = f"{geonameid}" if geonameid is not None else f"{name}@{lat},{lon}"
        p = places.get(key)
        if p is None:
            p = places[key] = {"key": key, "geonameid": geonameid, "name": name, "country": country,
                               "country3": country3, "admin1": admin1, "lat": lat, "lon": lon, "level": "city",
                               "area": False, "events": 0, "fatalities": None, "types": {}, "modalities": {}}
        p["events"] += events
        if fatalities is not None:
            p["fatalities"] = (p["fatalities"] or 0) + fatalities
        _add(p["types"], type_, events)
        _add(p["modalities"], modality, events)
    levels = store.place_levels({(p["name"], p["geonameid"]) for p in places.values() if p["name"] is not None})
    for p in places.values():
        p["level"] = level = levels.get((p["name"], p["geonameid"]), "city")
        p["area"] = level in AREA_LEVELS
    found = sorted(places.values(), key=lambda p: (-p["events"], p["key"]))
    return _answer({"total": total, "placed": sum(p["events"] for p in found),
                    "fatalities_available": has_fatalities, "places": found,
                    "admin1": [t.model_dump() for t in _admin1_totals(found)]})


def _admin1_totals(places: list[dict[str, Any]]) -> list[Admin1Total]:
    """Sums per (country, admin1); the point is the admin1's own where an event is placed at that level,
    else the events-weighted mean of its places (a country-level place belongs to no admin1)."""
    groups: dict[tuple[str | None, str], list[dict[str, Any]]] = defaultdict(list)
    for p in places:
        if p["admin1"] and p["level"] not in ("country", "region", "continent"):
            groups[(p["country"], p["admin1"])].append(p)
    totals = []
    for (country, admin1), members in groups.items():
        own = [p for p in members if p["level"] == "admin1"]
        anchor = own or members
        weight = sum(p["events"] for p in anchor)
        fatalities = None
        for p in members:
            fatalities = _plus(fatalities, p["fatalities"])
        totals.append(Admin1Total(country=country, admin1=admin1, events=sum(p["events"] for p in members),
                                  fatalities=fatalities, places=len(members),
                                  lat=sum(p["lat"] * p["events"] for p in anchor) / weight,
                                  lon=sum(p["lon"] * p["events"] for p in anchor) / weight))
    return sorted(totals, key=lambda t: (-t.events, t.admin1))


# -------------------------------------------------------------------------------------------- timeline

class TimeBin(BaseModel):
    """Events of one key (a type or a region) dated ``start``..``end`` at ``granularity``: a day has
    start == end; a month, year or range is drawn as the range it is, not as its first day."""

    start: dt.date
    end: dt.date
    granularity: str
    key: str
    events: int
    fatalities: int | None


class Bulk(BaseModel):
    """The date range the timeline shows by default, and how many events fall outside it."""

    start: dt.date
    end: dt.date
    first: dt.date
    last: dt.date
    before: int
    after: int


class TimelineAggregate(BaseModel):
    total: int
    undated: int
    by: Literal["type", "region"]
    fatalities_available: bool
    bins: list[TimeBin]
    bulk: Bulk | None


@router.get("/api/aggregates/timeline", response_model=TimelineAggregate, responses=_ERRORS)
def timeline_aggregate(request: Request, filters: Filters,
                       by: Annotated[Literal["type", "region"], Query(
                           description="Stack by PLOVER type or by world region of the place.")] = "type"
                       ) -> Response:
    """Matching events per date (range) and type or region, with the bulk of the dates (outliers apart)."""
    key_column = "type" if by == "type" else "place_country"
    # In the order of the index that covers it unfiltered (granularity first: see migrations/v004).
    rows, has_fatalities = _store(request).group_events(["granularity", "date_start", "date_end", key_column],
                                                        sum_fatalities=True, **filters)
    merged: dict[tuple[dt.date, dt.date, str, str], list[Any]] = {}
    total = undated = 0
    for granularity, start, end, column, events, fatalities in cast("list[tuple[Any, ...]]", rows):
        total += events
        if start is None:
            undated += events
            continue
        key = column if by == "type" else _region(column)
        slot = merged.setdefault((start, end or start, granularity, key), [0, None])
        slot[0] += events
        slot[1] = _plus(slot[1], fatalities)
    bins = [{"start": s, "end": e, "granularity": g, "key": k, "events": n, "fatalities": f}
            for (s, e, g, k), (n, f) in sorted(merged.items())]
    bulk = bulk_range([(b["start"], b["events"]) for b in bins])
    return _answer({"total": total, "undated": undated, "by": by, "fatalities_available": has_fatalities,
                    "bins": bins, "bulk": bulk.model_dump() if bulk else None})


def _region(iso2: str | None) -> str:
    return (_acled_region(iso2) if iso2 else None) or "unplaced"


def bulk_range(dated: list[tuple[dt.date, int]]) -> Bulk | None:
    """The range holding the bulk of ``(date, events)``: from the BULK_QUANTILE to the 1 - BULK_QUANTILE
    quantile, widened by BULK_PAD of that span (at least BULK_MIN_PAD_DAYS), never beyond the data."""
    if not dated:
        return None
    dated = sorted(dated)
    total = sum(n for _, n in dated)
    lo_rank, hi_rank = BULK_QUANTILE * total, (1 - BULK_QUANTILE) * total
    seen, q_lo, q_hi = 0, dated[0][0], dated[-1][0]
    for day, n in dated:
        if seen <= lo_rank < seen + n:
            q_lo = day
        if seen < hi_rank <= seen + n:
            q_hi = day
        seen += n
    pad = dt.timedelta(days=max(BULK_MIN_PAD_DAYS, round((q_hi - q_lo).days * BULK_PAD)))
    start, end = max(dated[0][0], q_lo - pad), min(dated[-1][0], q_hi + pad)
    return Bulk(start=start, end=end, first=dated[0][0], last=dated[-1][0],
                before=sum(n for day, n in dated if day < start), after=sum(n for day, n in dated if day > end))


# --------------------------------------------------------------------------------------------- network

class ActorNode(BaseModel):
    """An actor as resolved: name and code together (two people coded RUSGOV stay two nodes)."""

    id: str
    name: str
    code: str | None
    country: str | None
    events: int = Field(description="Events with this actor as source or target (self-loops once).")
    degree: int = Field(description="Distinct other actors it acts on or is acted on by.")


class ActorEdge(BaseModel):
    source: str
    target: str
    events: int
    types: dict[str, int]


class NetworkAggregate(BaseModel):
    total_nodes: int
    nodes: list[ActorNode]
    edges: list[ActorEdge]


def _actor_id(name: str, code: str | None) -> str:
    return f"{name} [{code}]" if code and code != name else name


@router.get("/api/aggregates/network", response_model=NetworkAggregate, responses=_ERRORS)
def network_aggregate(request: Request, filters: Filters,
                      min_events: Annotated[int, Query(ge=1, le=10**9, description="Only actors in at least "
                                                       "this many events.")] = 1,
                      limit: Annotated[int, Query(ge=1, le=NETWORK_MAX_NODES, description="The most actors, "
                                                  "busiest first.")] = 100) -> Response:
    """Who acts on whom: actors by name and code, edges source → target with their types."""
    by = ["source_name", "source_code", "source_country", "target_name", "target_code", "target_country", "type"]
    rows, _ = _store(request).group_events(by, **filters)
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str], dict[str, Any]] = {}

    def node(name: str, code: str | None, country: str | None) -> dict[str, Any]:
        key = _actor_id(name, code)
        found = nodes.get(key)
        if found is None:
            found = nodes[key] = {"id": key, "name": name, "code": code, "country": country, "events": 0,
                                  "neighbours": set()}
        return found

    table = cast("list[tuple[Any, ...]]", rows)
    for s_name, s_code, s_country, t_name, t_code, t_country, type_, events, _ in table:
        s = node(s_name, s_code, s_country) if s_name else None
        t = node(t_name, t_code, t_country) if t_name else None
        if s is not None:
            s["events"] += events
        if t is not None and t is not s:
            t["events"] += events
        if s is None or t is None or s is t:
            continue   # a self-loop counts for its actor, and draws no edge
        s["neighbours"].add(t["id"])
        t["neighbours"].add(s["id"])
        edge = edges.setdefault((s["id"], t["id"]), {"source": s["id"], "target": t["id"], "events": 0, "types": {}})
        edge["events"] += events
        _add(edge["types"], type_, events)
    ranked = sorted((n for n in nodes.values() if n["events"] >= min_events), key=lambda n: (-n["events"], n["id"]))
    kept = {n["id"] for n in ranked[:limit]}
    return _answer({
        "total_nodes": len(ranked),
        "nodes": [{**{k: v for k, v in n.items() if k != "neighbours"}, "degree": len(n["neighbours"])}
                  for n in ranked[:limit]],
        "edges": [e for e in edges.values() if e["source"] in kept and e["target"] in kept]})


# ---------------------------------------------------------------------------------------------- export

@router.get("/api/export", response_model=None, tags=["events"], responses={
    200: {"content": {m.split(";")[0]: {} for m in EXPORT_MEDIA.values()},
          "description": "Every matching event, as a file"}, **_ERRORS})
def export_view(request: Request, filters: Filters,
                format: Annotated[Literal["csv", "geojson", "parquet"], Query(
                    description="File format (the `tidings export` writers).")] = "csv") -> Response:
    """Every event matching the filters (not one page) as CSV, GeoJSON or Parquet: the dashboard's
    "download this view". Written to a spooled temporary file (Parquet needs a seekable file) and streamed."""
    store = _store(request)
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - closed by the stream
    export_events(store.iter_events(**filters), format, spool)   # text formats: wrapped as UTF-8
    spool.seek(0)

    def chunks() -> Iterator[bytes]:
        try:
            while block := spool.read(256 * 1024):
                yield block
        finally:
            spool.close()

    stamp = dt.date.today().isoformat()
    headers = {"Content-Disposition": f'attachment; filename="tidings-events-{stamp}.{format}"'}
    return StreamingResponse(chunks(), media_type=EXPORT_MEDIA[format], headers=headers)
