"""The store: analyses in, filtered events out. SQLAlchemy Core over SQLite (default) or any SQL URL.

Why it looks the way it does:

* **Lossless + filterable.** Each event is kept whole as JSON (``events.data``, read back with
  ``Event.model_validate_json``) *and* flattened into indexed columns named like the export columns
  (:data:`tidings.store.export.FLAT_COLUMNS`), so queries filter on columns and return exact records.
* **Idempotent.** Saving an analysis replaces everything stored for its document id (the content hash):
  re-running a batch never duplicates.
* **Fast bulk writes.** :meth:`Store.save_many` writes in batched transactions with ``executemany``; a batch
  that hits a conflict is redone one document at a time so one bad record costs only itself.
* **Readers never wait for writers.** SQLite runs in WAL mode; writes take ``BEGIN IMMEDIATE`` so two writers
  queue on the busy timeout instead of failing half way.
* **Small name tables** (``names``) hold each distinct actor, place and source name with its case-folded
  form. Substring and case-insensitive filters run over these few thousand rows, then use the indexes on
  the big tables, instead of scanning millions of events.
* **Query plans chosen by counting.** SQLite cannot tell a filter matching 50 events from one matching
  200,000; capped probes can (a few ms), and :meth:`Store._plan` then drives the query from the sparse
  filter's index or walks the date index newest first. Pages of 100 stay within ~20 ms at 1M events.
* **SQLite specifics are fenced.** PRAGMAs, ``BEGIN IMMEDIATE`` and FTS5 live behind ``self._sqlite``.
* **PostgreSQL is a first-class backend** (``postgresql://`` URLs, psycopg 3, ``tidings[postgres]``): the same
  tables, full-text search through a generated ``tsvector`` column with a GIN index (the same query syntax as
  FTS5, translated, see :func:`_pg_tsquery`), documents (through a staging table) and child rows written
  with ``COPY``, and concurrent writers made
  safe by row locks: a save upserts its documents first (sorted, so two writers never deadlock), so a second
  writer of the same document waits, then replaces — nothing lost, nothing twice. ``busy_timeout`` becomes
  ``lock_timeout``. Any other SQLAlchemy URL gets the same tables and a LIKE-based text search.
* **Versioned schema** (``meta.schema_version``): new databases get today's tables at once; older ones run
  the steps in :mod:`tidings.store.migrations` inside the opening transaction (under an advisory lock on PostgreSQL).
  **Not Alembic** (dropped from the ``postgres`` extra, where it was declared but never imported): the
  store needs only "run the numbered steps between the stored version and ours, in the opening
  transaction, one process at a time" — a 40-line loader over SQLAlchemy Core that serves both backends
  with one history. Alembic would add a dependency, an ``alembic_version`` table beside ``meta``, an
  ``env.py`` and a second way to create tables, for no step we cannot already express. Revisit if
  migrations ever need autogeneration from model diffs or branching histories.
* **Readers never create.** ``Store(url, create=False)`` (the read verbs) refuses a SQLite file that is not
  there (E209) instead of creating an empty database that answers every query with nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Self, TypedDict, Unpack

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import (
    DatabaseError,
    DataError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
)

from tidings.core.errors import InputError, StoreError
from tidings.core.records import MODALITIES, Actor, Analysis, Document, Event, Mention, Place, Source
from tidings.core.settings import Settings
from tidings.store import migrations
from tidings.store.schema import (
    documents_table,
    errors_table,
    events_table,
    feed_items_table,
    feeds_table,
    mentions_table,
    meta_table,
    metadata,
    names_table,
    sources_table,
)

__all__ = ["GROUPABLE", "MIGRATIONS", "SCHEMA_VERSION", "EventFilters", "Store", "database_url"]

SCHEMA_VERSION = 5

Migration = Callable[[Connection], None]
# MIGRATIONS[n] upgrades a database from schema version n to n + 1, inside the opening transaction.
MIGRATIONS: dict[int, Migration] = migrations.discover()

BATCH_EVENTS = 20_000         # flush a save_many batch after this many events ...
BATCH_DOCUMENTS = 2_000       # ... or this many documents, whichever comes first
_DENSE_MIN, _DENSE_MAX = 1_000, 50_000   # bounds of the probes that pick a query plan (Store._plan)
_IN_CHUNK = 500               # ids per IN (...) list: well under every backend's parameter limit
SNIPPET_MARKS = ("«", "»")    # not [ ]: rich would read those as markup in the terminal

# ------------------------------------------------------------------------------------------------ schema

_EVENT_COLUMNS: tuple[str, ...] = tuple(events_table.c.keys())
_START, _END = _EVENT_COLUMNS.index("date_start"), _EVENT_COLUMNS.index("date_end")

# FTS5 over documents(title, text), kept in sync by triggers so every write path (ours, a migration, a
# user's sqlite3 session) updates it. External content: the text is stored once, in documents.
_FTS_DDL = (
    ("CREATE VIRTUAL TABLE documents_fts USING fts5(title, text, content='documents', content_rowid='key',"
     " tokenize='porter unicode61 remove_diacritics 2')"),
    ("CREATE TRIGGER documents_fts_ai AFTER INSERT ON documents BEGIN"
     " INSERT INTO documents_fts(rowid, title, text) VALUES (new.key, new.title, new.text); END"),
    ("CREATE TRIGGER documents_fts_ad AFTER DELETE ON documents BEGIN"
     " INSERT INTO documents_fts(documents_fts, rowid, title, text)"
     " VALUES ('delete', old.key, old.title, old.text); END"),
    ("CREATE TRIGGER documents_fts_au AFTER UPDATE ON documents BEGIN"
     " INSERT INTO documents_fts(documents_fts, rowid, title, text)"
     " VALUES ('delete', old.key, old.title, old.text);"
     " INSERT INTO documents_fts(rowid, title, text) VALUES (new.key, new.title, new.text); END"),
    "INSERT INTO documents_fts(documents_fts) VALUES ('rebuild')",
)
fts_table = sa.table("documents_fts", sa.column("rowid", sa.Integer))

# PostgreSQL: a generated tsvector (title weighted above text) with a GIN index, so every write path keeps it
# current. Text beyond 300k characters is not indexed: a tsvector is capped at 1 MB and articles are far
# shorter. And an index that serves "newest first, undated last" pages without sorting the whole table.
_PG_DDL = (
    ("ALTER TABLE documents ADD COLUMN IF NOT EXISTS search tsvector GENERATED ALWAYS AS ("
     "setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || "
     "setweight(to_tsvector('english'::regconfig, left(text, 300000)), 'B')) STORED"),
    "CREATE INDEX IF NOT EXISTS ix_documents_search ON documents USING gin (search)",
    "CREATE INDEX IF NOT EXISTS ix_events_date_order ON events (date_start DESC NULLS LAST, id)",
)
_PG_CONFIG = "english"
_PG_BLIND = frozenset({"source", "text"})   # filters PostgreSQL's statistics cannot size (see Store._plan)
_PG_TEXT_IDS = 20_000                        # matching documents passed to PostgreSQL as a list, at most
_PG_SCHEMA_LOCK = 0x7469_6469_6E67   # "tiding": serialises schema creation and migration across processes
pg_search = sa.literal_column("documents.search", type_=postgresql.TSVECTOR)   # not in the Table: generated

# INSERT ... ON CONFLICT DO NOTHING, where the dialect has it (same API in both).
_INSERT_IGNORING: dict[str, Callable[[sa.Table], Any]] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


#: What :meth:`Store.group_events` may group by.
GROUPABLE = frozenset({
    "type", "modality", "date_start", "date_end", "granularity", "place_geonameid", "place_name",
    "place_country", "place_country3", "place_admin1", "place_lat", "place_lon", "place_feature",
    *(f"{who}_{what}" for who in ("source", "target") for what in ("code", "name", "country", "sector"))})


class EventFilters(TypedDict, total=False):
    """The filters shared by :meth:`Store.events`, :meth:`Store.count_events` and :meth:`Store.iter_events`."""

    type: str | Sequence[str] | None
    actor: str | None
    country: str | None
    place: str | None
    since: dt.date | None
    until: dt.date | None
    modality: str | Sequence[str] | None
    source: str | None
    text: str | None
    doc_id: str | None
    as_of: dt.date | None
    min_fatalities: int | None


def document_known_by(day: dt.date) -> sa.ColumnElement[bool]:
    """Documents first reported by the end of ``day``: published on or before it, else stored by then (the
    rule every as-of view uses: events, exports, aggregates, clusters)."""
    d = documents_table.c
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    return sa.or_(d.published <= day, sa.and_(d.published.is_(None), d.analysed_at < end))


def reported_by(day: dt.date) -> sa.ColumnElement[bool]:
    """Events first reported by the end of ``day`` (their document is :func:`document_known_by` it)."""
    return events_table.c.doc_id.in_(sa.select(documents_table.c.id).where(document_known_by(day)))


_reported_by = reported_by


# ------------------------------------------------------------------------------------------------ rows

_json: Callable[[Any], str] = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode

# The bulk path hands dates straight to sqlite3, whose built-in date adapters are deprecated (Python 3.12).
# These write exactly the text SQLAlchemy's SQLite Date/DateTime types write and read back.
sqlite3.register_adapter(dt.date, dt.date.isoformat)
sqlite3.register_adapter(dt.datetime, lambda value: value.isoformat(" "))


@lru_cache(maxsize=64)
def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'


@lru_cache(maxsize=512)
def _iso3(code: str) -> str | None:
    """ISO alpha-2 → alpha-3 (``SY`` → ``SYR``); None when unknown. pycountry loads lazily, once."""
    import pycountry

    country = pycountry.countries.get(alpha_2=code.upper())
    return country.alpha_3 if country else None


# Column order of the tuples the bulk path writes (checked against the tables below at import).
_DOCUMENT_COLUMNS = ("id", "text", "title", "url", "outlet", "published", "published_inferred", "language",
                     "source_kind", "path", "meta", "chain", "warnings", "analysed_at", "coder")
_MENTION_COLUMNS = ("doc_id", "kind", "label", "span_start", "span_end", "span_text", "value", "sentence")
_SOURCE_COLUMNS = ("event_id", "position", "name", "kind", "anonymous")
_NO_ACTOR: tuple[None, ...] = (None,) * 4
_NO_PLACE: tuple[None, ...] = (None,) * 7
Row = tuple[Any, ...]


def _document_values(analysis: Analysis, now: dt.datetime) -> Row:
    doc = analysis.document
    coder = analysis.events[0].coder if analysis.events else ""
    return (doc.id, doc.text, doc.title, doc.url, doc.outlet, doc.published, doc.published_inferred,
            doc.language, doc.source_kind, doc.path,
            _json(doc.model_dump(mode="json", include={"meta"})["meta"]),
            _json([s.model_dump(mode="json") for s in analysis.document_chain]),
            _json(list(analysis.warnings)), now, coder or Settings().coder)


def _actor_values(actor: Actor | None) -> Row:
    return _NO_ACTOR if actor is None else (actor.code, actor.name, actor.country, actor.sector)


def _place_values(place: Place | None) -> Row:
    if place is None:
        return _NO_PLACE
    # Filled in for filtering when only ISO2 is known, so --country needs one indexed column, not two.
    country3 = place.country3 or (_iso3(place.country) if place.country else None)
    return (place.geonameid, place.name, place.country, country3, place.admin1, place.lat, place.lon)


def _event_values(event: Event, doc_id: str, position: int) -> Row:
    """Filter columns (named as in tidings.store.export.FLAT_COLUMNS) + the whole event as JSON.

    Built directly from attributes, not via ``flat_event``: this is the hot loop of bulk inserts.
    Dates are normalised for filtering only: a one-sided range gets the other side equal to it.
    """
    when = event.when
    return (event.id, doc_id, position, event.type, event.mode,
            _json(event.contexts) if event.contexts else "[]", event.cameo, event.modality,
            event.confidence, when.start or when.end, when.end or when.start, when.granularity,
            *_actor_values(event.source_actor), *_actor_values(event.target_actor),
            *_place_values(event.place), event.sentence, event.coder,
            event.fatalities, event.model_dump_json())


def _mention_values(mention: Mention, doc_id: str) -> Row:
    span = mention.span
    return (doc_id, mention.kind, mention.label, span.start, span.end, span.text,
            _json(mention.model_dump(mode="json", include={"value"})["value"]) if mention.value else "{}",
            mention.sentence)


def _source_values(event: Event) -> list[Row]:
    return [(event.id, i, link.name, link.kind, link.anonymous) for i, link in enumerate(event.attribution)]


def _event_names(event: Event) -> Iterator[tuple[str, str]]:
    for actor in (event.source_actor, event.target_actor):
        if actor is not None:
            yield "actor", actor.name
    if event.place is not None:
        yield "place", event.place.name
    for link in event.attribution:
        yield "source", link.name


class _Batch:
    """The rows of one write transaction, built before the transaction opens so it stays short."""

    def __init__(self, analyses: Iterable[Analysis]) -> None:
        # The last analysis of a document wins, as if they had been saved one after another.
        latest = {a.document.id: a for a in analyses}
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self.doc_ids = list(latest)
        self.documents = [_document_values(a, now) for a in latest.values()]
        self.events: list[Row] = []
        self.mentions: list[Row] = []
        self.sources: list[Row] = []
        names: set[tuple[str, str]] = set()
        for analysis in latest.values():
            doc_id = analysis.document.id
            for position, event in enumerate(analysis.events):
                self.events.append(_event_values(event, doc_id, position))
                self.sources.extend(_source_values(event))
                names.update(_event_names(event))
            self.mentions.extend(_mention_values(m, doc_id) for m in analysis.mentions)
        self.names = [{"kind": k, "name": n, "folded": n.casefold()} for k, n in sorted(names)]
        # Readers strip NUL already; a Document built by hand may still carry one (cheap test, rare fix).
        if any("\x00" in str(value) for row in self.documents for value in row if isinstance(value, str)):
            self.documents, self.events, self.sources, self.mentions = (
                _without_nul(rows) for rows in (self.documents, self.events, self.sources, self.mentions))
            self.names = [{k: _no_nul(v) for k, v in row.items()} for row in self.names]
        # Longest date range in the batch: lets `since` filters use the date_start index (see _date_clauses).
        self.max_span_days = max(((row[_END] - row[_START]).days for row in self.events
                                  if row[_START] and row[_END]), default=0)

    def tables(self) -> list[tuple[sa.Table, tuple[str, ...], list[Row]]]:
        """Parents before children, for the foreign keys."""
        return [(documents_table, _DOCUMENT_COLUMNS, self.documents),
                (events_table, _EVENT_COLUMNS, self.events),
                (sources_table, _SOURCE_COLUMNS, self.sources),
                (mentions_table, _MENTION_COLUMNS, self.mentions)]


def _batches(analyses: Iterable[Analysis]) -> Iterator[list[Analysis]]:
    """Consecutive groups of at most BATCH_EVENTS events or BATCH_DOCUMENTS documents."""
    pending: list[Analysis] = []
    n_events = 0
    for analysis in analyses:
        pending.append(analysis)
        n_events += len(analysis.events)
        if n_events >= BATCH_EVENTS or len(pending) >= BATCH_DOCUMENTS:
            yield pending
            pending, n_events = [], 0
    if pending:
        yield pending


# Store errors that belong to one document's records, not to the database: a batch that meets one is redone
# document by document, so the failure costs that document only.
_PER_DOCUMENT_CODES = frozenset({"E205", "E206", "E207", "E208"})


def _no_nul(value: Any) -> Any:
    """NUL → U+FFFD: PostgreSQL refuses NUL in text and SQLite would keep it, so neither backend gets one.
    Same length, so character offsets into a document's text stay right."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) and "\x00" in value else value


