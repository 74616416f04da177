"""Schema 4 (issue 16): covering indexes for the dashboard's unfiltered aggregates, created for new stores
and by the migration for schema 3 ones, and used by SQLite for the groupings they were made for."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tidings.store import database as store_module
from tidings.store.database import SCHEMA_VERSION, Store, events_table
from tidings.store.migrations.v004_aggregate_indexes import INDEXES

# The groupings of tidings.api.aggregates (map, timeline by type, network), as group_events gets them.
GROUPINGS = {
    "ix_events_place_groups": ["place_geonameid", "place_name", "place_country", "place_country3", "place_admin1",
                               "place_lat", "place_lon", "type", "modality"],
    "ix_events_date_groups": ["granularity", "date_start", "date_end", "type"],
    "ix_events_actor_groups": ["source_name", "source_code", "source_country", "target_name", "target_code",
                               "target_country", "type"],
}


def _indexes(url: str) -> set[str]:
    engine = sa.create_engine(store_module.database_url(url))
    with engine.connect() as conn:
        names = {i["name"] for i in sa.inspect(conn).get_indexes("events")}
    engine.dispose()
    return names


def test_the_table_declares_what_the_migration_creates() -> None:
    declared = {i.name: tuple(c.name for c in i.columns) for i in events_table.indexes}
    assert {name: declared.get(name) for name in INDEXES} == INDEXES


def test_a_schema_3_store_gains_the_indexes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v3.db'}"
    Store(url).close()
    engine = sa.create_engine(store_module.database_url(url))
    with engine.begin() as conn:
        for name in INDEXES:
            conn.exec_driver_sql(f"DROP INDEX {name}")
        conn.exec_driver_sql("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    engine.dispose()
    assert not set(INDEXES) & _indexes(url)
    with Store(url) as store:
        assert store.schema_version == SCHEMA_VERSION >= 4   # migrated through step 4 (and any after it)
    assert set(INDEXES) <= _indexes(url)


def test_sqlite_counts_the_unfiltered_groupings_from_the_indexes_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    Store(url).close()
    engine = sa.create_engine(store_module.database_url(url))
    e = events_table.c
    with engine.connect() as conn:
        for index, by in GROUPINGS.items():
            columns = [e[name] for name in by]
            stmt = (sa.select(*columns, sa.func.count(), sa.func.sum(e.fatalities)).group_by(*columns)
                    if index != "ix_events_actor_groups"
                    else sa.select(*columns, sa.func.count()).group_by(*columns))
            sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
            assert f"COVERING INDEX {index}" in plan, plan
            assert "TEMP B-TREE" not in plan, plan   # in group order: no sort
    engine.dispose()
