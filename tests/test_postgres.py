"""PostgreSQL specifics and concurrent writers, on both backends where the property is shared.

The PostgreSQL half needs ``TIDINGS_TEST_PG_URL`` (``scripts/pg_test_server.sh`` prints one); without it
those tests are skipped with a message. ``tests/test_store.py`` runs the whole store suite on both backends.
"""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest

from test_store import make_analysis
from tidings.core.errors import InputError
from tidings.store.database import Store, database_url


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_schema_url"))
    return f"sqlite:///{tmp_path / 'events.db'}"


def _corpus(start: int, stop: int, version: int) -> list[Any]:
    """Documents ``start..stop``; ``version`` changes the events, not the document ids."""
    return [make_analysis(f"Shared document number {i}.", [{"type": "FIGHT" if version else "ASSAULT"}] * 2)
            for i in range(start, stop)]


def _writer(url: str, start: int, stop: int, version: int, rounds: int) -> None:
    with Store(url) as store:
        for _ in range(rounds):
            store.save_many(_corpus(start, stop, version))
            store.save_many(reversed(_corpus(start, stop, version)))   # other order: no deadlock either


def _check_no_loss_no_duplicates(url: str, n_docs: int) -> None:
    with Store(url) as store:
        stats = store.stats()
        assert stats["documents"] == n_docs
        assert stats["events"] == 2 * n_docs            # each document's events, exactly once
        assert stats["sources"] == 4 * n_docs
        assert stats["errors"] == 0                      # no writer lost a conflict
        for doc in store.documents(limit=n_docs):
            types = {e.type for e in store.events(doc_id=doc.id)}
            assert len(types) == 1                       # one writer's version, never a mix


def test_two_threads_writing_overlapping_documents(any_url: str) -> None:
    Store(any_url).close()
    threads = [threading.Thread(target=_writer, args=(any_url, 0, 60, 0, 3)),
               threading.Thread(target=_writer, args=(any_url, 30, 90, 1, 3))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    _check_no_loss_no_duplicates(any_url, 90)


def test_two_processes_writing_overlapping_documents_on_a_new_database(any_url: str) -> None:
    """Both processes also race to create the schema."""
    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=_writer, args=(any_url, 0, 50, 0, 2)),
             context.Process(target=_writer, args=(any_url, 25, 75, 1, 2))]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=180)
    assert [p.exitcode for p in procs] == [0, 0]
    _check_no_loss_no_duplicates(any_url, 75)


# ------------------------------------------------------------------------------------ PostgreSQL only

def test_postgresql_urls_mean_psycopg_3() -> None:
    assert database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.fixture()
def pg_store(pg_schema_url: str) -> Any:
    with Store(pg_schema_url) as store:
        store.save_many([
            make_analysis("Peace talks resumed in Geneva after shelling stopped.", [{}], title="Geneva talks"),
            make_analysis("Troops withdrew from the border town overnight.", [{}], title="Withdrawal"),
            make_analysis("Hayat Tahrir al-Sham fighters entered Aleppo.", [{}], title="Aleppo"),
        ])
        yield store


@pytest.mark.parametrize(("query", "titles"), [
    ("talks", ["Geneva talks"]),
    ("talk", ["Geneva talks"]),                                   # stemmed like the index
    ('"peace talks"', ["Geneva talks"]),
    ('"resumed talks"', []),                                      # a phrase keeps its order
    ("geneva OR border", ["Geneva talks", "Withdrawal"]),
    ("troops AND border", ["Withdrawal"]),
    ("troops border", ["Withdrawal"]),                            # implicit AND
    ("troops NOT border", []),
    ("(geneva OR aleppo) NOT shelling", ["Aleppo"]),
    ("withdr*", ["Withdrawal"]),                                  # prefix
    ("al-Sham", ["Aleppo"]),                                      # punctuation inside a word
    ("U.S.", []),
    ("withdrawal", ["Withdrawal"]),                               # the title is indexed too
])
def test_postgresql_text_search_speaks_fts5_syntax(pg_store: Store, query: str, titles: list[str]) -> None:
    assert sorted(d.title for d, _ in pg_store.search(query)) == titles
    assert pg_store.count_events(text=query) == len(titles)