def _without_nul(rows: list[Row]) -> list[Row]:
    return [tuple(_no_nul(v) for v in row) for row in rows]


def _chunks(items: Sequence[str], size: int = _IN_CHUNK) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _like_pattern(needle: str) -> str:
    """A case-folded LIKE pattern matching ``needle`` anywhere, with LIKE's wildcards escaped."""
    escaped = needle.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_FTS_QUERY_ERROR = re.compile(r"fts5|unterminated string|malformed MATCH|unknown special query")
_FTS_SYNTAX = re.compile(r'["*^():]|\b(AND|OR|NOT|NEAR)\b')


def _fts_query(query: str) -> str:
    """Plain words become quoted terms (so ``al-Sham`` or ``U.S.`` do not trip FTS5's parser);
    a query that already uses FTS5 syntax (quotes, AND/OR/NOT, prefix*) is passed through as written."""
    if _FTS_SYNTAX.search(query):
        return query
    return " ".join('"' + word.replace('"', '""') + '"' for word in query.split())


_PG_TOKEN = re.compile(r'"([^"]*)"|(\()|(\))|([^\s()"]+)')


def _regconfig() -> sa.ColumnElement[Any]:
    return sa.literal(_PG_CONFIG, type_=postgresql.REGCONFIG)


def _pg_tsquery(query: str) -> sa.ColumnElement[Any]:
    """The FTS5 query syntax users already know, as a PostgreSQL tsquery built from SQL functions.

    Words and "quoted phrases" become ``phraseto_tsquery`` (stemmed like the index, punctuation such as
    ``al-Sham`` or ``U.S.`` handled by PostgreSQL's parser, nothing pasted into tsquery syntax), ``word*`` a
    prefix match; ``AND`` (or nothing), ``OR``, ``NOT`` and parentheses combine them with FTS5's precedence
    (NOT, then AND, then OR). Unbalanced quotes or parentheses are an InputError (E305), as on SQLite.
    """
    if query.count('"') % 2:
        raise _fts_syntax_error("unterminated string")
    tokens: list[tuple[str, str]] = []
    for phrase, opening, closing, word in _PG_TOKEN.findall(query):
        if opening or closing:
            tokens.append(("(" if opening else ")", ""))
        elif word in ("AND", "OR", "NOT"):
            tokens.append((word, ""))
        else:
            tokens.append(("term", phrase if phrase or not word else word))
    parser = _TsqueryParser(tokens)
    expression = parser.parse_or()
    if parser.position != len(tokens):
        raise _fts_syntax_error(f"unexpected {tokens[parser.position][0]!r}")
    return expression


