"""The REST API over the store, and the dashboard that uses it: ``tidings serve`` or ``create_app(db)``.

Why it looks the way it does:

* **Thin.** Each route is one :class:`~tidings.store.database.Store` call (or one ingest/engine call) plus shaping;
  the filters are the CLI's filters with the same names, so ``tidings events --type RETREAT`` and
  ``GET /api/events?type=RETREAT`` mean the same thing.
* **Reads never wait on ingest.** Read routes are plain ``def`` functions, run by Starlette in its thread
  pool over one shared Store whose SQLAlchemy pool gives each thread its own connection; SQLite runs in WAL
  mode, so readers see the last commit while a POST writes. Analyses run one at a time (a capacity limiter
  of one), so a burst of POSTs cannot take every worker thread from the readers.
* **The engine is loaded lazily**, once per process, on the first POST: a read-only dashboard never pays
  the seconds and hundreds of MB a spaCy model costs.
* **Every error is JSON** ``{"error": {"code", "message"}}`` — validation (422), size (413), unknown ids
  (404), filters the store rejects (422, with the store's E3xx code) and unexpected failures (500).
* **Lists are serialised by hand** from the records' own ``model_dump_json``: a page of 1000 events skips
  a second validation pass through FastAPI's response model (the schema still documents the shape).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, Literal

import anyio
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from tidings.api.docs import mount_api_docs
from tidings.api.guard import MAX_JSON_DEPTH, NO_CONTROLS, check_request, error_details, json_too_deep, scrub
from tidings.api.rows import event_json, flat_row_json, parse
from tidings.api.schemas import (
    _AS_OF,
    _CODE,
    _DOCUMENT_EXAMPLE,
    _ERRORS,
    _ID,
    _TERM,
    MAX_PAGE,
    ActorCount,
    ActorPage,
    AlertPage,
    ApiError,
    ClusterPage,
    DocumentIn,
    DocumentPage,
    DocumentSummary,
    ErrorBody,
    ErrorDetail,
    EventDetail,
    EventPage,
    EvidenceSpan,
    Failure,
    Health,
    IngestResult,
    PlaceCount,
    PlacePage,
    Stats,
    TextWindow,
    TypeInfo,
    Vocabulary,
    _check_types,
)
from tidings.core.errors import InputError, StoreError, TidingsError
from tidings.core.records import MODALITIES, Analysis, Document, Event, Modality
from tidings.read import InputFailure, read_jsonl, read_text
from tidings.store.database import Store, events_table
from tidings.store.export import export_events
from tidings.store.queries import document_count, latest_of, name_counts, read_connection

__all__ = ["MAX_BODY_BYTES", "create_app"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * 1024 * 1024   # one POST: a long article is ~100 kB; 2 MB is a batch of JSONL
_MAX_OFFSET = 10**9                # beyond any real store, and inside SQLite's 64-bit integers
_WINDOW_CHARS = 160                # text shown around an event's sentence
WEB_DIR = Path(__file__).resolve().parents[1] / "web"
_JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/jsonlines", "application/x-jsonlines",
                "text/jsonl")


# --------------------------------------------------------------------------------------------- models


# ------------------------------------------------------------------------------------------- helpers


class _EngineSlot:
    """The analysis engine, created on first use, once, even when two POSTs race for it."""

    def __init__(self, engine: Any = None, factory: Callable[[], Any] | None = None) -> None:
        self._engine = engine
        self._factory = factory
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def get(self) -> Any:
        with self._lock:
            if self._engine is None:
                if self._factory is None:
                    from tidings.pipeline import Engine

                    self._factory = Engine
                self._engine = self._factory()
            return self._engine


def _error(status: int, code: str, message: str, hint: str | None = None,
           details: list[dict[str, Any]] | None = None) -> JSONResponse:
    body = ErrorDetail(code=code, message=message, hint=hint, details=details)
    return JSONResponse({"error": body.model_dump(exclude_none=True)}, status_code=status)


_LAYER_ERRORS: dict[int | str, dict[str, Any]] = {
    501: {"model": ErrorBody, "description": "The across-article layer is not installed"}, **_ERRORS}

_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 406: "not_acceptable",
               413: "payload_too_large", 415: "unsupported_media_type", 501: "not_implemented"}


def _optional_module(name: str) -> ModuleType | None:
    """The across-article layer (``tidings.across.link``, ``tidings.across.watch``) where it is installed."""
    try:
        return import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise


def _window(text: str, start: int, end: int, pad: int = _WINDOW_CHARS) -> TextWindow:
    """``[start, end)`` widened by about ``pad`` characters each side, cut at whitespace."""
    lo, hi = max(0, start - pad), min(len(text), end + pad)
    if lo > 0:
        space = text.find(" ", lo, start)
        lo = space + 1 if space >= 0 else lo
    if hi < len(text):
        space = text.rfind(" ", end, hi)
        hi = space if space >= 0 else hi
    return TextWindow(start=lo, end=hi, text=text[lo:hi])


def _summary(doc: Document) -> DocumentSummary:
    return DocumentSummary(**doc.model_dump(include=set(DocumentSummary.model_fields) - {"chars"}),
                           chars=len(doc.text))


def _page_json(total: int, limit: int, offset: int, items: Iterator[bytes], key: str) -> Response:
    """A page whose items are JSON already (stored, or encoded by :mod:`tidings.api.rows`): joined, not
    parsed and encoded again."""
    head = f'{{"total":{total},"limit":{limit},"offset":{offset},"{key}":['.encode()
    return Response(head + b",".join(items) + b"]}", media_type="application/json")


def _pick_format(fmt: str | None, accept: str) -> str:
    if fmt:
        return fmt
    accept = accept.lower()
    if "text/csv" in accept:
        return "csv"
    if "geo+json" in accept:
        return "geojson"
    return "json"


# ---------------------------------------------------------------------------------------- aggregates


def _actor_rows(store: Store, q: str | None, limit: int, offset: int, as_of: dt.date | None = None) -> ActorPage:
    """Actors by name, with code, country and sector from their newest event. A name coded two ways in
    different events (rare: "Tehran" as IRNGOV) is one entry, reported with its newest coding."""
    e = events_table.c
    with read_connection(store) as conn:
        as_source = name_counts(conn, e.source_name, q, as_of)
        as_target = name_counts(conn, e.target_name, q, as_of)
        totals = {n: as_source.get(n, 0) + as_target.get(n, 0) for n in as_source.keys() | as_target.keys()}
        page = sorted(totals, key=lambda n: (-totals[n], n))[offset:offset + limit]
        rows = []
        for name in page:
            role = "source" if name in as_source else "target"
            found = latest_of(conn, e[f"{role}_name"], name, e[f"{role}_code"], e[f"{role}_country"],
                            e[f"{role}_sector"])
            code, country, sector = tuple(found) if found is not None else (None, None, None)
            rows.append(ActorCount(code=code, name=name, country=country, sector=sector,
                                   as_source=as_source.get(name, 0), as_target=as_target.get(name, 0),
                                   events=totals[name]))
    return ActorPage(total=len(totals), actors=rows)


def _place_rows(store: Store, q: str | None, country: str | None, limit: int, offset: int,
                as_of: dt.date | None = None) -> PlacePage:
    """Places by name, with coordinates from their newest event (one name, one entry: a name that stands
    for two places in the data is reported at the newest one's coordinates)."""
    e = events_table.c
    code = (country or "").strip().upper()
    with read_connection(store) as conn:
        counts = name_counts(conn, e.place_name, q, as_of)
        ranked = sorted(counts, key=lambda n: (-counts[n], n))
        rows: list[dict[str, Any]] = []
        matched = 0
        for name in ranked:
            if not code and not (offset <= matched < offset + limit):
                matched += 1
                continue
            found = latest_of(conn, e.place_name, name, e.place_geonameid, e.place_country, e.place_country3,
                            e.place_admin1, e.place_lat, e.place_lon)
            if found is None or (code and code not in (found.place_country, found.place_country3)):
                continue
            if offset <= matched < offset + limit:
                rows.append({"name": name, "events": counts[name],
                             **{k.removeprefix("place_"): v for k, v in found._mapping.items()}})
            matched += 1
    # the level lives in the event's JSON: read once per listed place, after the page is chosen
    levels = store.place_levels({(r["name"], r["geonameid"]) for r in rows})
    return PlacePage(total=matched, places=[PlaceCount(level=levels[(r["name"], r["geonameid"])], **r)
                                            for r in rows])


def _vocabulary() -> Vocabulary:
    from tidings.core.settings import DATA_DIR

    plover = json.loads((DATA_DIR / "plover.json").read_text("utf-8"))
    types = [TypeInfo(name=name, quad_class=info.get("quad_class"), description=info.get("description", ""))
             for name, info in plover["types"].items()]
    return Vocabulary(types=types, modalities=list(MODALITIES))


# ------------------------------------------------------------------------------------------- ingest

async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` (never read whole first)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"The request body is larger than {limit // 1024} kB.",
                    "Send fewer documents per request, or run `tidings analyze` on the files.")


def _documents_from_body(body: bytes, content_type: str) -> tuple[list[Document], list[InputFailure], bool]:
    """(documents, failures, several?) from a JSON object, a JSON array or JSONL."""
    media = content_type.split(";")[0].strip().lower()
    if media in _JSONL_TYPES:
        items = list(read_jsonl(body, ref="<request>"))
        return ([i for i in items if isinstance(i, Document)],
                [i for i in items if isinstance(i, InputFailure)], True)
    if media and media != "application/json" and not media.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", f"Cannot read a body of type {media!r}.",
                       "Send application/json (one document or a list) or application/x-ndjson (JSONL).")
    if json_too_deep(body):
        raise ApiError(422, "invalid_json", f"The body's JSON is nested more than {MAX_JSON_DEPTH} deep.",
                       "Send one document object, or a flat list of them.")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, "invalid_json", f"The body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(422, "invalid_json", "The body's JSON is nested too deeply.",
                       "Send one document object, or a flat list of them.") from None
    several = isinstance(payload, list)
    documents: list[Document] = []
    failures: list[InputFailure] = []
    for number, item in enumerate(payload if several else [payload], start=1):
        ref = f"<request>:{number}" if several else "<request>"
        try:
            doc_in = DocumentIn.model_validate(item)
        except ValidationError as exc:
            if not several:
                raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None
            failures.append(InputFailure(ref, "E109", _validation_message(exc.errors(include_url=False))))
            continue
        found = read_text(doc_in.text, ref=ref, kind="api", published=doc_in.published,
                          outlet=doc_in.outlet, url=doc_in.url, title=doc_in.title)
        if isinstance(found, Document):
            documents.append(found)
        else:
            failures.append(found)
    return documents, failures, several


def _validation_message(errors: Sequence[Any]) -> str:
    parts = []
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid input"


# ---------------------------------------------------------------------------------------------- app

def create_app(db: str | None = None, *, engine: Any = None,
               engine_factory: Callable[[], Any] | None = None, store: Store | None = None,
               deliver_webhooks: bool = True) -> FastAPI:
    """The API + dashboard over the database ``db`` (default: ``Settings().db_url``).

    ``engine`` (an :class:`~tidings.pipeline.Engine`) is used as is — tests share one; otherwise one is
    built on the first POST by ``engine_factory`` (default ``Engine``).
    """
    from tidings.core import __version__

    store = store or Store(db)
    engines = _EngineSlot(engine, engine_factory)
    layer = _AcrossArticles()
    ingest_limiter = anyio.CapacityLimiter(1)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        outbox = _WebhookWorker(store) if layer.watch is not None and deliver_webhooks else None
        if outbox is not None:
            outbox.start()
        try:
            yield
        finally:
            if outbox is not None:
                outbox.stop()
            store.close()

    app = FastAPI(title="tidings", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  dependencies=[Depends(check_request)], description=(
        "Evidenced, attributed PLOVER events from news text. Filters match the `tidings events` CLI; "
        "errors are `{\"error\": {\"code\", \"message\"}}`; an unknown query parameter is an error too."))
    app.state.store = store
    app.state.engines = engines
    _install_error_handlers(app, store)
    mount_api_docs(app)

    @app.get("/api/health", response_model=Health, tags=["meta"])
    def health() -> Health:
        """Liveness, plus whether the analysis engine has been loaded yet."""
        return Health(status="ok", version=__version__, engine_loaded=engines.loaded,
                      schema_version=store.schema_version)

    @app.get("/api/stats", response_model=Stats, tags=["meta"])
    def stats() -> Stats:
        """Counts of documents, events (by type and modality), errors; first and last event dates."""
        result = store.stats()
        result.pop("url", None)   # a server-side path is nobody's business
        return Stats(**result)

    @app.get("/api/vocabulary", response_model=Vocabulary, tags=["meta"])
    def vocabulary() -> Vocabulary:
        """PLOVER types (with quad class) and modalities, for filter menus."""
        return _vocabulary()

    @app.post("/api/documents", status_code=201, response_model=Analysis, tags=["documents"],
              responses={200: {"model": IngestResult, "description": "Several documents (JSONL or array)"},
                         413: {"model": ErrorBody, "description": "Body over the size limit"},
                         415: {"model": ErrorBody, "description": "Not JSON or JSONL"}, **_ERRORS},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": DocumentIn.model_json_schema(),
                                       "example": _DOCUMENT_EXAMPLE},
                  "application/x-ndjson": {"schema": {"type": "string", "description": "One JSON document "
                                           "per line (text, published, outlet, url, title)."}}}}})
    async def post_documents(request: Request) -> Response:
        """Analyse and store articles: one JSON document (answers its Analysis), or a JSON array or
        JSONL body (answers every Analysis and every failure). Re-posting a text replaces its events."""
        body = await _read_body(request, MAX_BODY_BYTES)
        documents, failures, several = _documents_from_body(body, request.headers.get("content-type", ""))
        for failure in failures:
            await anyio.to_thread.run_sync(store.record_error, failure.ref, failure.code, failure.message)
        if not several and failures:
            raise ApiError(422, failures[0].code, failures[0].message)
        analyses, not_stored = await anyio.to_thread.run_sync(_analyse_and_store, engines, store,
                                                              documents, limiter=ingest_limiter)
        failures = [*failures, *not_stored]
        if not several:
            if not analyses:
                raise ApiError(422, not_stored[0].code, not_stored[0].message)
            return Response(analyses[0].model_dump_json(), status_code=201, media_type="application/json")
        error = None if analyses else ErrorDetail(
            code="no_documents", message=f"None of the {len(failures)} documents could be analysed; "
            "see failures.")
        result = IngestResult(error=error, analyses=analyses, failures=[Failure(**vars(f)) for f in failures])
        return Response(result.model_dump_json(exclude={"error"} if error is None else None, exclude_none=True),
                        status_code=201 if analyses else 422, media_type="application/json")

    @app.get("/api/events", response_model=None, tags=["events"], responses={
        200: {"model": EventPage, "content": {"text/csv": {}, "application/geo+json": {}},
              "description": "JSON page (default), CSV or GeoJSON (format= or Accept)"}, **_ERRORS})
    def list_events(
        request: Request,
        type: Annotated[list[str] | None, Query(description="PLOVER type; repeat for several.",
                                                examples=["RETREAT"], max_length=50)] = None,
        actor: Annotated[str | None, Query(description="Actor code prefix or name substring.",
                                           examples=["IRN"], **_TERM)] = None,
        country: Annotated[str | None, Query(description="ISO 3166 alpha-3 or alpha-2 of an actor or the place.",
                                             examples=["SYR"], **_CODE)] = None,
        place: Annotated[str | None, Query(description="Place name (case-insensitive) or GeoNames id.",
                                           examples=["Homs"], **_TERM)] = None,
        since: Annotated[dt.date | None, Query(description="Events overlapping this day or later.")] = None,
        until: Annotated[dt.date | None, Query(description="Events starting on or before this day.")] = None,
        modality: Annotated[list[Modality] | None, Query(description="Repeat for several.")] = None,
        source: Annotated[str | None, Query(description="Name in the attribution chain (substring).",
                                            **_TERM)] = None,
        text: Annotated[str | None, Query(description="Full-text search in the documents (FTS5 syntax).",
                                          examples=["evacuation"], **_TERM)] = None,
        doc_id: Annotated[str | None, Query(description="Only this document's events.", **_ID)] = None,
        as_of: Annotated[dt.date | None, Query(description=(
            "Only events reported by this day (document published on or before it, else stored by then)."))]
        = None,
        min_fatalities: Annotated[int | None, Query(ge=0, le=_MAX_OFFSET, description=(
            "Only events whose text reports at least this many killed (the event's casualty figures)."))] = None,
        limit: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 100,
        offset: Annotated[int, Query(ge=0, le=_MAX_OFFSET)] = 0,
        format: Annotated[Literal["json", "csv", "geojson"] | None,
                          Query(description="Overrides the Accept header.")] = None,
        shape: Annotated[Literal["full", "flat"], Query(description="JSON only: whole events or flat rows.")
                         ] = "full",
    ) -> Response:
        """Stored events matching every filter, newest first (undated last), one page at a time."""
        _check_types(type)
        filters: dict[str, Any] = {k: v for k, v in {
            "type": type, "actor": actor, "country": country, "place": place, "since": since, "until": until,
            "modality": modality, "source": source, "text": text, "doc_id": doc_id, "as_of": as_of}.items() if v}
        if min_fatalities is not None:
            filters["min_fatalities"] = min_fatalities
        fmt = _pick_format(format, request.headers.get("accept", ""))
        if fmt == "json":   # the stored JSON is the answer (or its flat row): no Event models built
            stored, total = store.events_page(**filters, limit=limit, offset=offset)
            if shape == "full":
                items = (event_json(s).encode() for s in stored)
            else:
                parsed = [parse(s) for s in stored]
                sources = layer.independent_sources(store, [d["id"] for d in parsed])
                items = (flat_row_json(s, d, sources.get(d["id"])) for s, d in zip(stored, parsed, strict=True))
            response = _page_json(total, limit, offset, items, "events")
            response.headers["X-Total-Count"] = str(total)
            return response
        events = store.events(**filters, limit=limit, offset=offset)
        total = store.count_events(**filters) if len(events) == limit or offset else len(events)
        headers = {"X-Total-Count": str(total)}
        buffer = io.StringIO()
        export_events(events, fmt, buffer)
        media = "text/csv; charset=utf-8" if fmt == "csv" else "application/geo+json"
        return Response(buffer.getvalue(), media_type=media, headers=headers)

    @app.get("/api/events/{event_id}", response_model=EventDetail, tags=["events"], responses=_ERRORS)
    def get_event(event_id: Annotated[str, PathParam(**_ID)]) -> EventDetail:
        """One event with its sentence, surrounding text, evidence spans and attribution chain."""
        event = store.event(event_id)
        if event is None:
            raise ApiError(404, "not_found", f"No event with id {event_id!r}.",
                           "Ids come from GET /api/events.")
        return _event_detail(event, store.document(event.doc_id), layer.cluster_summary(store, event.id))

    @app.get("/api/documents", response_model=DocumentPage, tags=["documents"], responses=_ERRORS)
    def list_documents(limit: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 100,
                       offset: Annotated[int, Query(ge=0, le=_MAX_OFFSET)] = 0,
                       as_of: Annotated[dt.date | None, Query(description=_AS_OF)] = None) -> DocumentPage:
        """Stored documents in the order they were stored (without their text)."""
        docs = store.documents(limit=limit, offset=offset, as_of=as_of)
        return DocumentPage(total=document_count(store, as_of), limit=limit, offset=offset,
                            documents=[_summary(d) for d in docs])

    @app.get("/api/documents/{doc_id}", response_model=Analysis, tags=["documents"], responses=_ERRORS)
    def get_document(doc_id: Annotated[str, PathParam(**_ID)]) -> Response:
        """Everything stored for one document: text, events, mentions, source chain, warnings."""
        analysis = store.analysis(doc_id)
        if analysis is None:
            raise ApiError(404, "not_found", f"No document with id {doc_id!r}.")
        return Response(analysis.model_dump_json(), media_type="application/json")

    @app.get("/api/actors", response_model=ActorPage, tags=["aggregates"], responses=_ERRORS)
    def actors(q: Annotated[str | None, Query(description="Name substring (case-insensitive).", **_TERM)] = None,
               limit: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 100,
               offset: Annotated[int, Query(ge=0, le=_MAX_OFFSET)] = 0,
               as_of: Annotated[dt.date | None, Query(description=_AS_OF)] = None) -> ActorPage:
        """Distinct actors (by name, with the code of their newest event), how often each is source and target,
        most frequent first. To filter events by code prefix use /api/events?actor=."""
        return _actor_rows(store, q, limit, offset, as_of)

    @app.get("/api/places", response_model=PlacePage, tags=["aggregates"], responses=_ERRORS)
    def places(q: Annotated[str | None, Query(description="Place name substring.", **_TERM)] = None,
               country: Annotated[str | None, Query(description="ISO alpha-2 or alpha-3.", **_CODE)] = None,
               limit: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 100,
               offset: Annotated[int, Query(ge=0, le=_MAX_OFFSET)] = 0,
               as_of: Annotated[dt.date | None, Query(description=_AS_OF)] = None) -> PlacePage:
        """Distinct geocoded places with coordinates and event counts, most frequent first."""
        return _place_rows(store, q, country, limit, offset, as_of)

    @app.get("/api/clusters", response_model=ClusterPage, tags=["across articles"], responses=_LAYER_ERRORS)
    def clusters(type: Annotated[str | None, Query(description="PLOVER type.", max_length=32,
                                                   pattern=NO_CONTROLS)] = None,
                 min_size: Annotated[int, Query(ge=1, le=_MAX_OFFSET, description="At least this many "
                                                "events.")] = 1,
                 min_sources: Annotated[int, Query(ge=0, le=_MAX_OFFSET, description="At least this many "
                                                   "independent sources.")] = 0,
                 limit: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 100,
                 offset: Annotated[int, Query(ge=0, le=_MAX_OFFSET)] = 0,
                 as_of: Annotated[dt.date | None, Query(description="As known on this day: only reports first "
                                                        "published (else stored) by then.")] = None) -> ClusterPage:
        """Real-world events reported across articles, biggest first: members, independent sources
        (by origin, not by outlet), contradictions. Needs the across-article layer (else 501)."""
        _check_types([type] if type else None)
        found = layer.clusters(store, type=type, min_size=min_size, min_sources=min_sources, limit=limit,
                               offset=offset, as_of=as_of)
        return ClusterPage(limit=limit, offset=offset, clusters=found)

    @app.get("/api/clusters/{cluster_id}", tags=["across articles"], responses=_LAYER_ERRORS)
    def get_cluster(cluster_id: Annotated[str, PathParam(**_ID)]) -> dict[str, Any]:
        """One cluster with its members and their evidence."""
        found = layer.cluster(store, cluster_id)
        if found is None:
            raise ApiError(404, "not_found", f"No cluster with id {cluster_id!r}.")
        return found

    @app.get("/api/alerts", response_model=AlertPage, tags=["across articles"], responses=_LAYER_ERRORS)
    def alerts(rule: Annotated[str | None, Query(description="Only this watch rule's alerts.",
                                                 max_length=128, pattern=NO_CONTROLS)] = None,
               limit: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 100,
               offset: Annotated[int, Query(ge=0, le=_MAX_OFFSET)] = 0) -> AlertPage:
        """Alerts raised by watch rules (``tidings watch``), newest first. Needs tidings.across.watch (else 501)."""
        return AlertPage(limit=limit, offset=offset, alerts=layer.alerts(store, rule=rule, limit=limit,
                                                                          offset=offset))

    from tidings.api.aggregates import router as aggregates  # imports this module: included here

    app.include_router(aggregates)
    _mount_dashboard(app)
    return app


