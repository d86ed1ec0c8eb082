"""The schema registry: versions of registered messages, their tables in each engine, and ingestion into them.

Every version keeps its .proto sources and its descriptor set, so any version can be rebuilt exactly. A compatible
change becomes a new version and migrates existing tables (new nullable columns); a breaking one is refused.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import Descriptor
from sqlalchemy import event
from sqlmodel import Session, SQLModel, col, create_engine, select

from bqlite_app.access.audit import AuditLog
from bqlite_app.access.grants import Grants
from bqlite_app.access.principal import DatasetRole, Principal
from bqlite_app.errors import (
    DatasetReserved,
    EngineNotAvailable,
    SchemaIncompatible,
    SchemaNotFound,
    TableNotFound,
)
from bqlite_app.jobs.models import iso_utc, utcnow
from bqlite_app.schemas import _ownership as ownership
from bqlite_app.schemas._access import SchemaAccess
from bqlite_app.schemas._load import engine_errors, load_body
from bqlite_app.schemas._migrate import add_missing_columns
from bqlite_app.schemas._versions import (
    Registration,
    SchemaDiff,
    check_shard_key,
    choose_message,
    column_changes,
    unchanged,
    version_row,
)
from bqlite_app.schemas.compat import compare
from bqlite_app.schemas.compiler import CompiledSchema, ProtoFile, compile_schema, fingerprint, load_compiled
from bqlite_app.schemas.ingest import IngestFormat, IngestResult, ProgressCallback
from bqlite_app.schemas.models import EngineTable, SchemaRecord, SchemaVersion
from bqlite_app.schemas.translate import columns_for, field_tree, top_level_field_count
from bqlite_app.schemas.uploads import check_dataset, check_identifier
from bqlite_app.sqlite_db import BUSY_TIMEOUT_S, busy_is_unavailable, sqlite_pragmas
from engines.base import Engine
from engines.errors import EngineError
from engines.types import Column

DEFAULT_DATABASE = "bigquery_lite"
__all__ = ["DEFAULT_DATABASE", "Registration", "SchemaDiff", "SchemaRegistry"]


class SchemaRegistry:
    def __init__(self, db_path: Path, engines: dict[str, Engine], *, max_depth: int, work_dir: Path,
                 grants: Grants | None = None, audit: AuditLog | None = None) -> None:
        """``work_dir`` holds the .proto files ClickHouse's native Protobuf reader needs. With ``grants`` every call
        is checked against the caller's role on the schema's dataset; ``audit`` records what changes."""
        self._access = SchemaAccess(grants, audit)
        self._db = create_engine(f"sqlite:///{db_path}",
                                 connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S})
        event.listen(self._db, "connect", sqlite_pragmas)
        SQLModel.metadata.create_all(self._db, tables=[
            SchemaRecord.__table__, SchemaVersion.__table__, EngineTable.__table__,  # type: ignore[attr-defined]
        ])
        add_missing_columns(self._db)
        ownership.migrate(self._db)
        self._engines = engines
        self._max_depth = max_depth
        self._work_dir = work_dir
        # Registration, table creation and deletion change several rows and tables together: one at a time.
        self._lock = threading.Lock()
        self._compiled: dict[tuple[str, int], CompiledSchema] = {}

    @contextlib.contextmanager
    def _session(self, **options: Any) -> Iterator[Session]:
        """A session whose "database is locked" is a 503 the client may retry, not a 500."""
        with busy_is_unavailable("schema registry"), Session(self._db, **options) as session:
            yield session

    def close(self) -> None:
        self._db.dispose()

    # -- register ------------------------------------------------------------------------------------------------

    def register(
        self, main: ProtoFile, imports: Sequence[ProtoFile] = (), *, user: Principal, table_name: str,
        database_name: str = DEFAULT_DATABASE, description: str = "", message_type: str | None = None,
        shard_key: str | None = None,
    ) -> Registration:
        """Needs ``owner`` on the dataset, unless the registration creates it: then the caller becomes its owner.

        ``shard_key`` names a top-level scalar field; tables created afterwards in a ClickHouse cluster are sharded
        by it. Without one a re-registration keeps the schema's key, which the new version must still have.
        """
        check_identifier("table_name", table_name)
        check_dataset(database_name)
        creates = self._access.before_register(user, database_name, self._dataset_in_use)
        registration = self._register(main, imports, table_name=table_name, database_name=database_name,
                                      description=description, message_type=message_type, shard_key=shard_key)
        if creates:
            self._access.created(user, database_name)
        if registration.new_version:
            self._access.record(user, "schema.register", registration.record.schema_id, {
                "table": f"{database_name}.{table_name}", "version": registration.version.version})
        return registration

    def _register(self, main: ProtoFile, imports: Sequence[ProtoFile], *, table_name: str, database_name: str,
                  description: str, message_type: str | None, shard_key: str | None) -> Registration:
        compiled = compile_schema(main, imports)
        message = choose_message(compiled, message_type)
        descriptor = compiled.descriptor(message)
        columns = columns_for(descriptor, max_depth=self._max_depth)
        digest = fingerprint(compiled, message)
        field_count = top_level_field_count(descriptor)
        with self._lock, self._session(expire_on_commit=False) as session, engine_errors():
            record = session.exec(select(SchemaRecord).where(
                SchemaRecord.database_name == database_name, SchemaRecord.table_name == table_name)).first()
            key = check_shard_key(descriptor, shard_key or (record.shard_key if record else None))
            if record is None:
                record = SchemaRecord(database_name=database_name, table_name=table_name, message_type=message,
                                      description=description, shard_key=key)
                version = version_row(record, 1, compiled, message, digest, ["Initial version."])
                session.add(record)
                session.add(version)
                session.commit()
                return Registration(record, version, field_count, True)
            latest = self._latest(session, record.schema_id)
            if unchanged(latest, digest, message):
                if key != record.shard_key:         # same content, new key: for tables created from now on
                    record.shard_key = key
                    session.add(record)
                    session.commit()
                return Registration(record, latest, field_count, False)
            comparison = compare(self._compile(latest).descriptor(latest.message_type), compiled.descriptor(message))
            if comparison.breaking:
                raise SchemaIncompatible(
                    f"{len(comparison.breaking)} breaking change(s) against version {latest.version}: "
                    + " ".join(comparison.breaking))
            notes = self._migrate_tables(session, record, self._columns_of(latest), columns, latest.version + 1)
            version = version_row(record, latest.version + 1, compiled, message, digest,
                                   comparison.changes + notes or ["No field changes."])
            record.version, record.message_type, record.updated_at = version.version, message, utcnow()
            record.shard_key = key
            if description:
                record.description = description
            session.add(record)
            session.add(version)
            session.commit()
            return Registration(record, version, field_count, True)

    def _migrate_tables(self, session: Session, record: SchemaRecord, old: list[Column], new: list[Column],
                        version: int) -> list[str]:
        """Add the new top-level columns to every existing table. Nested changes need the table recreated."""
        added, changed = column_changes(old, new)
        notes = [f"Column {name!r} changed shape; recreate the tables (replace=true) to apply it." for name in changed]
        for table in session.exec(select(EngineTable).where(EngineTable.schema_id == record.schema_id)).all():
            if not ownership.is_owned(session, table.engine, record.database_name, record.table_name):
                notes.append(f"Left {table.engine} {table.table} unchanged: the registry did not create it.")
                continue
            if added:
                self._engine(table.engine).add_columns(record.database_name, record.table_name, added)
                notes.append(f"Added column(s) {', '.join(c.name for c in added)} to {table.engine} {table.table}.")
            table.version = version
            session.add(table)
        return notes

    def diff(self, schema_id: str, main: ProtoFile, imports: Sequence[ProtoFile] = (), *, user: Principal,
             message_type: str | None = None) -> SchemaDiff:
        """Compare new content with the latest version as ``register`` would, changing nothing.

        Without ``message_type`` the schema's current message is compared when the new file still defines it.
        """
        record = self.get(schema_id, user=user)
        compiled = compile_schema(main, imports)
        if message_type is None and record.message_type in compiled.message_names():
            message_type = record.message_type
        message = choose_message(compiled, message_type)
        with self._session() as session:
            latest = self._latest(session, schema_id)
        comparison = compare(self._compile(latest).descriptor(latest.message_type), compiled.descriptor(message))
        added, changed = column_changes(
            self._columns_of(latest), columns_for(compiled.descriptor(message), max_depth=self._max_depth))
        return SchemaDiff(
            current_version=latest.version, message_type=message,
            unchanged=unchanged(latest, fingerprint(compiled, message), message), comparison=comparison,
            columns_added=[c.name for c in added], columns_changed=changed,
        )

    # -- read ----------------------------------------------------------------------------------------------------

    def get(self, schema_id: str, *, user: Principal, role: DatasetRole = "reader",
            action: str = "schema.read") -> SchemaRecord:
        """The schema's record, when ``user`` holds ``role`` on its dataset (else ``AccessDenied``, recorded)."""
        record = self._get(schema_id)
        self._access.require(user, record.database_name, role, action)
        return record

    def find(self, database: str, table: str) -> str | None:
        """The id of the schema registered for ``database.table``, if a .proto made that table."""
        with self._session() as session:
            record = session.exec(select(SchemaRecord).where(SchemaRecord.database_name == database,
                                                             SchemaRecord.table_name == table)).first()
        return record.schema_id if record is not None else None

    def ids_in(self, database: str) -> list[str]:
        """The schemas registered into ``database`` (a dataset holding them cannot simply be dropped)."""
        with self._session() as session:
            return list(session.exec(select(SchemaRecord.schema_id)
                                     .where(SchemaRecord.database_name == database)).all())

    def message(self, schema_id: str) -> tuple[int, Descriptor]:
        """The latest version's number and its message descriptor (compiled once per version)."""
        with self._session() as session:
            version = self._latest(session, schema_id)
        return version.version, self._compile(version).descriptor(version.message_type)

    def _dataset_in_use(self, dataset: str) -> bool:
        with self._session() as session:
            if session.exec(select(SchemaRecord).where(SchemaRecord.database_name == dataset)).first():
                return True
        for engine in self._engines.values():
            try:
                if any(table.database == dataset for table in engine.catalog()):
                    return True
            except EngineError:
                return True     # cannot tell: treat it as taken, so only its owners may register into it
        return False

    def _get(self, schema_id: str) -> SchemaRecord:
        with self._session() as session:
            record = session.get(SchemaRecord, schema_id)
        if record is None:
            raise SchemaNotFound(f"Schema {schema_id!r} not found")
        return record

    def summaries(self, *, user: Principal) -> list[dict[str, Any]]:
        """Every schema in a dataset ``user`` can read."""
        readable = self._access.readable(user)
        with self._session() as session:
            records = session.exec(select(SchemaRecord).order_by(col(SchemaRecord.created_at).desc())).all()
            return [self._summary(session, record) for record in records
                    if readable is None or record.database_name in readable]

    def detail(self, schema_id: str, *, user: Principal) -> dict[str, Any]:
        self.get(schema_id, user=user)
        with self._session() as session:
            record = session.get(SchemaRecord, schema_id)
            if record is None:
                raise SchemaNotFound(f"Schema {schema_id!r} not found")
            versions = session.exec(select(SchemaVersion).where(SchemaVersion.schema_id == schema_id)
                                    .order_by(col(SchemaVersion.version))).all()
            latest = versions[-1]
            descriptor = self._compile(latest).descriptor(latest.message_type)
            columns = columns_for(descriptor, max_depth=self._max_depth)
            return {
                **self._summary(session, record),
                "message_type": record.message_type,
                "fields": field_tree(descriptor, max_depth=self._max_depth),
                "ddl": {name: engine.render_ddl(record.database_name, record.table_name, columns,
                                                shard_key=record.shard_key)
                        for name, engine in self._engines.items()},
                "versions": [{"version": v.version, "fingerprint": v.fingerprint, "created_at": iso_utc(v.created_at),
                              "changes": list(v.changes)} for v in versions],
                "proto_source": latest.proto_source,
            }

    def columns(self, schema_id: str) -> list[Column]:
        with self._session() as session:
            latest = self._latest(session, schema_id)
        return self._columns_of(latest)

    # -- tables --------------------------------------------------------------------------------------------------

    def create_tables(self, schema_id: str, engines: Sequence[str], *, user: Principal, if_not_exists: bool = True,
                      replace: bool = False) -> dict[str, dict[str, Any]]:
        """Create the schema's table in each engine. An existing table is used, or replaced with ``replace``, only
        when the registry created it; any other makes the whole request ``DatasetReserved`` before anything changes.
        """
        for name in engines:
            self._engine(name)
        record = self.get(schema_id, user=user, role="writer", action="table.create")
        columns = self.columns(schema_id)
        database, table = record.database_name, record.table_name
        qualified = f"{database}.{table}"
        results: dict[str, dict[str, Any]] = {}
        with self._lock, self._session() as session, engine_errors():
            existed = {name: self._engines[name].table_exists(database, table) for name in engines}
            foreign = [name for name in engines if existed[name] and not ownership.is_owned(session, name, database,
                                                                                            table)]
            if foreign:
                raise DatasetReserved(
                    f"Table {qualified} already exists in {', '.join(foreign)} and is not owned by this schema (the "
                    "schema registry did not create it), so it is neither used nor replaced. Drop or rename it with "
                    "SQL, or register the schema under another table_name or database_name.")
            for name in engines:
                engine = self._engines[name]
                ddl = engine.render_ddl(database, table, columns, if_not_exists=if_not_exists,
                                        shard_key=record.shard_key)
                result = {"created": False, "table": qualified, "ddl": ddl, "error": None}
                try:
                    if existed[name] and not replace and not if_not_exists:
                        raise EngineError(f"Table {qualified} already exists in {name}")
                    if replace or not existed[name]:
                        result.update(created=True, ddl=self._create_owned(session, record, name, columns,
                                                                           replace=existed[name]))
                    session.merge(EngineTable(schema_id=schema_id, engine=name, table=qualified,
                                              version=record.version))
                except EngineError as exc:
                    result["error"] = str(exc)
                results[name] = result
            session.commit()
        created = [name for name, result in results.items() if result["created"]]
        if created:
            self._access.record(user, "table.create", qualified, {"engines": created, "schema_id": schema_id})
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
            return self._engines[name].create_table(database, table, columns, if_not_exists=False, replace=replace,
                                                    shard_key=record.shard_key)
        except EngineError:
            if not replace:
                ownership.release(session, name, database, table)
                session.commit()
            raise

    # -- ingest --------------------------------------------------------------------------------------------------

    def ingest(self, schema_id: str, body: Path, fmt: IngestFormat, engines: Sequence[str] | None = None,
               on_progress: ProgressCallback | None = None, *, user: Principal) -> IngestResult:
        record = self.get(schema_id, user=user, role="writer", action="ingest")
        with self._session() as session:
            latest = self._latest(session, schema_id)
            tables = {t.engine: t for t in session.exec(
                select(EngineTable).where(EngineTable.schema_id == schema_id)).all()}
            owned = {name for name in tables
                     if ownership.is_owned(session, name, record.database_name, record.table_name)}
        names = list(engines) if engines else sorted(tables)
        with engine_errors():
            for name in names:
                engine = self._engine(name)
                if name not in tables or not engine.table_exists(record.database_name, record.table_name):
                    raise TableNotFound(
                        f"No {name} table for schema {schema_id} yet: create it with POST /schemas/{schema_id}"
                        "/tables/create")
                if name not in owned:
                    raise DatasetReserved(f"The {name} table {tables[name].table} is not owned by this schema (the "
                                          "schema registry did not create it); the registry does not write to it.")
        if not names:
            raise TableNotFound(f"Schema {schema_id} has no tables yet: create them with POST /schemas/{schema_id}"
                                "/tables/create")
        targets = {name: self._engines[name] for name in names}
        with engine_errors():
            result = load_body(self._compile(latest), latest.message_type, body, fmt, targets, record.database_name,
                               record.table_name, decoders=self._engines.values(),
                               max_depth=self._max_depth, work_dir=self._work_dir, on_progress=on_progress)
        self._access.record(user, "ingest", schema_id, {"rows": result.rows, "engines": sorted(result.engines)})
        return result

    # -- delete --------------------------------------------------------------------------------------------------

    def delete(self, schema_id: str, *, user: Principal, drop_tables: bool = False) -> str:
        self.get(schema_id, user=user, role="owner", action="schema.delete")
        with self._lock, self._session() as session, engine_errors():
            record = session.get(SchemaRecord, schema_id)
            if record is None:
                raise SchemaNotFound(f"Schema {schema_id!r} not found")
            tables = session.exec(select(EngineTable).where(EngineTable.schema_id == schema_id)).all()
            dropped, kept = [], []
            for table in tables if drop_tables else []:
                # Only tables the registry created: a schema pointed at someone else's table must not drop it.
                if not ownership.is_owned(session, table.engine, record.database_name, record.table_name):
                    kept.append(f"{table.engine}:{table.table}")
                    continue
                self._engine(table.engine).drop_table(record.database_name, record.table_name)
                ownership.release(session, table.engine, record.database_name, record.table_name)
                dropped.append(f"{table.engine}:{table.table}")
            for row in [*tables, *session.exec(select(SchemaVersion).where(SchemaVersion.schema_id == schema_id))]:
                session.delete(row)
            session.delete(record)
            session.commit()
        suffix = f"; dropped {', '.join(dropped)}" if dropped else ""
        if kept:
            suffix += f"; kept {', '.join(kept)} (not created by the schema registry)"
        self._access.record(user, "schema.delete", schema_id, {"dropped": dropped})
        return f"Schema {schema_id} ({record.database_name}.{record.table_name}) deleted{suffix}"

    # -- internals -----------------------------------------------------------------------------------------------

    def _summary(self, session: Session, record: SchemaRecord) -> dict[str, Any]:
        tables = session.exec(select(EngineTable).where(EngineTable.schema_id == record.schema_id)).all()
        latest = self._latest(session, record.schema_id)
        field_count = top_level_field_count(self._compile(latest).descriptor(latest.message_type))
        return {
            "schema_id": record.schema_id, "table_name": record.table_name, "database_name": record.database_name,
            "description": record.description, "field_count": field_count, "version": record.version,
            "shard_key": record.shard_key,
            "created_at": iso_utc(record.created_at), "updated_at": iso_utc(record.updated_at),
            "tables": [{"engine": t.engine, "table": t.table} for t in sorted(tables, key=lambda t: t.engine)],
        }

    def _latest(self, session: Session, schema_id: str) -> SchemaVersion:
        version = session.exec(select(SchemaVersion).where(SchemaVersion.schema_id == schema_id)
                               .order_by(col(SchemaVersion.version).desc())).first()
        if version is None:
            raise SchemaNotFound(f"Schema {schema_id!r} not found")
        return version

    def _columns_of(self, version: SchemaVersion) -> list[Column]:
        return columns_for(self._compile(version).descriptor(version.message_type), max_depth=self._max_depth)

    def _compile(self, version: SchemaVersion) -> CompiledSchema:
        key = (version.schema_id, version.version)
        if key not in self._compiled:
            self._compiled[key] = load_compiled(version.descriptor_set, version.main_file, version.sources)
        return self._compiled[key]

    def _engine(self, name: str) -> Engine:
        if name not in self._engines:
            raise EngineNotAvailable(f"Unknown engine {name!r}; available: {', '.join(sorted(self._engines))}")
        return self._engines[name]