def _fts_syntax_error(detail: str) -> InputError:
    return InputError(f"The text query is not valid full-text syntax: {detail}", code="E305",
                      hint='Quote phrases ("peace talks"); write AND / OR / NOT in capitals.')


class _TsqueryParser:
    """Recursive descent over (kind, text) tokens; each rule returns an SQL tsquery expression."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.position = 0

    def _peek(self) -> str | None:
        return self.tokens[self.position][0] if self.position < len(self.tokens) else None

    def parse_or(self) -> sa.ColumnElement[Any]:
        left = self.parse_and()
        while self._peek() == "OR":
            self.position += 1
            left = sa.func.tsquery_or(left, self.parse_and(), type_=postgresql.TSQUERY)
        return left

    def parse_and(self) -> sa.ColumnElement[Any]:
        left = self.parse_not()
        while self._peek() in ("AND", "term", "("):
            if self._peek() == "AND":
                self.position += 1
            left = sa.func.tsquery_and(left, self.parse_not(), type_=postgresql.TSQUERY)
        return left

    def parse_not(self) -> sa.ColumnElement[Any]:
        left = self.parse_primary()
        while self._peek() == "NOT":
            self.position += 1
            right = sa.func.tsquery_not(self.parse_primary(), type_=postgresql.TSQUERY)
            left = sa.func.tsquery_and(left, right, type_=postgresql.TSQUERY)
        return left

    def parse_primary(self) -> sa.ColumnElement[Any]:
        kind = self._peek()
        if kind == "(":
            self.position += 1
            inner = self.parse_or()
            if self._peek() != ")":
                raise _fts_syntax_error("unbalanced parentheses")
            self.position += 1
            return inner
        if kind != "term":
            raise _fts_syntax_error("an operator needs a word on each side" if kind else "query ends early")
        text = self.tokens[self.position][1]
        self.position += 1
        if text.endswith("*") and text.rstrip("*"):
            stem = re.sub(r"\W+", "", text.rstrip("*"))
            if stem:
                return sa.func.to_tsquery(_regconfig(), stem + ":*", type_=postgresql.TSQUERY)
        return sa.func.phraseto_tsquery(_regconfig(), text, type_=postgresql.TSQUERY)


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def database_url(url: str) -> str:
    """The SQLAlchemy URL for a user's database URL: ``postgresql://`` and ``postgres://`` mean psycopg 3
    (SQLAlchemy alone would pick psycopg2, which tidings does not install); anything else is unchanged."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _is_busy(exc: OperationalError) -> bool:
    """SQLite's "database is locked" or PostgreSQL's lock_timeout (SQLSTATE 55P03)."""
    text = str(exc.orig)
    return ("locked" in text or "busy" in text or "lock timeout" in text
            or getattr(exc.orig, "sqlstate", None) == "55P03")


def _copy_rows(conn: Connection, table: str, columns: tuple[str, ...], rows: list[Row]) -> None:
    """PostgreSQL COPY inside the connection's transaction (psycopg 3 adapts dates, booleans and NULLs)."""
    if not rows:
        return
    import psycopg

    names = ", ".join(f'"{c}"' for c in columns)
    statement = f'COPY "{table}" ({names}) FROM STDIN'
    raw = conn.connection.driver_connection
    assert raw is not None, "a live connection has a driver connection"
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        # Bypassing SQLAlchemy means wrapping its way, so IntegrityError & co. reach _translate as usual.
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


# PostgreSQL bulk path for documents (Store._write_batch_pg): a temporary table per session, emptied at each
# commit, that COPY fills; one INSERT ... SELECT then upserts in id order. Below this many documents a
# batch (a single save) upserts with parameters: no staging table for one article.
_PG_COPY_DOCUMENTS = 50
_PG_STAGING = "tidings_documents_staging"
_DOC_NAMES = ", ".join(f'"{c}"' for c in ("key", *_DOCUMENT_COLUMNS))
_PG_STAGING_DDL = (f'CREATE TEMPORARY TABLE IF NOT EXISTS "{_PG_STAGING}" AS SELECT {_DOC_NAMES} FROM documents '
                   "WITH NO DATA")
_PG_UPSERT_STAGED = (
    f'INSERT INTO documents ({_DOC_NAMES}) SELECT {_DOC_NAMES} FROM "{_PG_STAGING}" ORDER BY id '
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f'"{c}" = excluded."{c}"' for c in ("key", *_DOCUMENT_COLUMNS) if c != "id"))


# ------------------------------------------------------------------------------------------------ store

