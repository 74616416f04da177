"""One schema: every table on one MetaData, made with a new store and brought up by numbered migrations —
linking's and watch's tables included (before schema 5 they were made on first use, outside the migrations)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import sqlalchemy as sa

from tidings.across import link, watch
from tidings.store import schema
from tidings.store.database import MIGRATIONS, SCHEMA_VERSION, Store

#: The schema version before the step that brought linking's and watch's tables into the migrations.
BEFORE = next(version for version, step in MIGRATIONS.items() if step.__module__.endswith("_across"))
ACROSS = {"linked_documents", "cluster_members", "clusters", "cluster_aliases", "cluster_links", "watch_rules",
          "alerts", "webhook_outbox"}


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _sql(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new database on each backend (PostgreSQL skips, saying why, when no test server is configured)."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_schema_url"))
    return f"sqlite:///{tmp_path / 'store.db'}"


def test_one_metadata_holds_every_table() -> None:
    assert ACROSS | {"documents", "events", "feeds", "meta"} <= set(schema.metadata.tables)
    for module in (link, watch):   # no second MetaData, no create_all outside the store
        source = inspect.getsource(module)
        calls = {ast.unparse(n.func) for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)}
        assert not any(c.endswith(("MetaData", "create_all")) for c in calls), module.__name__


def test_a_new_store_has_every_table_before_anything_links(db_url: str) -> None:
    url = db_url
    Store(url).close()
    assert set(schema.metadata.tables) <= _tables(url)


def test_an_older_store_gains_the_linking_and_watch_tables(db_url: str) -> None:
    url = db_url
    Store(url).close()
    _sql(url, *(f"DROP TABLE {name}" for name in sorted(ACROSS)),
         f"UPDATE meta SET value = '{BEFORE}' WHERE key = 'schema_version'")
    assert not ACROSS & _tables(url)
    with Store(url) as store:
        assert store.schema_version == SCHEMA_VERSION
    assert ACROSS <= _tables(url)


def test_an_older_store_linked_by_an_older_tidings_keeps_its_rows_and_gains_the_column(db_url: str) -> None:
    url = db_url
    Store(url).close()
    _sql(url, "DROP TABLE cluster_aliases", "ALTER TABLE cluster_members DROP COLUMN casualties",
         "INSERT INTO watch_rules (name, spec, created_at) VALUES ('kept', '{}', '2025-01-01 00:00:00')",
         f"UPDATE meta SET value = '{BEFORE}' WHERE key = 'schema_version'")
    engine = sa.create_engine(url)
    try:
        assert "casualties" not in {c["name"] for c in sa.inspect(engine).get_columns("cluster_members")}
    finally:
        engine.dispose()
    Store(url).close()
    engine = sa.create_engine(url)
    try:
        assert "casualties" in {c["name"] for c in sa.inspect(engine).get_columns("cluster_members")}
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT name FROM watch_rules").scalars().all() == ["kept"]
    finally:
        engine.dispose()
    assert "cluster_aliases" in _tables(url)