@pytest.mark.parametrize("query", ['"unbalanced', "(geneva", "geneva)", "AND", "talks OR", "NOT talks"])
def test_postgresql_bad_text_queries_say_what_to_do(pg_store: Store, query: str) -> None:
    with pytest.raises(InputError) as err:
        pg_store.search(query)
    assert err.value.code == "E305" and err.value.hint


def test_postgresql_uses_its_own_full_text_index(pg_store: Store) -> None:
    with pg_store._engine.connect() as conn:
        indexes = {r[0] for r in conn.exec_driver_sql(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")}
        conn.exec_driver_sql("SET enable_seqscan = off")     # 3 rows: make the planner show the index
        plan = "\n".join(r[0] for r in conn.exec_driver_sql(
            "EXPLAIN SELECT id FROM documents WHERE search @@ phraseto_tsquery('english', 'talks')"))
    assert {"ix_documents_search", "ix_events_date_order"} <= indexes
    assert "ix_documents_search" in plan


def test_postgresql_snippets_mark_the_match(pg_store: Store) -> None:
    [(doc, snippet)] = pg_store.search("Geneva")
    assert doc.title == "Geneva talks" and "«Geneva»" in snippet


def test_postgresql_feed_state_round_trip(pg_schema_url: str) -> None:
    with Store(pg_schema_url) as store:
        store.save_feed("https://wire.example/rss", title="Wire", etag='"v1"')
        store.save_feed("https://wire.example/rss", failures=2)                 # only the columns given
        row = {"feed_url": "https://wire.example/rss", "item_key": "a" * 64, "guid": "g1", "link": None,
               "title": "One", "published": None, "status": "retry", "attempts": 1, "doc_id": None, "error": "x"}
        store.save_feed_items([row])
        store.save_feed_items([{**row, "status": "done", "attempts": 2, "error": None}])
        feed = store.feed("https://wire.example/rss")
        assert (feed["title"], feed["etag"], feed["failures"]) == ("Wire", '"v1"', 2)
        [item] = store.feed_items("https://wire.example/rss", ["a" * 64, "b" * 64]).values()
        assert (item["status"], item["attempts"], item["error"]) == ("done", 2, None)


def test_postgresql_batch_resumes_from_the_store(pg_schema_url: str, tmp_path: Path, engine: Any) -> None:
    import json

    from tidings.scale import run_batch

    corpus = tmp_path / "c.jsonl"
    texts = ["Rebels captured Homs on Friday, a monitor said.",
             "Iran withdrew its officers from Syria, officials said on Saturday.",
             "Police arrested twelve protesters in Tbilisi on Sunday."]
    corpus.write_text("".join(json.dumps({"text": t, "published": "2024-12-07"}) + "\n" for t in texts), "utf-8")
    first = run_batch([corpus], [pg_schema_url], local_engine=engine)
    again = run_batch([corpus], [pg_schema_url], local_engine=engine)
    assert (first.done, again.done, again.skipped) == (3, 0, 3)
    with Store(pg_schema_url) as store:
        assert store.stats()["documents"] == 3


def test_postgresql_bulk_documents_read_back_equal(pg_schema_url: str) -> None:
    """A batch large enough for the COPY path (store._PG_COPY_DOCUMENTS) stores what a single save stores."""
    from tidings.store import database as store_module

    corpus = _corpus(0, store_module._PG_COPY_DOCUMENTS + 10, 0)
    with Store(pg_schema_url) as store:
        assert store.save_many(corpus) == len(corpus)
        store.save_many(corpus)                          # replaced, not duplicated
        assert store.stats()["documents"] == len(corpus)
        for analysis in corpus:
            back = store.analysis(analysis.document.id)
            assert back is not None and back.document == analysis.document
            assert [e.model_dump() for e in back.events] == [e.model_dump() for e in analysis.events]
