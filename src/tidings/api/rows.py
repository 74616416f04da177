"""Event pages answered from the stored JSON, without building an :class:`~tidings.core.records.Event` per row.

Why: the store keeps each event as the JSON ``Event.model_dump_json`` wrote, and a page of the API is that
JSON (``shape=full``) or a flat row cut out of it (``shape=flat``). Validating 1,000 stored events into
models, flattening them and encoding the rows with ``json`` cost ~115 ms of CPU for the dashboard's flat
page, most of a busy server's time; parsing the JSON with orjson (C, ~4x ``json``) and reading the flat
columns straight from the parsed dict costs a fraction of that (``docs/benchmarks.md``, issue 16).

A row written by an older tidings (its keys are not today's Event fields, in order) still goes through the
model, which fills in what that version did not write: the fast path is only for rows the model would
return unchanged. :func:`flat_record` must give exactly :func:`tidings.store.export.flat_event`'s row (as
``tidings.api.app.flat_row`` answers it); ``tests/test_api_rows.py`` checks the two agree on varied events.
"""

from __future__ import annotations

from typing import Any

import orjson

from tidings.core.records import Casualty, Event
from tidings.store.export import casualty_text, flat_event

__all__ = ["EVENT_KEYS", "current", "event_json", "flat_record", "flat_row", "flat_row_json", "parse"]

#: The top-level keys of today's ``Event.model_dump_json()``, in its order.
EVENT_KEYS: tuple[str, ...] = (*Event.model_fields, *Event.model_computed_fields)


def parse(stored: str | bytes) -> dict[str, Any]:
    """A stored event's JSON as a dict (orjson: the JSON is the store's own, valid by construction)."""
    return orjson.loads(stored)  # type: ignore[no-any-return]


def current(data: dict[str, Any]) -> bool:
    """Whether ``data`` (a parsed stored event) has exactly today's Event fields: then the model would
    answer it unchanged, and it may be answered as stored."""
    return tuple(data) == EVENT_KEYS


def event_json(stored: str) -> str:
    """An event's stored JSON as the API answers it: as is when it has every field of today's Event, else
    through the model, which fills what an older tidings did not write."""
    if current(parse(stored)):
        return stored
    return Event.model_validate_json(stored).model_dump_json()


def flat_row(event: Event, independent_sources: int | None = None) -> dict[str, Any]:
    """The CSV row of an event (:func:`~tidings.store.export.flat_event`), JSON-ready, plus what a map marker
    needs that CSV lacks: whether the attribution chain has an anonymous link, and the independent sources
    of the event's cluster (None where the event is not linked)."""
    row = flat_event(event)
    for key in ("date_start", "date_end"):
        row[key] = row[key].isoformat() if row[key] else None
    row["anonymous"] = any(link.anonymous for link in event.attribution)
    row["independent_sources"] = independent_sources
    return row


def _actor(row: dict[str, Any], prefix: str, actor: dict[str, Any] | None) -> None:
    actor = actor or {}
    row[f"{prefix}_code"] = actor.get("code")
    row[f"{prefix}_name"] = actor.get("name")
    row[f"{prefix}_country"] = actor.get("country")
    row[f"{prefix}_sector"] = actor.get("sector")


def _count(casualties: list[dict[str, Any]], kind: str) -> int | None:
    """:meth:`Event.count` over parsed casualty dicts (the largest floor, else ceiling, of non-background
    figures of ``kind``)."""
    known = [v for c in casualties if c["kind"] == kind and not c["background"]
             if (v := c["low"] if c["low"] is not None else c["high"]) is not None]
    return max(known) if known else None


def flat_record(data: dict[str, Any], independent_sources: int | None = None) -> dict[str, Any]:
    """:func:`flat_row` read from a parsed stored event (``current(data)`` must hold): the same keys, in
    the same order, with the same values, and no model built."""
    when = data["when"]
    evidence = data["evidence"]
    trigger, sentence = evidence.get("trigger"), evidence.get("sentence")
    casualties = data["casualties"]
    row: dict[str, Any] = {
        "id": data["id"], "doc_id": data["doc_id"], "type": data["type"], "mode": data["mode"],
        "contexts": data["contexts"], "cameo": data["cameo"], "modality": data["modality"],
        "confidence": data["confidence"], "date_start": when["start"], "date_end": when["end"],
        "granularity": when["granularity"],
    }
    _actor(row, "source", data["source_actor"])
    _actor(row, "target", data["target_actor"])
    place = data["place"] or {}
    for key in ("geonameid", "name", "country", "country3", "admin1", "lat", "lon", "precision", "feature"):
        row[f"place_{key}"] = place.get(key)
    attribution = data["attribution"]
    row["attribution"] = [link["name"] for link in attribution]
    row["sentence"] = data["sentence"]
    row["trigger"] = trigger["text"] if trigger else None
    row["evidence_text"] = sentence["text"] if sentence else None
    row["coder"] = data["coder"]
    row["fatalities"] = _count(casualties, "killed")
    row["injured"] = _count(casualties, "injured")
    row["missing"] = _count(casualties, "missing")
    row["arrested"] = _count(casualties, "arrested")
    # One model per figure (most events have none): casualty_text stays the one place that words them.
    row["casualties"] = [casualty_text(Casualty.model_validate(c)) for c in casualties]
    row["anonymous"] = any(link["anonymous"] for link in attribution)
    row["independent_sources"] = independent_sources
    return row


def flat_row_json(stored: str, data: dict[str, Any], independent_sources: int | None = None) -> bytes:
    """One stored event (``data``: its :func:`parse`) as its flat row, JSON-encoded (UTF-8): read from the
    dict where the row is current, else through the model."""
    row = (flat_record(data, independent_sources) if current(data)
           else flat_row(Event.model_validate_json(stored), independent_sources))
    return orjson.dumps(row)
