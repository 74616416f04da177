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

Every writer streams: memory stays flat whatever the number of events (Parquet is written in row groups).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import IO, Any

from tidings.errors import InputError
from tidings.records import Actor, Event, Place

__all__ = [
    "FLAT_COLUMNS",
    "FORMATS",
    "event_from_record",
    "export_events",
    "flat_event",
    "guess_format",
    "plover_record",
]

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("csv", "jsonl", "json", "parquet", "geojson")

FLAT_COLUMNS: tuple[str, ...] = (
    "id", "doc_id", "type", "mode", "contexts", "cameo", "modality", "confidence",
    "date_start", "date_end", "granularity",
    "source_code", "source_name", "source_country", "source_sector",
    "target_code", "target_name", "target_country", "target_sector",
    "place_geonameid", "place_name", "place_country", "place_country3", "place_admin1",
    "place_lat", "place_lon", "place_precision",
    "attribution", "sentence", "trigger", "evidence_text", "coder",
)

# How list-valued flat columns are joined in CSV; the chain is ordered, so it reads as a path.
_CSV_JOIN: dict[str, str] = {"contexts": ";", "attribution": " > "}

_SUFFIXES: dict[str, str] = {
    ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet",
    ".pq": "parquet", ".geojson": "geojson",
}

# GeoNames-style resolution used by PLOVER's location object: 5 sub-city ... 1 country.
_RESOLUTION: dict[str, int] = {"site": 5, "city": 4, "admin1": 2, "country": 1}

PARQUET_ROW_GROUP = 50_000


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
             "place_lat", "place_lon", "place_precision"))
    return {"place_geonameid": place.geonameid, "place_name": place.name, "place_country": place.country,
            "place_country3": place.country3, "place_admin1": place.admin1, "place_lat": place.lat,
            "place_lon": place.lon, "place_precision": place.precision}


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
    return row


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


def export_events(events: Iterable[Event], fmt: str, out: Path | str | IO[Any]) -> int:
    """Write ``events`` to ``out`` (a path or an open file) as ``fmt``; return how many were written.

    GeoJSON skips events without coordinates: the number skipped is logged and stored in the collection's
    ``tidings.skipped_without_coordinates`` member, and not counted in the return value.
    """
    fmt = fmt.lower().lstrip(".")
    writer = _WRITERS.get(fmt)
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
    row = flat_event(event)
    for key in ("date_start", "date_end"):
        row[key] = row[key].isoformat() if row[key] else None
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
        "place_lon": pa.float64(), "sentence": pa.int64(),
    }
    return pa.schema([(c, types.get(c, text)) for c in FLAT_COLUMNS])


def _write_parquet(events: Iterator[Event], handle: IO[bytes]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _parquet_schema()
    count = 0
    with pq.ParquetWriter(handle, schema, compression="zstd") as writer:
        while batch := list(islice(events, PARQUET_ROW_GROUP)):
            rows = [flat_event(e) for e in batch]
            columns = [pa.array([r[c] for r in rows], type=schema.field(c).type) for c in FLAT_COLUMNS]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
            count += len(rows)
    return count


_WRITERS: dict[str, Callable[[Iterator[Event], Any], int]] = {
    "csv": _write_csv, "jsonl": _write_jsonl, "json": _write_json, "parquet": _write_parquet,
    "geojson": _write_geojson,
}
