"""Shared fixtures: one Engine (one spaCy model load) per test session."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "iran-syria-evacuation.txt"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def engine():
    from tidings.pipeline import Engine

    return Engine()


@pytest.fixture(scope="session")
def sample_text() -> str:
    return SAMPLE.read_text("utf-8")


@pytest.fixture(scope="session")
def sample_analysis(engine, sample_text):
    return engine.analyze(sample_text, published=dt.date(2024, 12, 7))


# ------------------------------------------------------------------------------------------- PostgreSQL

PG_SKIP = ("PostgreSQL tests skipped: set TIDINGS_TEST_PG_URL to a server's URL "
           "(export TIDINGS_TEST_PG_URL=$(scripts/pg_test_server.sh) starts a throwaway one)")


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The test server's URL (``postgresql://user:pw@host:port/db``); skips, saying why, when there is none."""
    import os

    url = os.environ.get("TIDINGS_TEST_PG_URL")
    if not url:
        pytest.skip(PG_SKIP)
    try:
        import psycopg
    except ImportError:
        pytest.skip("PostgreSQL tests skipped: psycopg is not installed (pip install 'tidings[postgres]')")
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        pytest.fail(f"TIDINGS_TEST_PG_URL is set but the server does not answer: {exc}")
    return url


@pytest.fixture()
def pg_schema_url(pg_url: str):
    """A URL whose connections live in a new, empty schema (dropped afterwards): tests never share tables
    and need no CREATE DATABASE (slow) — ``options=-csearch_path=...`` is passed through to libpq."""
    import uuid
    from urllib.parse import quote

    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in pg_url else "?"
    yield f"{pg_url}{separator}options={quote(f'-csearch_path={schema}')}"
    try:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '5s'")
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    except psycopg.Error:
        pass  # a connection a test leaked still holds a lock: the throwaway server keeps the schema
