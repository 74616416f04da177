"""Versioned schema migrations for the store, one module per step, for SQLite and PostgreSQL alike.

Why not Alembic: the store creates a new database from its current table definitions in one step and keeps
its version in its own ``meta`` table, so the only thing a migration tool must do here is run the steps
between an old version and the current one, in order, inside the store's opening transaction (which on
PostgreSQL also holds an advisory lock, so two processes never migrate at once). That fits in this file;
Alembic would add a dependency, an ``alembic_version`` table and an environment script for the same result.

A step is a module ``vNNN_<what>.py`` (NNN = the version it produces) with ``upgrade(conn)``. Steps use
SQLAlchemy Core and check ``conn.dialect.name`` where the backends differ; each declares the tables as they
were at its version, never importing today's definitions, so an old step keeps doing what it did.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable

from sqlalchemy.engine import Connection

__all__ = ["Migration", "discover"]

Migration = Callable[[Connection], None]
_STEP = re.compile(r"^v(\d{3})_\w+$")


def discover() -> dict[int, Migration]:
    """``{from_version: upgrade}`` for every step module in this package (v002_x upgrades 1 → 2)."""
    steps: dict[int, Migration] = {}
    for info in pkgutil.iter_modules(__path__):
        match = _STEP.match(info.name)
        if not match:
            continue
        target = int(match.group(1))
        if target - 1 in steps:
            raise RuntimeError(f"two migrations produce schema version {target}")
        module = importlib.import_module(f"{__name__}.{info.name}")
        steps[target - 1] = module.upgrade
    return steps
