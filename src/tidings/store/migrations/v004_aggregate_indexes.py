"""Schema 4: covering indexes for the dashboard's unfiltered aggregates (``/api/aggregates/map``, ``timeline``
and ``network``, :meth:`tidings.store.database.Store.group_events`).

Why indexes: an unfiltered GROUP BY over the events read every row of the table, ~2 kB each with its JSON,
to count a few small columns, then sorted the groups; an index holding exactly the grouped columns is a
tenth of the table's size and already in group order, so SQLite (and PostgreSQL's index-only scans) count
from it alone. Measured on 100k events in ``docs/benchmarks.md`` (issue 16), against the alternatives of
counts maintained on write and a cache invalidated by a write counter.

The columns are spelled here as they were at version 4, not imported from today's table definitions."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

#: name → columns, in the order the aggregates group by (the store declares the same on ``events``).
INDEXES: dict[str, tuple[str, ...]] = {
    "ix_events_place_groups": ("place_geonameid", "place_name", "place_country", "place_country3", "place_admin1",
                               "place_lat", "place_lon", "type", "modality", "fatalities"),
    "ix_events_date_groups": ("granularity", "date_start", "date_end", "type", "place_country", "fatalities"),
    "ix_events_actor_groups": ("source_name", "source_code", "source_country", "target_name", "target_code",
                               "target_country", "type"),
}


def upgrade(conn: Connection) -> None:
    """Create the indexes (a no-op where they exist)."""
    present = {i["name"] for i in sa.inspect(conn).get_indexes("events")}
    for name, columns in INDEXES.items():
        if name not in present:
            conn.exec_driver_sql(f"CREATE INDEX {name} ON events ({', '.join(columns)})")
