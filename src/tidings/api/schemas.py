"""The API's contract: the request and response models (what /docs shows), the limits on parameters, and
:class:`ApiError`, the error every route answers with. Apart from the app so that every router can use
them without importing the app.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tidings.api.guard import NO_CONTROLS
from tidings.core.records import Analysis, Event, Source

__all__ = ["MAX_PAGE"]


MAX_PAGE = 1000                    # events per page; the dashboard pages through bigger sets


_DOCUMENT_EXAMPLE: dict[str, Any] = {
    "text": "Iranians began leaving Syria on Friday morning, officials said, as rebels advanced on Homs "
            "after taking Aleppo and Hama.",
    "published": "2024-12-07", "outlet": "RBK-Ukraine", "url": "https://example.org/iran-syria",
    "title": "Iran evacuates from Syria"}


# Metadata strings: tab and line breaks are tolerated (read_text folds them), other control characters not.
_ONE_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


class DocumentIn(BaseModel):
    """One article to analyse. ``published`` anchors relative dates ("on Friday")."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_DOCUMENT_EXAMPLE]})

    text: str = Field(min_length=1, description="Plain article text (English; at most 1,000,000 characters).")
    published: dt.date | None = Field(None, description="Publication date, YYYY-MM-DD.")
    outlet: str | None = Field(None, max_length=200, pattern=_ONE_LINE)
    url: str | None = Field(None, max_length=2048, pattern=_ONE_LINE)
    title: str | None = Field(None, max_length=1000, pattern=_ONE_LINE)


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable code: a tidings E-code (E306) or an HTTP-level name (not_found).")
    message: str
    hint: str | None = None
    details: list[dict[str, Any]] | None = None


class ErrorBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": {"code": "not_found", "message": "No event with id 'abc'."}}]})

    error: ErrorDetail


class Failure(BaseModel):
    """A document that could not be analysed (also stored in the errors table)."""

    ref: str
    code: str
    message: str


class IngestResult(BaseModel):
    """The answer to a JSONL (or JSON array) POST: one Analysis per document that could be read. When none
    could (status 422) it carries ``error`` too, like every other error answer."""

    error: ErrorDetail | None = None
    analyses: list[Analysis]
    failures: list[Failure]


class EventPage(BaseModel):
    """A page of events, newest first; ``total`` counts every match. ``shape=flat`` gives flat rows
    (the CSV columns plus ``anonymous`` and ``independent_sources``) instead of whole events."""

    total: int
    limit: int
    offset: int
    events: list[Event] | list[dict[str, Any]]


class TextWindow(BaseModel):
    """A stretch of the document: ``start``/``end`` are offsets into ``Document.text``."""

    start: int
    end: int
    text: str


class EvidenceSpan(BaseModel):
    """One evidence span; ``role`` groups fields for display (``attribution.1`` → ``attribution``)."""

    field: str
    role: str
    start: int
    end: int
    text: str


class DocumentSummary(BaseModel):
    id: str
    title: str | None = None
    url: str | None = None
    outlet: str | None = None
    published: dt.date | None = None
    published_inferred: bool = False
    language: str = "en"
    source_kind: str = "text"
    path: str | None = None
    chars: int = 0


class EventDetail(BaseModel):
    """An event with what a reader needs to judge it: the sentence and its surroundings, every evidence
    span, and the attribution chain from the outlet to the original speaker (anonymous links flagged)."""

    event: Event
    document: DocumentSummary | None
    sentence: TextWindow | None
    window: TextWindow | None
    evidence: list[EvidenceSpan]
    chain: list[Source]
    anonymous_links: int
    cluster: dict[str, Any] | None = None
    #: People killed according to the event's text (Event.fatalities); each figure is in event.casualties and,
    #: with its span, in evidence (role "casualties").
    fatalities: int | None = None


class DocumentPage(BaseModel):
    total: int
    limit: int
    offset: int
    documents: list[DocumentSummary]


class ActorCount(BaseModel):
    code: str | None
    name: str
    country: str | None
    sector: str | None
    as_source: int
    as_target: int
    events: int


class ActorPage(BaseModel):
    total: int
    actors: list[ActorCount]


class PlaceCount(BaseModel):
    geonameid: int | None
    name: str
    country: str | None
    country3: str | None
    admin1: str | None
    lat: float | None
    lon: float | None
    events: int
    level: str = Field(default="city", description="How precise the place is: country, admin1, admin2, city, "
                       "site, region, ...; a map draws a country- or admin1-level place as an area, not a point.")


class PlacePage(BaseModel):
    total: int
    places: list[PlaceCount]


class Stats(BaseModel):
    """Store counts; ``first_date``/``last_date`` are the earliest and latest event start dates."""

    model_config = ConfigDict(extra="allow")

    schema_version: int | None
    full_text_search: bool
    documents: int
    events: int
    mentions: int
    sources: int
    errors: int
    events_by_type: dict[str, int]
    events_by_modality: dict[str, int]
    first_date: str | None
    last_date: str | None


class ClusterPage(BaseModel):
    """Clusters as ``tidings.across.link`` describes them (id, type, size, independent_sources, origins,
    contradictions, canonical event, ...)."""

    limit: int
    offset: int
    clusters: list[dict[str, Any]]


class AlertPage(BaseModel):
    """Alerts as ``tidings.across.watch`` describes them (rule, cluster_id, event_ids, summary, ...)."""

    limit: int
    offset: int
    alerts: list[dict[str, Any]]


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    engine_loaded: bool
    schema_version: int


class TypeInfo(BaseModel):
    name: str
    quad_class: int | None
    description: str


class Vocabulary(BaseModel):
    """The PLOVER types and modalities, for filter menus and legends."""

    types: list[TypeInfo]
    modalities: list[str]


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text} for code, text in (
        (404, "Not found"), (422, "Invalid parameters or input"), (500, "Unexpected server error"))}


#: Search terms: bounded (SQLite refuses LIKE patterns over 50,000 bytes, and no name is that long) and free of
#: control characters (SQLite would cut a term at NUL). ``tidings.api.guard`` holds the same line for every
#: parameter of every route; these put it in the schema.
TERM_MAX = 500


_TERM: dict[str, Any] = {"max_length": TERM_MAX, "pattern": NO_CONTROLS}


_CODE: dict[str, Any] = {"max_length": 16, "pattern": NO_CONTROLS}     # an ISO country code, a little slack


_ID: dict[str, Any] = {"max_length": 96, "pattern": NO_CONTROLS}       # document, event and cluster ids


_AS_OF = "As known on this day: only documents published on or before it (else stored by then) count."


class ApiError(Exception):
    """An error answered as ``{"error": {...}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.hint = status, code, message, hint


def _check_types(types: Sequence[str] | None) -> None:
    """An unknown PLOVER type is a mistake to report (422), not a filter that matches nothing."""
    from tidings.stages.coder import plover_types

    known = set(plover_types())
    unknown = [t for t in types or [] if t.upper() not in known]
    if unknown:
        raise ApiError(422, "validation_error", f"unknown PLOVER type {unknown[0]!r}",
                       hint=f"use one of {', '.join(sorted(known))}")
