"""The one schema: every table tidings keeps, on one SQLAlchemy ``MetaData``.

A new database gets all of them from :meth:`tidings.store.database.Store` (``metadata.create_all``) and its version,
:data:`tidings.store.database.SCHEMA_VERSION`; an older one is brought here by the numbered steps in
:mod:`tidings.store.migrations` (which declare the tables as they were at their version, never importing these).
The stages never see this module; the store owns it, and linking and watching read and write these tables
through the store's connections.

* analyses: ``meta``, ``documents``, ``events``, ``mentions``, ``sources``, ``names``, ``errors``;
* feed following: ``feeds``, ``feed_items``;
* across articles (:mod:`tidings.across.link`): ``linked_documents``, ``cluster_members``, ``clusters``,
  ``cluster_aliases``, ``cluster_links``;
* watch rules (:mod:`tidings.across.watch`): ``watch_rules``, ``alerts``, ``webhook_outbox``.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
           "alerts_table",
           "aliases_table",
           "clusters_table",
           "documents_table",
           "errors_table",
           "events_table",
           "feed_items_table",
           "feeds_table",
           "linked_documents_table",
           "links_table",
           "members_table",
           "mentions_table",
           "meta_table",
           "metadata",
           "names_table",
           "outbox_table",
           "rules_table",
           "sources_table",
]

metadata = sa.MetaData()

meta_table = sa.Table(
    "meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

documents_table = sa.Table(
    "documents", metadata,
    # An integer key that never changes: FTS5 external content needs a stable rowid (VACUUM may renumber
    # the implicit rowid of a table whose primary key is text).
    sa.Column("key", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("title", sa.Text),
    sa.Column("url", sa.Text),
    sa.Column("outlet", sa.Text),
    sa.Column("published", sa.Date),
    sa.Column("published_inferred", sa.Boolean, nullable=False),
    sa.Column("language", sa.String(16), nullable=False),
    sa.Column("source_kind", sa.String(16), nullable=False),
    sa.Column("path", sa.Text),
    sa.Column("meta", sa.Text, nullable=False),        # JSON object
    sa.Column("chain", sa.Text, nullable=False),       # JSON: Analysis.document_chain
    sa.Column("warnings", sa.Text, nullable=False),    # JSON: Analysis.warnings
    sa.Column("analysed_at", sa.DateTime, nullable=False),
    sa.Column("coder", sa.Text, nullable=False),
    sa.Index("ix_documents_published", "published"),
)

_ACTOR_COLUMNS = [sa.Column(f"{who}_{what}", sa.Text) for who in ("source", "target")
                  for what in ("code", "name", "country", "sector")]

events_table = sa.Table(
    "events", metadata,
    sa.Column("id", sa.String(96), primary_key=True),
    sa.Column("doc_id", sa.String(64), sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),   # order within its analysis
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("mode", sa.Text),
    sa.Column("contexts", sa.Text, nullable=False),      # JSON list
    sa.Column("cameo", sa.String(16)),
    sa.Column("modality", sa.String(16), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("date_start", sa.Date),
    sa.Column("date_end", sa.Date),
    sa.Column("granularity", sa.String(16), nullable=False),
    *_ACTOR_COLUMNS,
    sa.Column("place_geonameid", sa.Integer),
    sa.Column("place_name", sa.Text),
    sa.Column("place_country", sa.String(2)),
    sa.Column("place_country3", sa.String(3)),
    sa.Column("place_admin1", sa.Text),
    sa.Column("place_lat", sa.Float),
    sa.Column("place_lon", sa.Float),
    sa.Column("sentence", sa.Integer, nullable=False),
    sa.Column("coder", sa.Text, nullable=False),
    sa.Column("fatalities", sa.Integer),                 # Event.fatalities: filter and sum without the JSON
    sa.Column("data", sa.Text, nullable=False),          # the whole Event as JSON: lossless round trip
    sa.Index("ix_events_doc_id", "doc_id"),
    sa.Index("ix_events_type_date", "type", "date_start"),
    sa.Index("ix_events_date_start", "date_start"),
    sa.Index("ix_events_modality_date", "modality", "date_start"),
    sa.Index("ix_events_source_code", "source_code"),
    sa.Index("ix_events_target_code", "target_code"),
    sa.Index("ix_events_source_name", "source_name"),
    sa.Index("ix_events_target_name", "target_name"),
    sa.Index("ix_events_source_country", "source_country"),
    sa.Index("ix_events_target_country", "target_country"),
    sa.Index("ix_events_place_country3", "place_country3"),
    sa.Index("ix_events_place_name", "place_name"),
    sa.Index("ix_events_fatalities", "fatalities"),
    # Covering the dashboard's unfiltered aggregates (group_events), in their grouping order: migrations/v004.
    sa.Index("ix_events_place_groups", "place_geonameid", "place_name", "place_country", "place_country3",
             "place_admin1", "place_lat", "place_lon", "type", "modality", "fatalities"),
    sa.Index("ix_events_date_groups", "granularity", "date_start", "date_end", "type", "place_country", "fatalities"),
    sa.Index("ix_events_actor_groups", "source_name", "source_code", "source_country", "target_name", "target_code",
             "target_country", "type"),
)


mentions_table = sa.Table(
    "mentions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("doc_id", sa.String(64), sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("span_start", sa.Integer, nullable=False),
    sa.Column("span_end", sa.Integer, nullable=False),
    sa.Column("span_text", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),          # JSON object
    sa.Column("sentence", sa.Integer, nullable=False),
    sa.Index("ix_mentions_doc_id", "doc_id"),
)

sources_table = sa.Table(
    "sources", metadata,
    sa.Column("event_id", sa.String(96), sa.ForeignKey("events.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),  # 0 = the outlet end of the chain
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("anonymous", sa.Boolean, nullable=False),
    sa.Index("ix_sources_name", "name"),
)

names_table = sa.Table(
    "names", metadata,
    sa.Column("kind", sa.String(8), primary_key=True),    # actor, place, source
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("folded", sa.Text, nullable=False),         # str.casefold(): Unicode-correct, unlike SQL lower()
    sa.Index("ix_names_kind_folded", "kind", "folded"),
)

errors_table = sa.Table(
    "errors", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ref", sa.Text, nullable=False),            # what failed: a path, URL or doc id
    sa.Column("doc_id", sa.String(64)),
    sa.Column("code", sa.String(8), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_errors_doc_id", "doc_id"),
)

# Feed state for `tidings follow` (tidings.read.feeds): validators for conditional GET, backoff, and every
# item seen, so a poll analyses only what is new. Same definitions as migrations/v002_feeds.py.
feeds_table = sa.Table(
    "feeds", metadata,
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

feed_items_table = sa.Table(
    "feed_items", metadata,
    sa.Column("feed_url", sa.Text, sa.ForeignKey("feeds.url", ondelete="CASCADE"), primary_key=True),
    sa.Column("item_key", sa.String(64), primary_key=True),   # sha256 of the item's guid (or link)
    sa.Column("guid", sa.Text),
    sa.Column("link", sa.Text),
    sa.Column("title", sa.Text),
    sa.Column("published", sa.Date),
    sa.Column("status", sa.String(16), nullable=False),        # done, failed (for good), retry
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("doc_id", sa.String(64)),
    sa.Column("error", sa.Text),
    sa.Column("first_seen_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_feed_items_doc_id", "doc_id"),
)

# --- across articles: linking (tidings.across.link) ------------------------------------------------------------

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

# --- watch rules and alerts (tidings.across.watch) ------------------------------------------------------------

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