class Store:
    """Documents, events, mentions, attribution chains and errors in one SQL database.

    ``Store()`` opens ``Settings().db_url`` (``sqlite:///tidings.db`` unless ``TIDINGS_DB`` says otherwise),
    creating or migrating the schema. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, url: str | None = None, *, busy_timeout: float = 30.0, create: bool = True) -> None:
        """``create=False`` is for readers: a SQLite file that does not exist is an error (E209) instead
        of a new empty database that would answer every query with nothing."""
        self._url = url or Settings().db_url
        self._busy_ms = int(busy_timeout * 1000)
        self._engine = self._create_engine(self._url, create=create)
        self._display_url = self._engine.url.render_as_string(hide_password=True)
        self._sqlite = self._engine.dialect.name == "sqlite"
        self._pg = self._engine.dialect.name == "postgresql"
        self._fts = False
        if self._sqlite:
            self._install_sqlite_hooks()
        elif self._pg:
            self._install_pg_hooks()
        self._open_schema()

    # ---------------------------------------------------------------------------------------- opening

    @staticmethod
    def _create_engine(url: str, *, create: bool = True) -> Engine:
        url = database_url(url)
        try:
            engine = sa.create_engine(url, pool_pre_ping=url.startswith("postgresql"))
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            shown = url.split("@")[-1] if "@" in url else url   # never echo a password
            hint = ("Install the PostgreSQL driver: pip install 'tidings[postgres]'." if url.startswith("postgresql")
                    else "Use a URL like sqlite:///path/to/tidings.db or postgresql://user@host/db.")
            raise StoreError(f"Cannot use database URL {shown!r}: {exc}", code="E201", hint=hint) from exc
        database = engine.url.database
        if engine.dialect.name == "sqlite" and database and database != ":memory:" \
                and not database.startswith("file:"):
            path = Path(database).expanduser()
            if path.is_dir():
                raise StoreError(f"{path} is a directory, not a database file.", code="E201",
                                 hint="Give a file name: --db sqlite:///path/to/tidings.db.")
            if not create and not path.exists():
                raise StoreError(f"No database at {path}.", code="E209",
                                 hint="Analyse something first (tidings analyze FILES --db ...), or point "
                                 "--db / TIDINGS_DB at an existing file.")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"Cannot create the folder {path.parent}: {exc.strerror or exc}.", code="E201",
                                 hint="Check the path and its permissions.") from exc
        return engine

    def _install_pg_hooks(self) -> None:
        """``lock_timeout`` plays SQLite's busy timeout: a writer waiting for another writer's rows gives up
        after it with E204 instead of waiting for ever. Committed at once, or the pool's rollback undoes it."""
        busy_ms = self._busy_ms

        @sa_event.listens_for(self._engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cursor:
                cursor.execute(f"SET lock_timeout = {int(busy_ms)}")
            dbapi_conn.commit()

    def _install_sqlite_hooks(self) -> None:
        """PRAGMAs on every new connection, and transactions we control (BEGIN vs BEGIN IMMEDIATE)."""
        busy_ms = self._busy_ms

        @sa_event.listens_for(self._engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON",
                           f"busy_timeout={busy_ms}", "cache_size=-65536"):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        @sa_event.listens_for(self._engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # A writer takes the write lock up front, so it waits (busy_timeout) rather than failing
            # when another writer got there first half way through its transaction.
            immediate = conn.get_execution_options().get("tidings_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    def _open_schema(self) -> None:
        """Create, check or migrate the schema. Reads first: opening must not wait behind a writer."""
        with self._read() as conn:
            version = self._stored_version(conn)
            fts_present = self._fts_present(conn) if version is not None else False
        if version == SCHEMA_VERSION and (fts_present or not (self._sqlite or self._pg)):
            self._fts = fts_present
            return
        self._check_not_newer(version)
        with self._write() as conn:
            if self._pg:   # DDL in PostgreSQL is transactional: one process creates or migrates, others wait
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_SCHEMA_LOCK)))
            version = self._stored_version(conn)   # again: another process may have done it meanwhile
            self._check_not_newer(version)
            if version is None:
                self._check_not_foreign(conn)
                metadata.create_all(conn)
                conn.execute(meta_table.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
            elif version < SCHEMA_VERSION:
                self._migrate(conn, version)
            self._fts = self._ensure_fts(conn)

    @staticmethod
    def _stored_version(conn: Connection) -> int | None:
        if not sa.inspect(conn).has_table("meta"):
            return None
        value = conn.scalar(sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version"))
        return int(value) if value is not None else None

    def _check_not_foreign(self, conn: Connection) -> None:
        """A database with tables of its own but no tidings meta is someone else's: do not write into it."""
        if sa.inspect(conn).get_table_names():
            raise StoreError(f"The database {self._display_url} has tables but is not a tidings database.",
                             code="E201", hint="Point --db / TIDINGS_DB at a new or a tidings file.")

    def _check_not_newer(self, version: int | None) -> None:
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(
                f"The database {self._display_url} has schema version {version}, newer than this tidings "
                f"understands ({SCHEMA_VERSION}).", code="E202",
                hint="Upgrade tidings (pip install -U tidings), or point TIDINGS_DB / --db at another file.")

    def _migrate(self, conn: Connection, version: int) -> None:
        for step in range(version, SCHEMA_VERSION):
            migration = MIGRATIONS.get(step)
            if migration is None:
                raise StoreError(f"No migration from schema version {step} to {step + 1}.", code="E203",
                                 hint="Export with the tidings that wrote it, then re-import into a new file.")
            try:
                migration(conn)
            except SQLAlchemyError as exc:
                raise StoreError(f"Migrating {self._display_url} from schema {step} to {step + 1} failed: {exc}",
                                 code="E203", hint="Nothing was changed; please report this with the "
                                 "message above.") from exc
        conn.execute(meta_table.update().where(meta_table.c.key == "schema_version")
                     .values(value=str(SCHEMA_VERSION)))

    def _fts_present(self, conn: Connection) -> bool:
        if self._sqlite:
            return sa.inspect(conn).has_table("documents_fts")
        if self._pg:
            return any(c["name"] == "search" for c in sa.inspect(conn).get_columns("documents"))
        return False

    def _ensure_fts(self, conn: Connection) -> bool:
        """Create the full-text index if missing. False (LIKE search) where SQLite was built without FTS5
        and on backends other than SQLite and PostgreSQL."""
        if self._pg:
            for ddl in _PG_DDL:
                conn.exec_driver_sql(ddl)
            return True
        if not self._sqlite:
            return False
        if sa.inspect(conn).has_table("documents_fts"):
            return True
        if not conn.exec_driver_sql("SELECT sqlite_compileoption_used('ENABLE_FTS5')").scalar():
            return False
        for ddl in _FTS_DDL:
            conn.exec_driver_sql(ddl)
        return True

    # ---------------------------------------------------------------------------------- transactions

    @contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        """Database errors become StoreErrors that say what to do."""
        try:
            yield
        except StoreError:
            raise
        except OperationalError as exc:
            if _is_busy(exc):
                raise StoreError(f"The database {self._display_url} is busy: another process is writing to it.",
                                 code="E204", hint="Try again when it finishes, or pass a longer "
                                 "busy_timeout.") from exc
            if _FTS_QUERY_ERROR.search(str(exc.orig)):   # FTS5 rejected the user's query, not the database
                raise InputError(f"The text query is not valid full-text syntax: {exc.orig}", code="E305",
                                 hint='Quote phrases ("peace talks"); write AND / OR / NOT in capitals.'
                                 ) from exc
            raise StoreError(f"Could not {action} {self._display_url}: {exc.orig}", code="E206",
                             hint="Check the server is running and the URL's host, port, user and database."
                             if self._pg else "Check the path exists, is writable and has free space.") from exc
        except IntegrityError as exc:
            raise StoreError(f"Could not {action} {self._display_url}: conflicting records ({exc.orig}).",
                             code="E205", hint="Event ids must be unique across documents.") from exc
        except DataError as exc:
            raise StoreError(f"Could not {action} {self._display_url}: a value the database cannot hold "
                             f"({exc.orig}).", code="E208") from exc
        except DatabaseError as exc:
            raise StoreError(f"Could not {action} {self._display_url}: {exc.orig}", code="E201",
                             hint="Is this a tidings database? Point --db / TIDINGS_DB at another "
                             "file, or move this one aside.") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"Could not {action} {self._display_url}: {exc}", code="E207") from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._translate("read"), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._translate("write to"), self._engine.connect() as conn:
            conn.execution_options(tidings_write=True)
            with conn.begin():
                yield conn

    # ---------------------------------------------------------------------------------------- writing

    @property
    def url(self) -> str:
        return self._display_url

    # Public accessors for modules that keep tables of their own in the same database (tidings.across.link,
    # tidings.across.watch): they get the same engine, write locking and error translation as the store itself.
    @property
    def engine(self) -> Engine:
        return self._engine

    def read(self) -> AbstractContextManager[Connection]:
        """A connection for reading; database errors become StoreErrors."""
        return self._read()

    def write(self) -> AbstractContextManager[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite); database errors become StoreErrors."""
        return self._write()

    @property
    def schema_version(self) -> int:
        with self._read() as conn:
            return self._stored_version(conn) or 0

    def save(self, analysis: Analysis) -> None:
        """Store one analysis in one transaction, replacing whatever was stored for its document."""
        batch = _Batch([analysis])
        with self._write() as conn:
            self._write_batch(conn, batch)

    def save_many(self, analyses: Iterable[Analysis]) -> int:
        """Store analyses in batched transactions; return how many documents were saved.

        A batch that fails (conflicting records, a value the database refuses, a failed write) is redone
        document by document, each in its own transaction: the failing ones are recorded in the errors table
        (with the code of their failure, e.g. E205) and skipped, the rest are saved.
        """
        return sum(len(a) - len(f) for a, f in self._save_batches(analyses))

    def save_isolated(self, analyses: Iterable[Analysis]) -> dict[str, StoreError]:
        """As :meth:`save_many`, returning the documents that were not stored: ``{doc_id: error}``."""
        failed: dict[str, StoreError] = {}
        for _chunk, errors in self._save_batches(analyses):
            failed.update(errors)
        return failed

    def _save_batches(self, analyses: Iterable[Analysis]) -> Iterator[tuple[list[Analysis], dict[str, StoreError]]]:
        for chunk in _batches(analyses):
            batch = _Batch(chunk)
            yield list({a.document.id: a for a in chunk}.values()), self._save_batch(batch, chunk)

    def _save_batch(self, batch: _Batch, analyses: list[Analysis]) -> dict[str, StoreError]:
        try:
            with self._write() as conn:
                self._write_batch(conn, batch)
            return {}
        except StoreError as exc:
            if exc.code not in _PER_DOCUMENT_CODES:
                raise
        return self._save_one_by_one(analyses)

    def _save_one_by_one(self, analyses: list[Analysis]) -> dict[str, StoreError]:
        failed: dict[str, StoreError] = {}
        latest = {a.document.id: a for a in analyses}
        for analysis in latest.values():
            doc = analysis.document
            try:
                self.save(analysis)
            except StoreError as exc:
                if exc.code not in _PER_DOCUMENT_CODES:
                    raise
                what = "Conflicting records" if exc.code == "E205" else "Could not store it"
                self.record_error(doc.path or doc.url or doc.id, exc.code,
                                  f"{what}, document not stored: {exc.message}", doc.id)
                failed[doc.id] = exc
        return failed

    def _write_batch(self, conn: Connection, batch: _Batch) -> None:
        if self._pg:
            self._write_batch_pg(conn, batch)
        else:
            self._delete_documents(conn, batch.doc_ids)
            for table, columns, rows in batch.tables():
                self._insert(conn, table, columns, rows)
        self._remember_names(conn, batch.names)
        self._widen_max_span(conn, batch.max_span_days)
        # Succeeding now makes earlier failures of the same document history, not news.
        for chunk in _chunks(batch.doc_ids):
            conn.execute(errors_table.delete().where(errors_table.c.doc_id.in_(chunk)))

    def _insert(self, conn: Connection, table: sa.Table, columns: tuple[str, ...], rows: list[Row]) -> None:
        """executemany; on SQLite straight to the driver, about twice as fast as Core's per-row parameter
        processing (the bulk-insert goal is 20k events/s)."""
        if not rows:
            return
        if self._sqlite:
            conn.exec_driver_sql(_insert_sql(table.name, columns), rows)
        else:
            conn.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])

    def _write_batch_pg(self, conn: Connection, batch: _Batch) -> None:
        """Upsert the documents first, in id order: each document row stays locked until commit, so a second
        writer of the same document waits here, then replaces what the first wrote (READ COMMITTED: its
        later statements see the first writer's rows). Sorted, so two writers never wait on each other in
        a circle. Then the children are replaced, with COPY (several times faster than INSERT)."""
        # Keys in arrival order, as SQLite gives them (documents() lists in stored order; a replaced document
        # moves to the end there, so it takes its new key here too), rows in id order for the locks.
        keys = sorted(conn.scalars(sa.text(
            "SELECT nextval(pg_get_serial_sequence('documents', 'key')) FROM generate_series(1, :n)"),
            {"n": len(batch.documents)}))
        if len(batch.documents) >= _PG_COPY_DOCUMENTS:
            # COPY into a session's staging table, then one INSERT ... SELECT ... ORDER BY id upserts them all:
            # the same rows and the same lock order as the statement below, without a round of parameter
            # binding per document (articles are the largest rows the store writes).
            conn.exec_driver_sql(_PG_STAGING_DDL)
            _copy_rows(conn, _PG_STAGING, ("key", *_DOCUMENT_COLUMNS),
                       [(key, *row) for key, row in zip(keys, batch.documents, strict=True)])
            conn.exec_driver_sql(_PG_UPSERT_STAGED)
            conn.exec_driver_sql(f'TRUNCATE "{_PG_STAGING}"')
        else:
            rows = sorted(({"key": key, **dict(zip(_DOCUMENT_COLUMNS, row, strict=True))}
                           for key, row in zip(keys, batch.documents, strict=True)), key=lambda r: r["id"])
            stmt = postgresql.insert(documents_table)
            updates = {c: stmt.excluded[c] for c in ("key", *_DOCUMENT_COLUMNS) if c != "id"}
            conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=updates), rows)
        self._delete_children(conn, batch.doc_ids)
        for table, columns, children in batch.tables()[1:]:
            _copy_rows(conn, table.name, columns, children)

    @staticmethod
    def _delete_children(conn: Connection, doc_ids: Sequence[str]) -> None:
        ev = events_table.c
        for chunk in _chunks(doc_ids):
            event_ids = sa.select(ev.id).where(ev.doc_id.in_(chunk))
            conn.execute(sources_table.delete().where(sources_table.c.event_id.in_(event_ids)))
            conn.execute(events_table.delete().where(ev.doc_id.in_(chunk)))
            conn.execute(mentions_table.delete().where(mentions_table.c.doc_id.in_(chunk)))

    @classmethod
    def _delete_documents(cls, conn: Connection, doc_ids: Sequence[str]) -> None:
        """Children first, explicitly: correct even where foreign keys are off, and set-based (fast)."""
        cls._delete_children(conn, doc_ids)
        for chunk in _chunks(doc_ids):
            conn.execute(documents_table.delete().where(documents_table.c.id.in_(chunk)))

    def _remember_names(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        upsert = _INSERT_IGNORING.get(self._engine.dialect.name)
        if upsert is not None:
            conn.execute(upsert(names_table).on_conflict_do_nothing(), rows)
            return
        known = {(r.kind, r.name) for r in conn.execute(sa.select(names_table.c.kind, names_table.c.name))}
        new = [r for r in rows if (r["kind"], r["name"]) not in known]
        if new:
            conn.execute(names_table.insert(), new)

    def _widen_max_span(self, conn: Connection, days: int) -> None:
        """Only ever grows (a stale larger value is still correct). SQLite's write lock makes read-then-write
        safe; on PostgreSQL two first writers may both find no row, so it is an upsert that keeps the max."""
        stored = conn.scalar(sa.select(meta_table.c.value).where(meta_table.c.key == "max_span_days"))
        if stored is not None and days <= int(stored):
            return
        if not self._pg:
            if stored is None:
                conn.execute(meta_table.insert().values(key="max_span_days", value=str(days)))
            else:
                conn.execute(meta_table.update().where(meta_table.c.key == "max_span_days")
                             .values(value=str(days)))
            return
        stmt = postgresql.insert(meta_table).values(key="max_span_days", value=str(days))
        as_int = sa.cast(meta_table.c.value, sa.Integer)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["key"], set_={"value": stmt.excluded.value},
            where=as_int < sa.cast(stmt.excluded.value, sa.Integer)))

    def record_error(self, ref: str, code: str, message: str, doc_id: str | None = None) -> None:
        """Remember that ``ref`` (a path, URL or doc id) failed, so the batch can go on and report later."""
        with self._write() as conn:
            self._insert_error(conn, ref, code, message, doc_id)

    @staticmethod
    def _insert_error(conn: Connection, ref: str, code: str, message: str, doc_id: str | None) -> None:
        """One row per document (its id, else its ref) and code: a re-run replaces the row, never adds one."""
        er = errors_table.c
        ref, message = _no_nul(ref), _no_nul(message)
        same = (er.doc_id == doc_id) if doc_id else (er.ref == ref) & er.doc_id.is_(None)
        conn.execute(errors_table.delete().where(same, er.code == code))
        conn.execute(errors_table.insert().values(
            ref=ref, code=code, message=message, doc_id=doc_id,
            created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)))

    # ---------------------------------------------------------------------------------------- reading

    def errors(self, limit: int = 100) -> list[dict[str, Any]]:
        """The most recent errors first, as plain dicts (``created_at`` as ISO 8601 UTC)."""
        stmt = sa.select(errors_table).order_by(errors_table.c.id.desc()).limit(limit)
        with self._read() as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        for row in rows:
            row["created_at"] = row["created_at"].isoformat() + "Z"
        return rows

    def has_document(self, doc_id: str) -> bool:
        stmt = sa.select(documents_table.c.key).where(documents_table.c.id == doc_id)
        with self._read() as conn:
            return conn.scalar(stmt) is not None

    def analysed_document_ids(self, doc_ids: Iterable[str], coder: str) -> set[str]:
        """Which of ``doc_ids`` are stored, were analysed by ``coder`` (name@version) and have no error
        row: what a re-run of ``tidings analyze`` may skip (a failed or older analysis is done again)."""
        d, er = documents_table.c, errors_table.c
        found: set[str] = set()
        ids = list(dict.fromkeys(doc_ids))
        failed = sa.select(er.doc_id).where(er.doc_id.is_not(None))
        with self._read() as conn:
            for chunk in _chunks(ids):
                found.update(conn.scalars(sa.select(d.id).where(d.id.in_(chunk), d.coder == coder,
                                                                 d.id.not_in(failed))))
        return found

    def existing_document_ids(self, doc_ids: Iterable[str]) -> set[str]:
        """Which of ``doc_ids`` are stored: lets a resumed batch skip finished documents in one query per
        500 ids instead of one per document."""
        found: set[str] = set()
        ids = list(dict.fromkeys(doc_ids))
        with self._read() as conn:
            for chunk in _chunks(ids):
                found.update(conn.scalars(sa.select(documents_table.c.id).where(documents_table.c.id.in_(chunk))))
        return found

    # ------------------------------------------------------------------------------------- feed state

    def feed(self, url: str) -> dict[str, Any] | None:
        """The stored state of one feed (validators, failures, next poll), or None if never followed."""
        with self._read() as conn:
            row = conn.execute(sa.select(feeds_table).where(feeds_table.c.url == url)).first()
        return dict(row._mapping) if row else None

    def feeds(self) -> list[dict[str, Any]]:
        """Every followed feed, in URL order."""
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(feeds_table).order_by(feeds_table.c.url))]

    def save_feed(self, url: str, **state: Any) -> None:
        """Insert or update a feed's state; only the columns given change."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self._write() as conn:
            self._upsert(conn, feeds_table, ["url"], [{"url": url, "added_at": now, **state}],
                         update=[c for c in state if c != "url"])

    def feed_items(self, feed_url: str, item_keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored rows of the given items of one feed, keyed by ``item_key`` (absent: never seen)."""
        fi = feed_items_table.c
        found: dict[str, dict[str, Any]] = {}
        with self._read() as conn:
            for chunk in _chunks(list(item_keys)):
                stmt = sa.select(feed_items_table).where(fi.feed_url == feed_url, fi.item_key.in_(chunk))
                found.update({r.item_key: dict(r._mapping) for r in conn.execute(stmt)})
        return found

    def save_feed_items(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or update feed items (each row has ``feed_url``, ``item_key`` and the columns to set)."""
        if not rows:
            return
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        full = [{"first_seen_at": now, "updated_at": now, **row} for row in rows]
        columns = sorted({c for row in rows for c in row} | {"updated_at"})
        full = [{c: row.get(c) for c in [*columns, "first_seen_at"]} for row in full]
        with self._write() as conn:
            self._upsert(conn, feed_items_table, ["feed_url", "item_key"], full,
                         update=[c for c in columns if c not in ("feed_url", "item_key")])

    def _upsert(self, conn: Connection, table: sa.Table, keys: list[str], rows: list[dict[str, Any]],
                update: list[str]) -> None:
        """INSERT ... ON CONFLICT DO UPDATE where the dialect has it; else look first, then insert or update."""
        dialect_insert = _INSERT_IGNORING.get(self._engine.dialect.name)
        if dialect_insert is not None:
            stmt = dialect_insert(table)
            if update:
                stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in update})
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=keys)
            conn.execute(stmt, rows)
            return
        for row in rows:
            match = sa.and_(*(table.c[k] == row[k] for k in keys))
            if conn.scalar(sa.select(sa.func.count()).select_from(table).where(match)):
                if update:
                    conn.execute(table.update().where(match).values({c: row[c] for c in update}))
            else:
                conn.execute(table.insert().values(row))

    def document(self, doc_id: str) -> Document | None:
        stmt = sa.select(documents_table).where(documents_table.c.id == doc_id)
        with self._read() as conn:
            row = conn.execute(stmt).first()
        return _document_from_row(row) if row else None

    def documents(self, limit: int = 100, offset: int = 0, as_of: dt.date | None = None) -> list[Document]:
        """Documents in the order they were stored (with ``as_of``, only those reported by that day)."""
        stmt = sa.select(documents_table).order_by(documents_table.c.key).limit(limit).offset(offset)
        if as_of is not None:
            stmt = stmt.where(document_known_by(as_of))
        with self._read() as conn:
            return [_document_from_row(r) for r in conn.execute(stmt)]

    def analysis(self, doc_id: str) -> Analysis | None:
        """Everything stored for one document, as the Analysis that was saved."""
        doc_stmt = sa.select(documents_table).where(documents_table.c.id == doc_id)
        ev_stmt = (sa.select(events_table.c.data).where(events_table.c.doc_id == doc_id)
                   .order_by(events_table.c.position))
        m = mentions_table.c
        men_stmt = sa.select(mentions_table).where(m.doc_id == doc_id).order_by(m.id)
        with self._read() as conn:
            row = conn.execute(doc_stmt).first()
            if row is None:
                return None
            events = [Event.model_validate_json(d) for d in conn.scalars(ev_stmt)]
            mentions = [_mention_from_row(r) for r in conn.execute(men_stmt)]
        return Analysis(document=_document_from_row(row), events=events, mentions=mentions,
                        document_chain=[Source.model_validate(s) for s in json.loads(row.chain)],
                        warnings=json.loads(row.warnings))

    def event(self, event_id: str) -> Event | None:
        stmt = sa.select(events_table.c.data).where(events_table.c.id == event_id)
        with self._read() as conn:
            data = conn.scalar(stmt)
        return Event.model_validate_json(data) if data else None

    def events(self, *, type: str | Sequence[str] | None = None, actor: str | None = None,
               country: str | None = None, place: str | None = None, since: dt.date | None = None,
               until: dt.date | None = None, modality: str | Sequence[str] | None = None,
               source: str | None = None, text: str | None = None, doc_id: str | None = None,
               as_of: dt.date | None = None, min_fatalities: int | None = None, limit: int | None = None,
               offset: int = 0) -> list[Event]:
        """Events matching every filter given, newest first (undated last).

        ``actor``: code prefix or case-insensitive name substring, source or target. ``country``: ISO3 (or
        ISO2) of either actor or the place. ``place``: place name, case-insensitive (digits: a geonameid).
        ``since``/``until``: the event's date range overlaps them; undated events are left out.
        ``modality``: one or several of :data:`tidings.core.records.MODALITIES`. ``source``: substring of any
        attribution link's name. ``text``: full-text match on the event's document. ``as_of``: only events
        reported by then (their document published on or before that day, else stored by its end).
        ``min_fatalities``: events whose text reports at least this many killed (:attr:`Event.fatalities`).
        """
        filters: EventFilters = {"type": type, "actor": actor, "country": country, "place": place,
                                 "since": since, "until": until, "modality": modality, "source": source,
                                 "text": text, "doc_id": doc_id, "as_of": as_of, "min_fatalities": min_fatalities}
        with self._read() as conn:
            stmt = self._select_events(conn, filters, wanted=None if limit is None else limit + offset)
            stmt = stmt.limit(limit).offset(offset) if limit is not None else stmt.offset(offset)
            return [Event.model_validate_json(d) for d in conn.scalars(stmt)]

    def events_page(self, *, limit: int, offset: int = 0, **filters: Unpack[EventFilters]) -> tuple[list[str], int]:
        """A page of :meth:`events`, each as the JSON it was stored as (unparsed), and how many match in all.

        For a face that pages and passes events on (the API): validating 100 events and serialising them
        again was half of a filtered request's time, and :meth:`events` then :meth:`count_events` planned
        the query twice on two connections. Here one plan serves both, in one read transaction (so the
        total is the page's own). Rows stored by an older tidings lack the fields added since: the caller
        checks (``tidings.api.app`` re-validates those)."""
        with self._read() as conn:
            plan = self._plan(conn, filters, wanted=limit + offset)
            stmt = self._select_events(conn, filters, wanted=None, plan=plan).limit(limit).offset(offset)
            rows = list(conn.scalars(stmt))
            if len(rows) < limit and (rows or not offset):   # the last page: everything before it matched
                return rows, offset + len(rows)
            where = self._where(conn, filters, plan="auto" if plan == "walk" else plan)
            total = int(conn.scalar(sa.select(sa.func.count()).select_from(events_table).where(*where)) or 0)
            return rows, total

    def count_events(self, **filters: Unpack[EventFilters]) -> int:
        """How many events :meth:`events` would return with the same filters and no limit."""
        with self._read() as conn:
            plan = self._plan(conn, filters, wanted=100)
            where = self._where(conn, filters, plan="auto" if plan == "walk" else plan)
            return int(conn.scalar(sa.select(sa.func.count()).select_from(events_table).where(*where)) or 0)

    def iter_events(self, **filters: Unpack[EventFilters]) -> Iterator[Event]:
        """Stream matching events in :meth:`events` order, in constant memory (for exports).

        Holds a read transaction until exhausted or closed: it sees the database as it was when it started.
        """
        with self._read() as conn:
            stmt = self._select_events(conn, filters, wanted=None)
            for data in conn.execution_options(yield_per=1000).scalars(stmt):
                yield Event.model_validate_json(data)

    def group_events(self, by: Sequence[str], *, sum_fatalities: bool = False,
                     **filters: Unpack[EventFilters]) -> tuple[list[sa.Row[Any]], bool]:
        """Counts of matching events grouped by the columns ``by`` (names from :data:`GROUPABLE`), each row
        ``(*by, events, fatalities)``: what the dashboard's map, timeline, facets and network draw, so they
        never fetch event rows. ``fatalities`` is the sum of an events ``fatalities`` column where the schema
        has one, else NULL; the second value says whether it has one. Reads every matching row (aggregates
        need them all), through the filters' indexes."""
        unknown = [name for name in by if name not in GROUPABLE]
        if unknown:
            raise ValueError(f"cannot group events by {unknown[0]!r}")
        e = events_table.c
        columns = [self._groupable(name).label(name) for name in by]
        has_fatalities = "fatalities" in e
        fatal = (sa.func.sum(e["fatalities"]) if has_fatalities and sum_fatalities
                 else sa.null()).label("fatalities")
        with self._read() as conn:
            where = self._where(conn, filters, plan="auto")
            stmt = sa.select(*columns, sa.func.count().label("events"), fatal).select_from(events_table)
            stmt = stmt.where(*where).group_by(*columns)
            rows = conn.execute(stmt).all()   # fetchall: one C call, not one per row (30k groups)
            return list(rows), has_fatalities  # type: ignore[arg-type]

    def place_levels(self, places: Iterable[tuple[str, int | None]]) -> dict[tuple[str, int | None], str]:
        """(place name, geonameid) → the place's level (country, admin1, city, ...), read from the newest
        event at each: the level lives only in the event's JSON, so it is read once per place (an index
        probe on the name) rather than parsed out of every event of a grouping."""
        e = events_table.c
        feature = self._groupable("place_feature")
        found: dict[tuple[str, int | None], str] = {}
        with self._read() as conn:
            for name, geonameid in places:
                same = e.place_geonameid == geonameid if geonameid is not None else e.place_geonameid.is_(None)
                level = conn.scalar(sa.select(feature).where(e.place_name == name, same).limit(1))
                found[(name, geonameid)] = level or "city"
        return found

    def _groupable(self, name: str) -> sa.ColumnElement[Any]:
        """A groupable column; the place's level (country, admin1, city, ...) is read from the event's JSON,
        which is the only place the schema keeps it."""
        if name != "place_feature":
            return events_table.c[name]
        data = events_table.c.data
        if self._pg:
            return sa.func.json_extract_path_text(sa.cast(data, sa.JSON), "place", "feature")
        return sa.func.json_extract(data, "$.place.feature")

    def search(self, query: str, limit: int = 20) -> list[tuple[Document, str]]:
        """Documents matching ``query`` (FTS5 syntax allowed), best first, each with a text snippet."""
        if not query.strip():
            return []
        d = documents_table
        if self._pg:
            return self._search_pg(query, limit)
        if self._fts:
            snippet = sa.func.snippet(sa.literal_column("documents_fts"), -1, *SNIPPET_MARKS, "…", 16)
            stmt = (sa.select(d, snippet.label("snippet"))
                    .join(fts_table, fts_table.c.rowid == d.c.key)
                    .where(sa.literal_column("documents_fts").op("MATCH")(_fts_query(query)))
                    .order_by(sa.literal_column("rank")).limit(limit))
        else:
            stmt = (sa.select(d, sa.func.substr(d.c.text, 1, 200).label("snippet"))
                    .where(self._text_like(query)).order_by(d.c.key).limit(limit))
        with self._read() as conn:
            return [(_document_from_row(r), r.snippet) for r in conn.execute(stmt)]

    def _search_pg(self, query: str, limit: int) -> list[tuple[Document, str]]:
        """Ranked by ``ts_rank_cd``; headlines built only for the page (``ts_headline`` reads the whole text)."""
        d = documents_table
        tsquery = _pg_tsquery(query)
        rank = sa.func.ts_rank_cd(pg_search, tsquery).label("rank")
        page = (sa.select(d.c.key, rank).where(pg_search.op("@@")(tsquery))
                .order_by(rank.desc(), d.c.key).limit(limit).subquery())
        options = f"StartSel={SNIPPET_MARKS[0]}, StopSel={SNIPPET_MARKS[1]}, MaxWords=16, MinWords=6"
        headline = sa.func.ts_headline(_regconfig(), d.c.text, tsquery, options)
        stmt = (sa.select(d, headline.label("snippet")).join(page, page.c.key == d.c.key)
                .order_by(page.c.rank.desc(), d.c.key))
        with self._read() as conn:
            return [(_document_from_row(r), r.snippet) for r in conn.execute(stmt)]

    def stats(self) -> dict[str, Any]:
        """Counts for a status line or dashboard, cheap on millions of events (each answered from an index).

        ``first_date`` / ``last_date`` are the earliest and latest event *start* dates.
        """
        e = events_table.c
        counts = {name: sa.select(sa.func.count()).select_from(table) for name, table in (
            ("documents", documents_table), ("events", events_table), ("mentions", mentions_table),
            ("sources", sources_table), ("errors", errors_table))}
        with self._read() as conn:
            result: dict[str, Any] = {"url": self._display_url, "schema_version": self._stored_version(conn),
                                      "full_text_search": self._fts}
            result.update({name: int(conn.scalar(stmt) or 0) for name, stmt in counts.items()})
            result["events_by_type"] = dict(conn.execute(  # type: ignore[arg-type]
                sa.select(e.type, sa.func.count()).group_by(e.type).order_by(e.type)).all())
            result["events_by_modality"] = dict(conn.execute(  # type: ignore[arg-type]
                sa.select(e.modality, sa.func.count()).group_by(e.modality).order_by(e.modality)).all())
            first = conn.scalar(sa.select(sa.func.min(e.date_start)))
            last = conn.scalar(sa.select(sa.func.max(e.date_start)))   # indexed; date_end is not
        result["first_date"] = first.isoformat() if first else None
        result["last_date"] = last.isoformat() if last else None
        return result

    # ---------------------------------------------------------------------------------------- filters

    def _select_events(self, conn: Connection, filters: EventFilters, wanted: int | None,
                       plan: str | None = None) -> sa.Select[Any]:
        """Matching events' JSON, newest first, by the plan :meth:`_plan` picks (same rows whatever the plan)."""
        where = self._where(conn, filters, plan=plan or self._plan(conn, filters, wanted))
        start = events_table.c.date_start
        order: list[sa.ColumnElement[Any]]
        if self._sqlite:
            # DESC already puts NULLs last, and rowid is the last key of every index on date_start: the
            # whole order comes from the index, with no sort even within a busy day.
            order = [start.desc(), sa.literal_column("events.rowid").desc()]
        else:
            order = [start.desc().nulls_last(), events_table.c.id]
        return sa.select(events_table.c.data).where(*where).order_by(*order)

    def _plan(self, conn: Connection, filters: EventFilters, wanted: int | None) -> str:
        """How to run a filtered query: ``"auto"``, ``"walk"``, or the name of the filter to drive from.

        SQLite's planner knows nothing of how many rows a filter matches. Left alone it collects every row
        matching an OR of indexes and sorts them all for a page of 100 (~1 s for a common actor at a million
        events), or walks 50k events of one type to find the 70 whose document matches a rare word. So each
        filter that can decide is probed on its own, capped at ~sqrt(wanted × events) rows (a few ms):

        * a filter under the cap is sparse: the query drives from its index alone (others are hidden from
          the planner), fetching and sorting at most the cap;
        * if all are over the cap, matches are dense: walk the date index newest first and stop after a
          page, checking filters per row.

        PostgreSQL has statistics, but none for ``IN (names LIKE '%x%')`` or a text query: it guessed 5k
        events for a source name that had 125k and took 1.1 s for a page at a million events. The same probes
        put it on the right path (its date-order index is ``ix_events_date_order``).
        """
        if not (self._sqlite or self._pg) or filters.get("doc_id"):
            return "auto"
        probes = self._probes(conn, filters)
        if self._pg:   # its statistics serve the other filters well (8-16 ms at 1M); only these two are blind
            probes = {name: probe for name, probe in probes.items() if name in _PG_BLIND}
        if not probes:
            return "auto"   # type, modality, dates: their (x, date_start) indexes come in date order already
        n_events = self._event_count_estimate(conn)
        cap = max(_DENSE_MIN, min(int(math.sqrt((wanted or n_events) * n_events)), _DENSE_MAX))
        for name, probe in probes.items():
            found = conn.scalar(sa.select(sa.func.count()).select_from(probe.limit(cap).subquery())) or 0
            if found < cap:
                return name
        return "walk"

    def _event_count_estimate(self, conn: Connection) -> int:
        """Close enough to size the probes, and cheap: SQLite's largest rowid, PostgreSQL's statistics (an
        exact count only while there are none yet, i.e. on a small new table)."""
        if self._sqlite:
            return int(conn.exec_driver_sql("SELECT max(rowid) FROM events").scalar() or 0)
        estimate = conn.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass('events')").scalar()
        if estimate is not None and estimate >= 0:
            return int(estimate)
        return int(conn.scalar(sa.select(sa.func.count()).select_from(events_table)) or 0)

    def _probes(self, conn: Connection, f: EventFilters) -> dict[str, sa.Select[Any]]:
        """One row source per filter that can decide the plan, the likely sparse first. Index-only where
        possible; ``source`` counts chain links, an upper bound on events."""
        one = sa.literal(1)
        on_events = sa.select(one).select_from(events_table)
        probes: dict[str, sa.Select[Any]] = {}
        if f.get("text"):
            probes["text"] = on_events.where(self._text_clause(conn, str(f["text"]), per_row=False))
        if f.get("place"):
            probes["place"] = on_events.where(_place_clause(str(f["place"])))
        if f.get("source"):
            probes["source"] = (sa.select(one).select_from(sources_table)
                                .where(sources_table.c.name.in_(_names_like("source", str(f["source"])))))
        if f.get("actor"):
            probes["actor"] = on_events.where(_actor_clause(str(f["actor"])))
        if f.get("country"):
            probes["country"] = on_events.where(_country_clause(str(f["country"])))
        if f.get("min_fatalities") is not None:
            probes["fatalities"] = on_events.where(events_table.c.fatalities >= int(f["min_fatalities"] or 0))
        return probes

    def _where(self, conn: Connection, f: EventFilters, *, plan: str = "auto") -> list[sa.ColumnElement[bool]]:
        """The WHERE terms for ``plan`` (see :meth:`_plan`): the same test in every plan, only what the
        planner may use an index for changes. A hidden term is wrapped in ``coalesce`` (a function of a
        term is not indexable); ``source`` becomes a per-row EXISTS on the sources key when not driving."""
        e = events_table.c
        terms: dict[str, sa.ColumnElement[bool]] = {}
        if f.get("type"):
            terms["type"] = e.type.in_([t.upper() for t in _as_list(f["type"] or [])])
        if f.get("modality"):
            terms["modality"] = e.modality.in_(_modalities(f["modality"] or []))
        if f.get("doc_id"):
            terms["doc_id"] = e.doc_id == f["doc_id"]
        if f.get("actor"):
            terms["actor"] = _actor_clause(str(f["actor"]))
        if f.get("country"):
            terms["country"] = _country_clause(str(f["country"]))
        if f.get("place"):
            terms["place"] = _place_clause(str(f["place"]))
        if f.get("source"):
            terms["source"] = _source_clause(str(f["source"]), per_row=plan not in ("auto", "source"),
                                             fenced=self._pg)
        if f.get("text"):
            terms["text"] = self._text_clause(conn, str(f["text"]),
                                              per_row=self._pg and plan not in ("auto", "text"))
        if f.get("as_of"):
            terms["as_of"] = _reported_by(f["as_of"])  # type: ignore[arg-type]
        if f.get("min_fatalities") is not None:
            terms["fatalities"] = e.fatalities >= int(f["min_fatalities"] or 0)
        since, until = f.get("since"), f.get("until")
        if since or until:
            terms["dates"] = sa.and_(*_date_clauses(since, until, self._max_span(conn) if since else 0))
        if plan == "auto" or self._pg:   # PostgreSQL: only the blind filters changed shape (per-row) above
            return list(terms.values())
        # walk: the date index drives; type and modality keep their (x, date_start) indexes, in date order too.
        visible = {"type", "modality", "doc_id", "dates"} if plan == "walk" else {plan}
        return [t if name in visible else _opaque(t) for name, t in terms.items()]

    @staticmethod
    def _max_span(conn: Connection) -> int:
        value = conn.scalar(sa.select(meta_table.c.value).where(meta_table.c.key == "max_span_days"))
        return int(value) if value is not None else 0

    def _text_clause(self, conn: Connection, query: str, *, per_row: bool) -> sa.ColumnElement[bool]:
        """Events whose document matches: from the full-text index (few documents), or on PostgreSQL checked
        per event through the documents key (many documents, date-index walk; fenced, see _source_clause).

        On PostgreSQL the matching document ids are fetched first (GIN, ~2 ms) and passed as one array: inside
        a join its planner prices ``@@`` so low that it scanned every document in parallel instead (250 ms)."""
        if self._pg and not per_row:
            ids = list(conn.scalars(self._text_doc_ids(query).limit(_PG_TEXT_IDS + 1)))
            if len(ids) <= _PG_TEXT_IDS:
                return events_table.c.doc_id == sa.any_(sa.literal(ids, type_=postgresql.ARRAY(sa.String)))
        if not per_row:
            return events_table.c.doc_id.in_(self._text_doc_ids(query))
        d = documents_table.c
        return sa.exists(sa.select(sa.literal(1)).where(d.id == events_table.c.doc_id,
                                                        pg_search.op("@@")(_pg_tsquery(query))).offset(0))

    def _text_doc_ids(self, query: str) -> sa.Select[Any]:
        d = documents_table
        if self._pg:
            return sa.select(d.c.id).where(pg_search.op("@@")(_pg_tsquery(query)))
        if not self._fts:
            return sa.select(d.c.id).where(self._text_like(query))
        return (sa.select(d.c.id).join(fts_table, fts_table.c.rowid == d.c.key)
                .where(sa.literal_column("documents_fts").op("MATCH")(_fts_query(query))))

    @staticmethod
    def _text_like(query: str) -> sa.ColumnElement[bool]:
        pattern = _like_pattern(query)
        return sa.or_(documents_table.c.title.ilike(pattern, escape="\\"),
                      documents_table.c.text.ilike(pattern, escape="\\"))

    # ---------------------------------------------------------------------------------------- closing

    def close(self) -> None:
        """Let SQLite refresh its planner statistics where useful, then release every connection."""
        if self._sqlite:
            try:
                with self._engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA optimize")
            except SQLAlchemyError:
                pass  # a busy or read-only database only misses a planner refresh
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self._display_url!r})"