def _analyse_and_store(engines: _EngineSlot, store: Store, documents: list[Document]
                       ) -> tuple[list[Analysis], list[InputFailure]]:
    """Runs on the ingest thread: the engine is CPU-bound and not shared between concurrent calls. Each
    document is analysed and stored on its own: one that fails (its analysis or its write) is a failure of
    its own and the others are answered as usual."""
    from tidings.service import ingest

    if not documents:
        return [], []
    # The one workflow (analyse → store → link → watch rules); the webhook worker delivers what it queues.
    report = ingest(documents, store, engines.get(), notify=lambda a: log.info("alert %s", a.summary))
    for note in report.notes:
        log.warning("%s", note)
    return report.analyses, report.failures


def _event_detail(event: Event, document: Document | None, cluster: dict[str, Any] | None) -> EventDetail:
    sentence_span = event.evidence.get("sentence")
    sentence = window = None
    if sentence_span is not None:
        sentence = TextWindow(start=sentence_span.start, end=sentence_span.end, text=sentence_span.text)
        if document is not None:
            window = _window(document.text, sentence_span.start, sentence_span.end)
    evidence = [EvidenceSpan(field=name, role=name.split(".")[0], start=span.start, end=span.end, text=span.text)
                for name, span in event.evidence.items() if name != "sentence"]
    evidence += [EvidenceSpan(field=f"casualties.{n}", role="casualties", start=c.span.start, end=c.span.end,
                              text=c.span.text) for n, c in enumerate(event.casualties)]
    return EventDetail(event=event, document=_summary(document) if document else None, sentence=sentence,
                       window=window, evidence=evidence, chain=event.attribution,
                       anonymous_links=sum(link.anonymous for link in event.attribution), cluster=cluster,
                       fatalities=event.fatalities)


