"""Read queries the faces need beyond :class:`~tidings.store.database.Store`'s own: names with their event
counts (index-only GROUP BYs), the newest event of a name, document counts as known on a day. Each
reads through the store's pool and its error translation (:meth:`Store.read`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from tidings.store.database import Store, document_known_by, documents_table, reported_by

__all__ = ["document_count", "is_sqlite", "latest_of", "like_pattern", "name_counts", "read_connection"]


@contextmanager
def read_connection(store: Store) -> Iterator[sa.Connection]:
    """A read connection for the aggregates the Store does not offer yet (actors, places, counts),
    through its pool and its error translation."""
    opener = getattr(store, "read", None) or store._read
    with opener() as conn:
        yield conn


def like_pattern(needle: str) -> str:
    return "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def name_counts(conn: sa.Connection, column: sa.ColumnElement[Any], q: str | None,
                 as_of: dt.date | None = None) -> dict[str, int]:
    """name → events, as an index-only GROUP BY: every name column has its own index, and reading the
    table itself (each row carries the whole event as JSON) would cost seconds at a million events.
    ``as_of``: only events reported by that day (the counts as they stood then)."""
    stmt = sa.select(column, sa.func.count()).where(column.is_not(None)).group_by(column)
    if as_of is not None:
        stmt = stmt.where(reported_by(as_of))
    if q:
        stmt = stmt.where(column.ilike(like_pattern(q), escape="\\"))
    return {name: count for name, count in conn.execute(stmt)}


def latest_of(conn: sa.Connection, column: sa.ColumnElement[Any], name: str, *wanted: sa.ColumnElement[Any]
            ) -> sa.Row[Any] | None:
    """The wanted columns of the newest event where ``column == name`` (one index probe)."""
    return conn.execute(sa.select(*wanted).where(column == name)
                        .order_by(sa.literal_column("events.rowid").desc() if is_sqlite(conn) else column)
                        .limit(1)).first()


def is_sqlite(conn: sa.Connection) -> bool:
    return conn.dialect.name == "sqlite"


def document_count(store: Store, as_of: dt.date | None = None) -> int:
    stmt = sa.select(sa.func.count()).select_from(documents_table)
    if as_of is not None:
        stmt = stmt.where(document_known_by(as_of))
    with read_connection(store) as conn:
        return int(conn.scalar(stmt) or 0)