# ---------------------------------------------------------------------------------------- filter helpers

def _names_like(kind: str, needle: str) -> sa.Select[Any]:
    n = names_table.c
    return sa.select(n.name).where(n.kind == kind, n.folded.like(_like_pattern(needle), escape="\\"))


def _opaque(clause: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    """The same test, invisible to SQLite's index selection (a function of the term is not indexable)."""
    return sa.func.coalesce(clause, sa.false(), type_=sa.Boolean)


def _as_is(clause: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    return clause


def _source_clause(source: str, *, per_row: bool, fenced: bool = False) -> sa.ColumnElement[bool]:
    """Events with a chain link named like ``source``: from the sources index (few matches), or checked
    per event through the sources primary key (many matches, date-index walk).

    ``fenced`` (PostgreSQL): ``OFFSET 0`` keeps the planner from turning the per-row EXISTS into a hash of
    every matching event id (125k rows, 250 ms, before the first row of a page)."""
    s = sources_table.c
    named = s.name.in_(_names_like("source", source))
    if per_row:
        lookup = sa.select(sa.literal(1)).where(s.event_id == events_table.c.id, named)
        return sa.exists(lookup.offset(0) if fenced else lookup)
    return events_table.c.id.in_(sa.select(s.event_id).where(named))


def _actor_clause(actor: str) -> sa.ColumnElement[bool]:
    e = events_table.c
    names = _names_like("actor", actor)
    code = actor.strip().upper()
    # A prefix as a range, not LIKE: LIKE 'IRN%' cannot use an index under SQLite's default NOCASE LIKE.
    upper = code[:-1] + chr(ord(code[-1]) + 1) if code else code
    return sa.or_(sa.and_(e.source_code >= code, e.source_code < upper),
                  sa.and_(e.target_code >= code, e.target_code < upper),
                  e.source_name.in_(names), e.target_name.in_(names))


def _country_clause(country: str) -> sa.ColumnElement[bool]:
    e = events_table.c
    code = country.strip().upper()
    if len(code) == 2:
        iso3 = _iso3(code)
        if iso3 is None:
            return e.place_country == code
        code = iso3
    if len(code) != 3:
        raise InputError(f"{country!r} is not a country code.", code="E306",
                         hint="Use an ISO 3166 code: SYR or SY.")
    return sa.or_(e.source_country == code, e.target_country == code, e.place_country3 == code)


def _place_clause(place: str) -> sa.ColumnElement[bool]:
    e = events_table.c
    if place.strip().isdigit():
        return e.place_geonameid == int(place)
    n = names_table.c
    same = sa.select(n.name).where(n.kind == "place", n.folded == place.strip().casefold())
    return e.place_name.in_(same)


def _date_clauses(since: dt.date | None, until: dt.date | None, max_span_days: int
                  ) -> list[sa.ColumnElement[bool]]:
    """Overlap of [date_start, date_end] with [since, until]. Undated events fail every comparison.

    ``date_end >= since`` alone cannot use the date_start index; no event is longer than the longest span
    ever stored, so ``date_start >= since - max_span`` is implied and bounds the index range.
    """
    e = events_table.c
    if since and until and since > until:
        raise InputError(f"since ({since}) is after until ({until}).", code="E307",
                         hint="Swap them, or leave one out.")
    clauses: list[sa.ColumnElement[bool]] = []
    if since:
        clauses += [e.date_start >= since - dt.timedelta(days=max_span_days), e.date_end >= since]
    if until:
        clauses.append(e.date_start <= until)
    return clauses


def _modalities(value: str | Sequence[str]) -> list[str]:
    wanted = [m.lower() for m in _as_list(value)]
    unknown = [m for m in wanted if m not in MODALITIES]
    if unknown:
        raise InputError(f"Unknown modality {', '.join(unknown)}.", code="E304",
                         hint=f"Use one of: {', '.join(MODALITIES)}.")
    return wanted


# ---------------------------------------------------------------------------------------- row → record

def _document_from_row(row: sa.Row[Any]) -> Document:
    return Document(id=row.id, text=row.text, title=row.title, url=row.url, outlet=row.outlet,
                    published=row.published, published_inferred=bool(row.published_inferred),
                    language=row.language, source_kind=row.source_kind, path=row.path,
                    meta=json.loads(row.meta))


def _mention_from_row(row: sa.Row[Any]) -> Mention:
    return Mention.model_validate({
        "kind": row.kind, "label": row.label, "sentence": row.sentence, "value": json.loads(row.value),
        "span": {"start": row.span_start, "end": row.span_end, "text": row.span_text}})
