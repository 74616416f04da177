"""The store: idempotent saves, every filter, full-text search, errors, schema versions, WAL concurrency.

Analyses are built by hand, so these tests need no spaCy model and run in a second or two. Every test that
uses the ``db_url`` / ``store`` fixtures runs twice: on SQLite and on PostgreSQL (``TIDINGS_TEST_PG_URL``;
without it the PostgreSQL half is skipped, with a message saying how to start a server).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import tidings.store.database as store_module
from tidings.core.errors import InputError, StoreError
from tidings.core.records import Actor, Analysis, Document, Event, Mention, Place, Source, Span, When
from tidings.store.database import SCHEMA_VERSION, Store

HOMS = Place(geonameid=169577, name="Homs", country="SY", country3="SYR", admin1="Homs Governorate",
             lat=34.73, lon=36.72, span=Span(start=0, end=4, text="Homs"))
KYIV = Place(geonameid=703448, name="Kyiv", country="UA", lat=50.45, lon=30.52)  # no country3: derived
HTS = Actor(code="SYRREB", name="Hayat Tahrir al-Sham", country="SYR", sector="REB")
IRAN = Actor(code="IRNGOV", name="Iranian government", country="IRN", sector="GOV")
RUSSIA = Actor(code="RUSMIL", name="Russian forces", country="RUS", sector="MIL")
ETAT = Actor(code=None, name="État islamique", sector="REB", known=False)
REUTERS = Source(name="Reuters", kind="agency")
OFFICIAL = Source(name="a senior Iranian official", kind="official", anonymous=True)


def day(d: str) -> When:
    date = dt.date.fromisoformat(d)
    return When(start=date, end=date, granularity="day", anchor="published")


def make_event(doc_id: str, n: int, **fields: Any) -> Event:
    base: dict[str, Any] = {
        "id": f"{doc_id}-e{n}", "doc_id": doc_id, "type": "ASSAULT", "mode": "aerial",
        "contexts": ["military"], "cameo": "195", "source_actor": HTS, "target_actor": IRAN, "place": HOMS,
        "when": day("2024-12-05"), "modality": "asserted", "attribution": [REUTERS, OFFICIAL],
        "confidence": 0.8, "sentence": n, "coder": "tidings@test",
        "evidence": {"trigger": Span(start=10, end=16, text="struck"),
                     "sentence": Span(start=0, end=30, text="Rebels struck Homs on Thursday.")},
    }
    base.update(fields)
    return Event(**base)


def make_analysis(text: str, events: list[dict[str, Any]], **doc_fields: Any) -> Analysis:
    doc = Document.from_text(text, **{"title": "Untitled", "published": dt.date(2024, 12, 7), **doc_fields})
    return Analysis(
        document=doc,
        events=[make_event(doc.id, i, **fields) for i, fields in enumerate(events)],
        mentions=[Mention(kind="actor", span=Span(start=0, end=6, text=text[:6]), label="ORG",
                          value={"code": "SYRREB"}, sentence=0)],
        document_chain=[REUTERS], warnings=["published date inferred"],
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_schema_url"))
    return f"sqlite:///{tmp_path / 'events.db'}"


@pytest.fixture()
def sqlite_url(tmp_path: Path) -> str:
    """For what only SQLite has (PRAGMAs, WAL files)."""
    return f"sqlite:///{tmp_path / 'events.db'}"


@pytest.fixture()
def store(db_url: str) -> Any:
    with Store(db_url) as s:
        yield s


@pytest.fixture()
def corpus(store: Store) -> dict[str, Analysis]:
    """Four documents covering every filter dimension."""
    analyses = {
        "syria": make_analysis("Rebels struck Homs on Thursday, Reuters reported.", [
            {}, {"type": "RETREAT", "modality": "reported", "when": day("2024-12-06")}]),
        "iran": make_analysis("Iran denied sending troops, a ministry spokesman said.", [
            {"type": "MOBILIZE", "source_actor": IRAN, "target_actor": None, "place": None,
             "modality": "negated", "attribution": [Source(name="IRNA", kind="agency")],
             "when": When(start=dt.date(2024, 11, 1), end=dt.date(2024, 11, 30), granularity="month")}],
            title="Tehran denies troop deployment"),
        "ukraine": make_analysis("Russian forces shelled Kyiv overnight, officials said.", [
            {"type": "FIGHT", "source_actor": RUSSIA, "target_actor": None, "place": KYIV,
             "when": day("2024-12-01"), "attribution": [Source(name="Kyiv Independent", kind="outlet")]}]),
        "undated": make_analysis("Islamic State fighters may attack again, an analyst warned.", [
            {"type": "THREATEN", "source_actor": ETAT, "target_actor": None, "place": None,
             "modality": "hedged", "when": When(), "attribution": []}]),
    }
    store.save_many(analyses.values())
    return analyses


def ids(events: list[Event]) -> list[str]:
    return [e.id for e in events]


def sql(url: str, query: str) -> list[tuple[Any, ...]]:
    """Run one statement on either backend, outside the store, and commit."""
    engine = sa.create_engine(store_module.database_url(url))
    try:
        with engine.begin() as conn:
            result = conn.exec_driver_sql(query)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def columns_of(url: str, table: str) -> list[str]:
    engine = sa.create_engine(store_module.database_url(url))
    try:
        return [c["name"] for c in sa.inspect(engine).get_columns(table)]
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------- opening

def test_new_database_has_schema_version_and_full_text_search(store: Store) -> None:
    assert store.schema_version == SCHEMA_VERSION
    assert store.stats()["full_text_search"] is True


def test_new_sqlite_database_is_wal(sqlite_url: str) -> None:
    with Store(sqlite_url) as store:
        assert sql(sqlite_url, "PRAGMA journal_mode") == [("wal",)]
        with store._engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


def test_schema_version_matches_the_migrations() -> None:
    """The newest migration step produces the version new databases get."""
    assert max(store_module.MIGRATIONS) + 1 == SCHEMA_VERSION


def test_version_1_database_is_migrated_to_the_current_schema(db_url: str) -> None:
    """A database as schema 1 left it (no feed tables) ends up with the tables a new database has."""
    with Store(db_url) as store:
        store.save(make_analysis("Kept across the migration.", [{}]))
    fresh = {t: columns_of(db_url, t) for t in ("feeds", "feed_items")}
    sql(db_url, "DROP TABLE feed_items")
    sql(db_url, "DROP TABLE feeds")
    sql(db_url, "UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with Store(db_url) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.count_events() == 1
        store.save_feed("https://example.org/feed.xml", title="Example")
        assert store.feed("https://example.org/feed.xml")["title"] == "Example"
    assert {t: columns_of(db_url, t) for t in fresh} == fresh


def test_default_url_comes_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDINGS_DB", f"sqlite:///{tmp_path / 'sub' / 'env.db'}")
    with Store() as store:
        assert store.url.endswith("env.db")
    assert (tmp_path / "sub" / "env.db").exists()  # parent folder created


def test_newer_database_is_refused(db_url: str) -> None:
    Store(db_url).close()
    sql(db_url, "UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StoreError) as err:
        Store(db_url)
    assert err.value.code == "E202" and "pip install -U tidings" in str(err.value)


def test_older_database_is_migrated(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    Store(db_url).close()
    ran: list[int] = []

    def add_column(conn: Any) -> None:
        ran.append(1)
        conn.exec_driver_sql("ALTER TABLE events ADD COLUMN note TEXT")

    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(store_module.MIGRATIONS, SCHEMA_VERSION, add_column)
    with Store(db_url) as store:
        assert store.schema_version == SCHEMA_VERSION + 1
    assert ran == [1]
    assert "note" in columns_of(db_url, "events")


def test_missing_migration_is_a_clear_error(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    Store(db_url).close()
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(StoreError) as err:
        Store(db_url)
    assert err.value.code == "E203"


def test_someone_elses_database_is_left_alone(db_url: str) -> None:
    sql(db_url, "CREATE TABLE documents (x INTEGER)")
    with pytest.raises(StoreError) as err:
        Store(db_url)
    assert err.value.code == "E201" and "not a tidings database" in str(err.value)


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError) as err:
        Store(f"sqlite:///{bogus}")
    assert err.value.code == "E201"


# ---------------------------------------------------------------------------------------------- saving

def test_round_trip_is_lossless(store: Store, corpus: dict[str, Analysis]) -> None:
    for analysis in corpus.values():
        for event in analysis.events:
            assert store.event(event.id) == event
        assert store.document(analysis.document.id) == analysis.document
        assert store.analysis(analysis.document.id) == analysis
    assert store.event("nope") is None and store.document("nope") is None and store.analysis("nope") is None


def test_saving_again_replaces_never_duplicates(store: Store, db_url: str) -> None:
    first = make_analysis("Rebels struck Homs.", [{}, {}, {}])
    store.save(first)
    store.save(first)
    assert store.count_events() == 3
    second = make_analysis("Rebels struck Homs.", [{"type": "FIGHT"}], title="Homs fighting")
    store.save(second)
    assert [e.type for e in store.events()] == ["FIGHT"]
    assert store.documents()[0].title == "Homs fighting"
    counts = sql(db_url, "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM sources),"
                         " (SELECT count(*) FROM mentions)")
    assert counts == [(1, 2, 1)]
    # The full-text index followed the replacement.
    assert [d.title for d, _ in store.search("fighting")] == ["Homs fighting"]
    assert store.search("untitled") == []


def test_save_many_deduplicates_and_counts(store: Store) -> None:
    a = make_analysis("One.", [{}, {}])
    b = make_analysis("Two.", [{}])
    a_again = make_analysis("One.", [{"type": "PROTEST"}])
    assert store.save_many([a, b, a_again]) == 2
    assert store.count_events() == 2
    assert {e.type for e in store.events()} == {"PROTEST", "ASSAULT"}
    assert store.has_document(a.document.id) and not store.has_document("missing")


def test_save_many_spans_batches(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "BATCH_EVENTS", 3)
    analyses = [make_analysis(f"Document {i}.", [{}, {}]) for i in range(10)]
    assert store.save_many(iter(analyses)) == 10
    assert store.count_events() == 20


def test_conflict_costs_only_the_bad_document(store: Store) -> None:
    good = make_analysis("Good.", [{}])
    bad = make_analysis("Bad.", [{"id": good.events[0].id}])   # steals another document's event id
    later = make_analysis("Later.", [{}])
    assert store.save_many([good, bad, later]) == 2
    assert not store.has_document(bad.document.id)
    [error] = store.errors()
    assert error["code"] == "E205" and error["doc_id"] == bad.document.id
    with pytest.raises(StoreError) as err:
        store.save(bad)
    assert err.value.code == "E205"


def test_errors_are_recorded_newest_first_and_cleared_on_success(store: Store) -> None:
    doc = make_analysis("Retried later.", [{}])
    store.record_error("inbox/a.html", "E101", "not HTML")
    store.record_error("inbox/b.txt", "E102", "empty", doc_id=doc.document.id)
    errors = store.errors()
    assert [e["ref"] for e in errors] == ["inbox/b.txt", "inbox/a.html"]
    assert set(errors[0]) == {"id", "ref", "doc_id", "code", "message", "created_at"}
    assert dt.datetime.fromisoformat(errors[0]["created_at"]).tzinfo is not None
    assert len(store.errors(limit=1)) == 1
    store.save(doc)
    assert [e["ref"] for e in store.errors()] == ["inbox/a.html"]


# --------------------------------------------------------------------------------------------- filters

@pytest.mark.parametrize(("filters", "expected"), [
    ({}, ["syria-e1", "syria-e0", "ukraine-e0", "iran-e0", "undated-e0"]),
    ({"type": "assault"}, ["syria-e0"]),
    ({"type": ["RETREAT", "FIGHT"]}, ["syria-e1", "ukraine-e0"]),
    ({"actor": "IRN"}, ["syria-e1", "syria-e0", "iran-e0"]),             # code prefix, source or target
    ({"actor": "irngov"}, ["syria-e1", "syria-e0", "iran-e0"]),
    ({"actor": "tahrir"}, ["syria-e1", "syria-e0"]),                     # name substring
    ({"actor": "ÉTAT"}, ["undated-e0"]),                                 # Unicode case folding
    ({"actor": "50%"}, []),                                              # LIKE wildcards are literal
    ({"country": "RUS"}, ["ukraine-e0"]),
    ({"country": "UKR"}, ["ukraine-e0"]),                                # place ISO3 derived from ISO2
    ({"country": "ua"}, ["ukraine-e0"]),
    ({"country": "SY"}, ["syria-e1", "syria-e0"]),
    ({"country": "IRN"}, ["syria-e1", "syria-e0", "iran-e0"]),
    ({"place": "homs"}, ["syria-e1", "syria-e0"]),
    ({"place": "169577"}, ["syria-e1", "syria-e0"]),
    ({"place": "Hom"}, []),                                              # a name, not a substring
    ({"modality": "negated"}, ["iran-e0"]),
    ({"modality": ["hedged", "reported"]}, ["syria-e1", "undated-e0"]),
    ({"source": "reuters"}, ["syria-e1", "syria-e0"]),
    ({"source": "IRANIAN OFFICIAL"}, ["syria-e1", "syria-e0"]),
    ({"source": "irna"}, ["iran-e0"]),
    ({"text": "troops"}, ["iran-e0"]),
    ({"text": "tehran"}, ["iran-e0"]),                                   # title is indexed too
    ({"text": "shell"}, ["ukraine-e0"]),                                 # stemmed: shelled
    ({"text": "Hayat al-Sham"}, []),                                     # punctuation does not crash
    ({"since": dt.date(2024, 12, 2)}, ["syria-e1", "syria-e0"]),
    ({"until": dt.date(2024, 11, 15)}, ["iran-e0"]),                     # month overlaps the window
    ({"since": dt.date(2024, 11, 20), "until": dt.date(2024, 12, 1)}, ["ukraine-e0", "iran-e0"]),
    ({"type": "ASSAULT", "country": "SYR", "since": dt.date(2024, 12, 1), "source": "reuters"},
     ["syria-e0"]),
])
@pytest.mark.parametrize("cap", [1, 1_000, 10**9], ids=["walk date index", "as planned", "drive from filter"])
def test_filters(store: Store, corpus: dict[str, Analysis], filters: dict[str, Any],
                 expected: list[str], cap: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # The probe cap decides the plan: every filter dense (cap 1) or sparse (huge cap). Same rows either way.
    monkeypatch.setattr(store_module, "_DENSE_MIN", cap)
    monkeypatch.setattr(store_module, "_DENSE_MAX", cap)
    expected_ids = [_real_id(corpus, e) for e in expected]
    assert ids(store.events(**filters)) == expected_ids
    assert store.count_events(**filters) == len(expected_ids)
    assert ids(list(store.iter_events(**filters))) == expected_ids


def _real_id(corpus: dict[str, Analysis], short: str) -> str:
    name, n = short.split("-e")
    return corpus[name].events[int(n)].id


def test_long_ranges_still_match_since(store: Store) -> None:
    """`since` bounds the date_start index by the longest stored span; a long event must not fall out."""
    store.save(make_analysis("A four-year siege ended.", [
        {"when": When(start=dt.date(2020, 1, 1), end=dt.date(2024, 1, 1), granularity="range")}]))
    store.save(make_analysis("A day later.", [{"when": day("2023-06-01")}]))
    assert store.count_events(since=dt.date(2023, 12, 1)) == 1
    assert store.count_events(since=dt.date(2023, 1, 1), until=dt.date(2023, 12, 31)) == 2
    assert store.count_events(since=dt.date(2024, 1, 2)) == 0


def test_doc_id_limit_and_offset(store: Store, corpus: dict[str, Analysis]) -> None:
    syria = corpus["syria"].document.id
    assert ids(store.events(doc_id=syria)) == [e.id for e in reversed(corpus["syria"].events)]
    all_ids = ids(store.events())
    assert ids(store.events(limit=2)) == all_ids[:2]
    assert ids(store.events(limit=2, offset=2)) == all_ids[2:4]
    assert ids(store.events(offset=4)) == all_ids[4:]


@pytest.mark.parametrize(("filters", "code"), [
    ({"modality": "maybe"}, "E304"),
    ({"country": "Syria"}, "E306"),
    ({"since": dt.date(2024, 2, 1), "until": dt.date(2024, 1, 1)}, "E307"),
    ({"text": 'unbalanced "quote'}, "E305"),
])
def test_bad_filters_say_what_to_do(store: Store, corpus: dict[str, Analysis], filters: dict[str, Any],
                                    code: str) -> None:
    with pytest.raises(InputError) as err:
        store.events(**filters)
    assert err.value.code == code and err.value.hint


# ---------------------------------------------------------------------------------------- search, stats

def test_search_ranks_and_snippets(store: Store, corpus: dict[str, Analysis]) -> None:
    [(doc, snippet)] = store.search("Kyiv")
    assert doc == corpus["ukraine"].document
    assert "«Kyiv»" in snippet
    assert len(store.search("said", limit=1)) == 1
    assert [d.id for d, _ in store.search('"ministry spokesman"')] == [corpus["iran"].document.id]
    assert store.search("   ") == []


def test_stats(store: Store, corpus: dict[str, Analysis]) -> None:
    stats = store.stats()
    assert stats["documents"] == 4 and stats["events"] == 5 and stats["errors"] == 0
    assert stats["sources"] == 6 and stats["mentions"] == 4
    assert stats["events_by_type"]["ASSAULT"] == 1 and stats["events_by_modality"]["asserted"] == 2
    assert (stats["first_date"], stats["last_date"]) == ("2024-11-01", "2024-12-06")
    assert stats["schema_version"] == SCHEMA_VERSION


def test_documents_in_stored_order(store: Store, corpus: dict[str, Analysis]) -> None:
    docs = store.documents()
    assert [d.id for d in docs] == [a.document.id for a in corpus.values()]
    assert [d.id for d in store.documents(limit=1, offset=1)] == [corpus["iran"].document.id]


# ------------------------------------------------------------------------------------------ concurrency

def test_reader_is_not_blocked_by_an_open_write(store: Store, db_url: str) -> None:
    store.save(make_analysis("Before.", [{}]))
    reader = Store(db_url)
    second_writer = Store(db_url, busy_timeout=0.05)
    during = make_analysis("During.", [{}, {}])
    try:
        with store._write() as conn:                       # a write transaction, still open
            store._write_batch(conn, store_module._Batch([during]))
            assert reader.count_events() == 1              # sees the last committed state, no waiting
            assert len(list(reader.iter_events())) == 1
            with pytest.raises(StoreError) as err:         # a second writer of the same document waits,
                second_writer.save(during)                 # then says why (SQLite: the whole database)
            assert err.value.code == "E204"
        assert reader.count_events() == 3                  # and sees the commit afterwards
    finally:
        reader.close()
        second_writer.close()


def test_streaming_reader_survives_concurrent_writes(store: Store) -> None:
    store.save_many(make_analysis(f"Doc {i}.", [{}]) for i in range(5))
    stream = store.iter_events()
    first = next(stream)
    store.save(make_analysis("Written while streaming.", [{}]))
    assert 1 + len(list(stream)) == 5                      # the snapshot taken when the stream started
    assert first.type == "ASSAULT" and store.count_events() == 6


def test_url_password_is_never_shown(db_url: str) -> None:
    with Store(db_url) as store:
        assert all(secret not in store.url and secret not in repr(store)
                   for secret in _password(db_url))


def _password(url: str) -> list[str]:
    parsed = sa.engine.make_url(store_module.database_url(url))
    return [parsed.password] if parsed.password else []


def test_memory_database_works(monkeypatch: pytest.MonkeyPatch) -> None:
    with Store("sqlite://") as store:
        store.save(make_analysis("In memory.", [{}]))
        assert store.count_events() == 1


def test_columns_match_the_export_names() -> None:
    """The store's filter columns mean what the CSV/Parquet columns of the same name mean."""
    from tidings.store.export import FLAT_COLUMNS

    own = {"position", "data"}
    assert set(store_module._EVENT_COLUMNS) - own <= set(FLAT_COLUMNS)
    for table, columns, generated in ((store_module.documents_table, store_module._DOCUMENT_COLUMNS, {"key"}),
                                      (store_module.mentions_table, store_module._MENTION_COLUMNS, {"id"}),
                                      (store_module.sources_table, store_module._SOURCE_COLUMNS, set())):
        assert set(columns) | generated == set(table.c.keys())


def test_events_as_of_keeps_what_was_reported_by_then(tmp_path):
    """``as_of``: a report published later (or, undated, stored later) is not yet known on that day."""
    from tidings import analyze
    from tidings.store.database import Store

    early = analyze("Rebels captured Homs on Friday, officials said.", published="2024-12-07")
    late = analyze("Rebels captured Hama on Monday, officials said.", published="2024-12-10")
    with Store(f"sqlite:///{tmp_path / 'asof.db'}") as store:
        store.save(early)
        store.save(late)
        on_8th = store.events(as_of=dt.date(2024, 12, 8))
        assert on_8th and {e.doc_id for e in on_8th} == {early.document.id}
        assert {e.doc_id for e in store.events(as_of=dt.date(2024, 12, 10))} == {early.document.id, late.document.id}
        assert store.events(as_of=dt.date(2024, 12, 6)) == []
        assert store.count_events(as_of=dt.date(2024, 12, 8)) == len(on_8th)
