"""Schema 5: the tables of linking (``linked_documents``, ``cluster_members``, ``clusters``,
``cluster_aliases``, ``cluster_links``) and of watch rules (``watch_rules``, ``alerts``, ``webhook_outbox``)
join the versioned schema. Before, :mod:`tidings.across.link` and :mod:`tidings.across.watch` made them on first use with
``create_all`` outside the migrations, and added ``cluster_members.casualties`` to stores made before it;
now a new store gets them with the others and an older one here. A store where linking already ran keeps
its tables and rows (``checkfirst``), with the column added where it is missing."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

metadata = sa.MetaData()   # the tables as they are at version 5 (never today's definitions)

# --- linking ------------------------------------------------------------

linked_documents_table = sa.Table(
    "linked_documents", metadata,
    sa.Column("doc_id", sa.String(64), primary_key=True),
    sa.Column("analysed_at", sa.DateTime),             # documents.analysed_at when linked: detects re-analysis
    sa.Column("events_hash", sa.String(32), nullable=False),
    sa.Column("outlet", sa.Text),
    sa.Column("published", sa.Date),
    sa.Column("sketch", sa.Text, nullable=False),      # bottom-k shingle hashes, hex, for near-duplicates
)

members_table = sa.Table(
    "cluster_members", metadata,
    sa.Column("event_id", sa.String(96), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False, unique=True),    # arrival order: the first member names a cluster
    sa.Column("cluster_id", sa.String(32), nullable=False),
    sa.Column("doc_id", sa.String(64), nullable=False),
    sa.Column("family", sa.String(32), nullable=False),
    sa.Column("phase", sa.String(12), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("mode", sa.Text), sa.Column("cameo", sa.String(16)),
    sa.Column("modality", sa.String(16), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("dated", sa.Boolean, nullable=False),
    sa.Column("date_lo", sa.Date), sa.Column("date_hi", sa.Date),
    sa.Column("when_start", sa.Date), sa.Column("when_end", sa.Date),
    sa.Column("granularity", sa.String(16), nullable=False),
    *[sa.Column(f"{who}_{what}", sa.Text) for who in ("source", "target")
      for what in ("code", "name", "country", "sector")],
    sa.Column("place_gid", sa.Integer), sa.Column("place_name", sa.Text),
    sa.Column("place_country3", sa.String(3)), sa.Column("place_admin1", sa.Text),
    sa.Column("place_feature", sa.String(16)), sa.Column("place_lat", sa.Float), sa.Column("place_lon", sa.Float),
    sa.Column("origin", sa.Text, nullable=False), sa.Column("origin_org", sa.Text),
    sa.Column("origin_anonymous", sa.Boolean, nullable=False), sa.Column("origin_label", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("source_key", sa.String(3)), sa.Column("target_key", sa.String(3)),
    sa.Column("casualties", sa.Text),   # JSON {kind: [count, evidence text, who says so]}; NULL in older stores
    sa.Index("ix_cluster_members_lookup", "family", "phase", "date_lo"),
    sa.Index("ix_cluster_members_source", "family", "phase", "source_key", "date_lo"),
    sa.Index("ix_cluster_members_target", "family", "phase", "target_key", "date_lo"),
    sa.Index("ix_cluster_members_cluster", "cluster_id"),
    sa.Index("ix_cluster_members_doc", "doc_id"),
)

clusters_table = sa.Table(
    "clusters", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),       # seq of the founding member: the older cluster survives a merge
    sa.Column("type", sa.String(32), nullable=False), sa.Column("mode", sa.Text),
    sa.Column("phase", sa.String(12), nullable=False), sa.Column("modality", sa.String(16), nullable=False),
    sa.Column("size", sa.Integer, nullable=False), sa.Column("documents", sa.Integer, nullable=False),
    sa.Column("independent_sources", sa.Integer, nullable=False),
    sa.Column("anonymous_only", sa.Boolean, nullable=False),
    sa.Column("date_start", sa.Date), sa.Column("date_end", sa.Date),
    sa.Column("reported", sa.Date),                     # earliest publication date among members
    sa.Column("source_code", sa.Text), sa.Column("source_name", sa.Text),
    sa.Column("target_code", sa.Text), sa.Column("target_name", sa.Text),
    sa.Column("place_gid", sa.Integer), sa.Column("place_name", sa.Text), sa.Column("place_country3", sa.String(3)),
    sa.Column("origins", sa.Text, nullable=False),        # JSON list of origin labels
    sa.Column("contradictions", sa.Text, nullable=False),  # JSON list of {kind, members, values}
    sa.Column("canonical", sa.Text, nullable=False),       # the canonical Event as JSON
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_clusters_date_start", "date_start"),
    sa.Index("ix_clusters_size", "size"),
)

aliases_table = sa.Table(
    "cluster_aliases", metadata,
    sa.Column("old_id", sa.String(32), primary_key=True),
    sa.Column("new_id", sa.String(32), nullable=False),
    sa.Index("ix_cluster_aliases_new", "new_id"),
)

links_table = sa.Table(
    "cluster_links", metadata,     # every accepted link between two events, and why it was taken
    sa.Column("a_event", sa.String(96), primary_key=True), sa.Column("b_event", sa.String(96), primary_key=True),
    sa.Column("a_doc", sa.String(64), nullable=False), sa.Column("b_doc", sa.String(64), nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("why", sa.Text, nullable=False),          # JSON: Match.why()
    sa.Index("ix_cluster_links_a_doc", "a_doc"), sa.Index("ix_cluster_links_b_doc", "b_doc"),
    sa.Index("ix_cluster_links_b_event", "b_event"),
)

# --- watch rules ------------------------------------------------------------

rules_table = sa.Table(
    "watch_rules", metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),          # the rule as JSON
    sa.Column("created_at", sa.DateTime, nullable=False),
)

alerts_table = sa.Table(
    "alerts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("cluster_id", sa.String(32), nullable=False),
    sa.Column("event_ids", sa.Text, nullable=False),       # JSON list: the new events that matched
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("independent_sources", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("webhook", sa.Text),
    sa.Column("delivered", sa.Boolean, nullable=False, default=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.UniqueConstraint("rule", "cluster_id", name="uq_alerts_rule_cluster"),
)

outbox_table = sa.Table(
    "webhook_outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.Integer, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),          # the JSON body
    sa.Column("status", sa.String(16), nullable=False),     # pending, delivered, failed (for good)
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_webhook_outbox_due", "status", "next_attempt_at"),
)


def upgrade(conn: Connection) -> None:
    """Create the missing tables; add ``cluster_members.casualties`` where an older linker made the table."""
    present = set(sa.inspect(conn).get_table_names())
    if "cluster_members" in present and not any(
            c["name"] == "casualties" for c in sa.inspect(conn).get_columns("cluster_members")):
        conn.exec_driver_sql("ALTER TABLE cluster_members ADD COLUMN casualties TEXT")
    metadata.create_all(conn, checkfirst=True)