class _WebhookWorker:
    """Delivers queued alert webhooks (``tidings.across.watch.deliver_pending``) every few seconds on a thread of
    its own, so a POST answers without waiting for any webhook. Stops with the app."""

    def __init__(self, store: Store, every: float = 5.0, budget: float = 10.0) -> None:
        import threading

        self._store, self._every, self._budget = store, every, budget
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tidings-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._budget + 5)

    def _run(self) -> None:
        from tidings.across.watch import deliver_pending

        while not self._stop.wait(self._every):
            try:
                deliver_pending(self._store, budget=self._budget)
            except Exception:
                log.exception("webhook delivery failed; retried on the next round")


class _AcrossArticles:
    """The across-article layer where installed: clusters (``tidings.across.link``) and alerts (``tidings.across.watch``).

    Optional on purpose: the events API stands alone, and these modules arrive separately. Each method
    answers 501 when its module is missing; enrichment of event rows (independent sources) is skipped.
    """

    def __init__(self) -> None:
        self.link = _optional_module("tidings.across.link")
        self.watch = _optional_module("tidings.across.watch")
        self._tables_seen = False

    def need(self, module: ModuleType | None, name: str, what: str) -> ModuleType:
        if module is None:
            raise ApiError(501, "not_available", f"{what.capitalize()} need {name}, the across-article layer, "
                           "which this installation of tidings does not have.",
                           "Upgrade tidings; the events endpoints work without it.")
        return module

    def clusters(self, store: Store, *, type: str | None, min_size: int, min_sources: int, limit: int,
                 offset: int, as_of: dt.date | None = None) -> list[dict[str, Any]]:
        link = self.need(self.link, "tidings.across.link", "clusters")
        found = link.clusters(store, type=type, min_size=min_size, min_sources=min_sources, limit=limit + offset,
                              as_of=as_of)
        return [c.as_dict() for c in found[offset:]]

    def cluster(self, store: Store, cluster_id: str) -> dict[str, Any] | None:
        found = self.need(self.link, "tidings.across.link", "clusters").cluster(store, cluster_id)
        return found.as_dict() if found is not None else None

    def cluster_summary(self, store: Store, event_id: str) -> dict[str, Any] | None:
        """The cluster an event belongs to, without its members (None when unlinked or no layer)."""
        if self.link is None or not self._has_tables(store):
            return None
        cluster_id = self.link.cluster_of(store, event_id)
        found = self.link.cluster(store, cluster_id) if cluster_id else None
        if found is None:
            return None
        data = found.as_dict()
        data["members"] = len(data.get("members", []))
        data.pop("canonical", None)
        return data

    def independent_sources(self, store: Store, event_ids: list[str]) -> dict[str, int]:
        """event id → independent sources of its cluster, for the events that are linked."""
        if self.link is None or not event_ids or not self._has_tables(store):
            return {}
        clusters = self.link.clusters_table.c
        with read_connection(store) as conn:
            of_event = self.link.clusters_of(conn, event_ids)
            ids = sorted(set(of_event.values()))
            sources: dict[str, int] = {}
            for i in range(0, len(ids), 500):
                sources.update((cid, n) for cid, n in conn.execute(
                    sa.select(clusters.id, clusters.independent_sources).where(clusters.id.in_(ids[i:i + 500]))))
        return {event: sources[cid] for event, cid in of_event.items() if cid in sources}

    def alerts(self, store: Store, *, rule: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
        watch = self.need(self.watch, "tidings.across.watch", "alerts")
        return [a.as_dict() for a in watch.alerts(store, rule=rule, limit=limit + offset)[offset:]]

    def _has_tables(self, store: Store) -> bool:
        """Reads must not create tables: until something links, there are no clusters to report."""
        if not self._tables_seen:
            with read_connection(store) as conn:
                self._tables_seen = sa.inspect(conn).has_table("cluster_members")
        return self._tables_seen


def _install_error_handlers(app: FastAPI, store: Store) -> None:
    """Every error answers ``{"error": {...}}`` — FastAPI's and Starlette's own (404, 405, 422, 500) too —
    and a server-side one names no file or database (:func:`tidings.api.guard.scrub`)."""
    database = store.engine.url.database if store.engine.dialect.name == "sqlite" else None
    secrets = (store.url, str(store.engine.url), database, str(Path(database).resolve()) if database else None)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, exc.hint)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        response = _error(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "validation_error", _validation_message(exc.errors()), details=error_details(exc.errors()))

    @app.exception_handler(TidingsError)
    async def tidings_error(_request: Request, exc: TidingsError) -> JSONResponse:
        if isinstance(exc, StoreError):
            status = 503 if exc.code == "E204" else 500
        else:
            status = 422 if isinstance(exc, InputError) or exc.code.startswith(("E1", "E3")) else 500
        message = exc.message if status < 500 else scrub(exc.message, *secrets)
        return _error(status, exc.code, message, scrub(exc.hint, *secrets) if exc.hint else None)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in the API", exc_info=exc)
        return _error(500, "internal_error", f"Unexpected {type(exc).__name__}; see the server log.")


def _mount_dashboard(app: FastAPI) -> None:
    """``/`` is the dashboard; its assets (vendored libraries, basemap) are served from the package."""
    index = WEB_DIR / "index.html"

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    app.mount("/web", StaticFiles(directory=WEB_DIR), name="web")
