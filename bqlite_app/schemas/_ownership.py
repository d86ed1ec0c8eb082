"""Which engine tables the registry created, so it never takes over, replaces or drops any other (docs/api.md, sandbox).

Before issue 9 the registry recorded only "schema X uses table T" (``schema_tables``), whether it had created T or
found it there: registering ``main.nyc_taxi`` and deleting with ``drop_tables`` dropped the sample table. Creation is
now recorded in ``schema_created_tables``.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, text
from sqlmodel import Session

from bqlite_app.datasets import RESERVED_DATASETS
from bqlite_app.db import utcnow
from bqlite_app.schemas.models import CreatedTable

log = logging.getLogger(__name__)


_MIGRATIONS = "schema_registry_migrations"
_BACKFILL = "created_tables_from_schema_tables"


def migrate(db: Engine) -> None:
    """Create ``schema_created_tables`` and, once per data dir, fill it from ``schema_tables``.

    Old rows cannot say whether the registry created their table or adopted one that was there. Tables outside the
    reserved datasets were almost always made by the registry (adopting needed a hand-made table of the very same
    name), so they count as created; tables in a reserved dataset (the sample tables, system catalogs) never do.

    Whether the backfill ran is recorded in its own table: the table's absence cannot tell, since the job store's
    ``create_all`` over the shared metadata may create it first. The backfill and its record commit together.
    """
    table = CreatedTable.__table__  # type: ignore[attr-defined]
    table.create(db, checkfirst=True)
    with db.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE TABLE IF NOT EXISTS {_MIGRATIONS} (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    with db.begin() as connection:
        done = connection.execute(text(f"SELECT 1 FROM {_MIGRATIONS} WHERE name = :name"), {"name": _BACKFILL})
        if done.first() is not None:
            return
        reserved = ", ".join(f"'{name}'" for name in sorted(RESERVED_DATASETS))   # constants, not input
        copied = connection.execute(text(
            f"INSERT OR IGNORE INTO {table.name} (engine, database_name, table_name, schema_id, created_at) "
            "SELECT t.engine, s.database_name, s.table_name, t.schema_id, t.created_at "
            "FROM schema_tables t JOIN schemas s ON s.schema_id = t.schema_id "
            f"WHERE lower(s.database_name) NOT IN ({reserved})")).rowcount
        connection.execute(text(f"INSERT INTO {_MIGRATIONS} (name, applied_at) VALUES (:name, :at)"),
                           {"name": _BACKFILL, "at": utcnow().isoformat()})
    if copied:
        log.info("schema registry: recorded %d existing table(s) as created by the registry", copied)


def is_owned(session: Session, engine: str, database: str, table: str) -> bool:
    return session.get(CreatedTable, (engine, database, table)) is not None


def claim(session: Session, engine: str, database: str, table: str, schema_id: str) -> None:
    """Record that the registry is creating this table (committed before the CREATE, see ``create_tables``)."""
    session.merge(CreatedTable(engine=engine, database_name=database, table_name=table, schema_id=schema_id))


def release(session: Session, engine: str, database: str, table: str) -> None:
    row = session.get(CreatedTable, (engine, database, table))
    if row is not None:
        session.delete(row)
