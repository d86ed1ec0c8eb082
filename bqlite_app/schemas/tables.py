"""A schema's tables in each engine: DDL, creation, migration to a new version, and dropping.

The registry only ever changes tables it created itself (``_ownership``); a table someone else made under the same
name is reported, never adopted, replaced or dropped. Access checks and the audit log stay with the registry: these
functions are handed a record the caller may already change.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from bqlite_app.errors import DatasetReserved
from bqlite_app.schemas import _ownership as ownership
from bqlite_app.schemas._load import engine_errors
from bqlite_app.schemas._store import SchemaStore
from bqlite_app.schemas._versions import column_changes
from bqlite_app.schemas.models import EngineTable, SchemaRecord, TableCreatedPublic
from engines.errors import EngineError
from engines.types import Column


class SchemaTables:
    def __init__(self, store: SchemaStore) -> None:
        self._store = store

    def check_engines(self, names: Sequence[str]) -> None:
        """``EngineNotAvailable`` for an unknown name, before anything else is looked at."""
        for name in names:
            self._store.engine(name)

    def ddl(self, record: SchemaRecord, columns: list[Column]) -> dict[str, str]:
        """The CREATE TABLE each engine would run for ``columns``, shown before anything is created."""
        return {name: engine.render_ddl(record.database_name, record.table_name, columns, shard_key=record.shard_key)
                for name, engine in self._store.engines.items()}

    def create(self, record: SchemaRecord, engines: Sequence[str], columns: list[Column], *, if_not_exists: bool,
               replace: bool) -> dict[str, TableCreatedPublic]:
        """Create the schema's table in each engine. An existing table is used, or replaced with ``replace``, only
        when the registry created it; any other makes the whole request ``DatasetReserved`` before anything changes.
        """
        store = self._store
        database, table = record.database_name, record.table_name
        qualified = f"{database}.{table}"
        results: dict[str, TableCreatedPublic] = {}
        with store.lock, store.session() as session, engine_errors():
            existed = {name: store.engines[name].table_exists(database, table) for name in engines}
            foreign = [name for name in engines if existed[name] and not ownership.is_owned(session, name, database,
                                                                                            table)]
            if foreign:
                raise DatasetReserved(
                    f"Table {qualified} already exists in {', '.join(foreign)} and is not owned by this schema (the "
                    "schema registry did not create it), so it is neither used nor replaced. Drop or rename it with "
                    "SQL, or register the schema under another table_name or database_name.")
            for name in engines:
                ddl = store.engines[name].render_ddl(database, table, columns, if_not_exists=if_not_exists,
                                                     shard_key=record.shard_key)
                result = TableCreatedPublic(created=False, table=qualified, ddl=ddl)
                try:
                    if existed[name] and not replace and not if_not_exists:
                        raise EngineError(f"Table {qualified} already exists in {name}")
                    if replace or not existed[name]:
                        result.ddl = self._create_owned(session, record, name, columns, replace=existed[name])
                        result.created = True
                    session.merge(EngineTable(schema_id=record.schema_id, engine=name, table=qualified,
                                              version=record.version))
                except EngineError as exc:
                    # One engine failing does not undo the others: each result says what happened there.
                    result.error = str(exc)
                results[name] = result
            session.commit()
        return results

    def _create_owned(self, session: Session, record: SchemaRecord, name: str, columns: list[Column], *,
                      replace: bool) -> str:
        """CREATE the table, recording it as the registry's first, so a crash never leaves one it cannot drop.

        No IF NOT EXISTS: a table someone else made since ``table_exists`` makes the CREATE fail, not adopted.
        """
        database, table = record.database_name, record.table_name
        ownership.claim(session, name, database, table, record.schema_id)
        session.commit()
        try:
            return self._store.engines[name].create_table(database, table, columns, if_not_exists=False,
                                                          replace=replace, shard_key=record.shard_key)
        except EngineError:
            if not replace:
                ownership.release(session, name, database, table)
                session.commit()
            raise

    def migrate(self, session: Session, record: SchemaRecord, old: list[Column], new: list[Column],
                version: int) -> list[str]:
        """Add the new top-level columns to every existing table. Nested changes need the table recreated.

        Runs inside the registration's session and lock, so the new version and its tables change together.
        """
        added, changed = column_changes(old, new)
        notes = [f"Column {name!r} changed shape; recreate the tables (replace=true) to apply it." for name in changed]
        for table in self._store.tables(session, record.schema_id):
            if not ownership.is_owned(session, table.engine, record.database_name, record.table_name):
                notes.append(f"Left {table.engine} {table.table} unchanged: the registry did not create it.")
                continue
            if added:
                self._store.engine(table.engine).add_columns(record.database_name, record.table_name, added)
                notes.append(f"Added column(s) {', '.join(c.name for c in added)} to {table.engine} {table.table}.")
            table.version = version
            session.add(table)
        return notes

    def drop_owned(self, session: Session, record: SchemaRecord,
                   tables: Sequence[EngineTable]) -> tuple[list[str], list[str]]:
        """Drop the tables the registry created; the ``(dropped, kept)`` ``engine:table`` names.

        A schema pointed at someone else's table must not drop it, so those are kept. Runs inside the deletion's
        session and lock; the caller commits.
        """
        dropped, kept = [], []
        for table in tables:
            if not ownership.is_owned(session, table.engine, record.database_name, record.table_name):
                kept.append(f"{table.engine}:{table.table}")
                continue
            self._store.engine(table.engine).drop_table(record.database_name, record.table_name)
            ownership.release(session, table.engine, record.database_name, record.table_name)
            dropped.append(f"{table.engine}:{table.table}")
        return dropped, kept
