"""Columns added to the registry's tables after data dirs already held them.

``create_all`` creates missing tables but never alters an existing one, so a column added to a model is added here,
once, to a data dir made before it. New columns are nullable, so old rows read as "not set".
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

log = logging.getLogger(__name__)

# (table, column, SQLite type) in the order they were introduced; names are constants, never input.
_ADDED = [
    ("schemas", "shard_key", "VARCHAR"),      # issue 12: a ClickHouse cluster's sharding key
]


def add_missing_columns(db: Engine) -> None:
    with db.begin() as connection:
        for table, column, sql_type in _ADDED:
            present = {row[1] for row in connection.exec_driver_sql(f"PRAGMA table_info({table})")}
            if column not in present:
                connection.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
                log.info("schema registry: added column %s.%s", table, column)
