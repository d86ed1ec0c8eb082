"""Ingest orchestration: which of a schema's tables a body goes to, checked before a byte is decoded.

The decoding and loading itself is ``_load.load_body``. Access checks and the audit log stay with the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bqlite_app.errors import DatasetReserved, TableNotFound
from bqlite_app.schemas import _ownership as ownership
from bqlite_app.schemas._load import engine_errors, load_body
from bqlite_app.schemas._store import SchemaStore
from bqlite_app.schemas.ingest import IngestFormat, IngestResult, ProgressCallback
from bqlite_app.schemas.models import SchemaRecord


def ingest_into_tables(store: SchemaStore, record: SchemaRecord, body: Path, fmt: IngestFormat,
                       engines: Sequence[str] | None, *, work_dir: Path,
                       on_progress: ProgressCallback | None = None) -> IngestResult:
    """Load ``body`` into the schema's table in ``engines`` (default: every engine it has a table in).

    Every target must exist and be the registry's own before anything is written: the registry never writes to a
    table it did not create, and a missing one is an error the caller can fix (create the tables), not a skip.
    The messages name no route: each face adds its own hint.
    """
    schema_id, database, table = record.schema_id, record.database_name, record.table_name
    with store.session() as session:
        latest = store.latest(session, schema_id)
        tables = {t.engine: t for t in store.tables(session, schema_id)}
        owned = {name for name in tables if ownership.is_owned(session, name, database, table)}
    names = list(engines) if engines else sorted(tables)
    with engine_errors():
        for name in names:
            engine = store.engine(name)
            if name not in tables or not engine.table_exists(database, table):
                raise TableNotFound(f"No {name} table for schema {schema_id} yet: create its tables first")
            if name not in owned:
                raise DatasetReserved(f"The {name} table {tables[name].table} is not owned by this schema (the "
                                      "schema registry did not create it); the registry does not write to it.")
    if not names:
        raise TableNotFound(f"Schema {schema_id} has no tables yet: create its tables first")
    targets = {name: store.engines[name] for name in names}
    with engine_errors():
        return load_body(store.compiled(latest), latest.message_type, body, fmt, targets, database, table,
                         decoders=store.engines.values(), max_depth=store.max_depth, work_dir=work_dir,
                         on_progress=on_progress)
