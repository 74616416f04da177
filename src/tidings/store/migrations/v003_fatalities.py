"""Schema 3: ``events.fatalities`` (the killed figure of :mod:`tidings.stages.casualties`), indexed for
``min_fatalities`` filters and sums. Events stored before have no figures: the column starts empty, as a
re-analysis would leave it for texts that give none."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def upgrade(conn: Connection) -> None:
    """Add the column and its index (a no-op where they exist)."""
    inspector = sa.inspect(conn)
    if not any(c["name"] == "fatalities" for c in inspector.get_columns("events")):
        conn.exec_driver_sql("ALTER TABLE events ADD COLUMN fatalities INTEGER")
    if not any(i["name"] == "ix_events_fatalities" for i in inspector.get_indexes("events")):
        conn.exec_driver_sql("CREATE INDEX ix_events_fatalities ON events (fatalities)")
