"""What the registry, its tables and its ingest share: the SQLite store, the engines and the compiled versions.

One object, handed to each part, so they read the same rows under the same lock and compile a version only once.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from sqlmodel import Session, SQLModel, col, select

from bqlite_app.db import Database, busy_is_unavailable
from bqlite_app.errors import EngineNotAvailable, SchemaNotFound
from bqlite_app.schemas import _ownership as ownership
from bqlite_app.schemas._migrate import add_missing_columns
from bqlite_app.schemas.compiler import CompiledSchema, load_compiled
from bqlite_app.schemas.models import EngineTable, SchemaRecord, SchemaVersion
from bqlite_app.schemas.translate import columns_for
from engines.base import Engine
from engines.types import Column


class SchemaStore:
    def __init__(self, db: Database, engines: dict[str, Engine], *, max_depth: int) -> None:
        self.db = db.engine
        SQLModel.metadata.create_all(self.db, tables=[
            SchemaRecord.__table__, SchemaVersion.__table__, EngineTable.__table__,  # type: ignore[attr-defined]
        ])
        add_missing_columns(self.db)
        ownership.migrate(self.db)
        self.engines = engines
        self.max_depth = max_depth
        # Registration, table creation and deletion change several rows and tables together: one at a time.
        self.lock = threading.Lock()
        self._compiled: dict[tuple[str, int], CompiledSchema] = {}

    @contextlib.contextmanager
    def session(self, **options: Any) -> Iterator[Session]:
        """A session whose "database is locked" is a 503 the client may retry, not a 500."""
        with busy_is_unavailable("schema registry"), Session(self.db, **options) as session:
            yield session

    def latest(self, session: Session, schema_id: str) -> SchemaVersion:
        version = session.exec(select(SchemaVersion).where(SchemaVersion.schema_id == schema_id)
                               .order_by(col(SchemaVersion.version).desc())).first()
        if version is None:
            raise SchemaNotFound(f"Schema {schema_id!r} not found")
        return version

    def tables(self, session: Session, schema_id: str) -> list[EngineTable]:
        """The engine tables recorded for the schema, created by the registry or not."""
        return list(session.exec(select(EngineTable).where(EngineTable.schema_id == schema_id)).all())

    def compiled(self, version: SchemaVersion) -> CompiledSchema:
        """A version's compiled descriptors; versions never change, so each is compiled once."""
        key = (version.schema_id, version.version)
        if key not in self._compiled:
            self._compiled[key] = load_compiled(version.descriptor_set, version.main_file, version.sources)
        return self._compiled[key]

    def columns_of(self, version: SchemaVersion) -> list[Column]:
        return columns_for(self.compiled(version).descriptor(version.message_type), max_depth=self.max_depth)

    def engine(self, name: str) -> Engine:
        if name not in self.engines:
            raise EngineNotAvailable(f"Unknown engine {name!r}; available: {', '.join(sorted(self.engines))}")
        return self.engines[name]
