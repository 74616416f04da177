"""Schema 2: feed state for ``tidings follow`` (conditional GET validators, backoff) and the items seen."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_metadata = sa.MetaData()

sa.Table(
    "feeds", _metadata,
    sa.Column("url", sa.Text, primary_key=True),
    sa.Column("title", sa.Text),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("added_at", sa.DateTime, nullable=False),
    sa.Column("polled_at", sa.DateTime),
    sa.Column("ok_at", sa.DateTime),
    sa.Column("status", sa.Integer),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_poll_at", sa.DateTime),
    sa.Column("error", sa.Text),
)

sa.Table(
    "feed_items", _metadata,
    sa.Column("feed_url", sa.Text, sa.ForeignKey("feeds.url", ondelete="CASCADE"), primary_key=True),
    sa.Column("item_key", sa.String(64), primary_key=True),
    sa.Column("guid", sa.Text),
    sa.Column("link", sa.Text),
    sa.Column("title", sa.Text),
    sa.Column("published", sa.Date),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("doc_id", sa.String(64)),
    sa.Column("error", sa.Text),
    sa.Column("first_seen_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_feed_items_doc_id", "doc_id"),
)


def upgrade(conn: Connection) -> None:
    """Add the two feed tables (a no-op where they exist)."""
    _metadata.create_all(conn, checkfirst=True)
