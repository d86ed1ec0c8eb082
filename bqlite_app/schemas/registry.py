"""The schema registry: versions of registered messages, their diff, and what the UI and API show of them.

Every version keeps its .proto sources and its descriptor set, so any version can be rebuilt exactly. A compatible
change becomes a new version and migrates existing tables (new nullable columns); a breaking one is refused.

The registry is the one door callers use: it checks access and writes the audit log, then hands table work to
``tables`` and ingestion to ``ingest_service``, which share its store (``_store``) and never import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from google.protobuf.descriptor import Descriptor
from sqlmodel import Session, col, select

from bqlite_app.access.audit import AuditLog
from bqlite_app.access.grants import Grants
from bqlite_app.access.principal import DatasetRole, Principal
from bqlite_app.db import Database, iso_utc, utcnow
from bqlite_app.errors import SchemaIncompatible, SchemaNotFound
from bqlite_app.schemas._access import SchemaAccess
from bqlite_app.schemas._load import engine_errors
from bqlite_app.schemas._store import SchemaStore
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
from bqlite_app.schemas.compiler import CompiledSchema, ProtoFile, compile_schema, fingerprint
from bqlite_app.schemas.ingest import IngestFormat, IngestResult, ProgressCallback
from bqlite_app.schemas.ingest_service import ingest_into_tables
from bqlite_app.schemas.models import (
    SchemaDetailPublic,
    SchemaFieldPublic,
    SchemaPublic,
    SchemaRecord,
    SchemaTablePublic,
    SchemaVersion,
    SchemaVersionPublic,
    TableCreatedPublic,
)
from bqlite_app.schemas.tables import SchemaTables
from bqlite_app.schemas.translate import columns_for, field_tree, top_level_field_count
from bqlite_app.schemas.uploads import check_dataset, check_identifier
from engines.base import Engine
from engines.errors import EngineError
from engines.types import Column

DEFAULT_DATABASE = "bigquery_lite"
__all__ = ["DEFAULT_DATABASE", "Registration", "SchemaDiff", "SchemaRegistry"]


class SchemaRegistry:
    def __init__(self, db: Database, engines: dict[str, Engine], *, max_depth: int, work_dir: Path,
                 grants: Grants | None = None, audit: AuditLog | None = None) -> None:
        """``work_dir`` holds the .proto files ClickHouse's native Protobuf reader needs. With ``grants`` every call
        is checked against the caller's role on the schema's dataset; ``audit`` records what changes."""
        self._access = SchemaAccess(grants, audit)
        self._store = SchemaStore(db, engines, max_depth=max_depth)
        self._tables = SchemaTables(self._store)
        self._db = self._store.db           # tests open sessions on it directly
        self._engines = engines
        self._max_depth = max_depth
        self._work_dir = work_dir

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
        with self._store.lock, self._store.session(expire_on_commit=False) as session, engine_errors():
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
            notes = self._tables.migrate(session, record, self._columns_of(latest), columns, latest.version + 1)
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
        with self._store.session() as session:
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
        with self._store.session() as session:
            record = session.exec(select(SchemaRecord).where(SchemaRecord.database_name == database,
                                                             SchemaRecord.table_name == table)).first()
        return record.schema_id if record is not None else None

    def ids_in(self, database: str) -> list[str]:
        """The schemas registered into ``database`` (a dataset holding them cannot simply be dropped)."""
        with self._store.session() as session:
            return list(session.exec(select(SchemaRecord.schema_id)
                                     .where(SchemaRecord.database_name == database)).all())

    def message(self, schema_id: str) -> tuple[int, Descriptor]:
        """The latest version's number and its message descriptor (compiled once per version)."""
        with self._store.session() as session:
            version = self._latest(session, schema_id)
        return version.version, self._compile(version).descriptor(version.message_type)

    def _dataset_in_use(self, dataset: str) -> bool:
        with self._store.session() as session:
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
        with self._store.session() as session:
            record = session.get(SchemaRecord, schema_id)
        if record is None:
            raise SchemaNotFound(f"Schema {schema_id!r} not found")
        return record

    def summaries(self, *, user: Principal) -> list[SchemaPublic]:
        """Every schema in a dataset ``user`` can read."""
        readable = self._access.readable(user)
        with self._store.session() as session:
            records = session.exec(select(SchemaRecord).order_by(col(SchemaRecord.created_at).desc())).all()
            return [self._summary(session, record) for record in records
                    if readable is None or record.database_name in readable]

    def detail(self, schema_id: str, *, user: Principal) -> SchemaDetailPublic:
        """The schema in full: its summary, the latest version's fields and DDL, and every version."""
        self.get(schema_id, user=user)
        with self._store.session() as session:
            record = session.get(SchemaRecord, schema_id)
            if record is None:
                raise SchemaNotFound(f"Schema {schema_id!r} not found")
            versions = session.exec(select(SchemaVersion).where(SchemaVersion.schema_id == schema_id)
                                    .order_by(col(SchemaVersion.version))).all()
            latest = versions[-1]
            descriptor = self._compile(latest).descriptor(latest.message_type)
            columns = columns_for(descriptor, max_depth=self._max_depth)
            return SchemaDetailPublic(
                **dict(self._summary(session, record)),    # dict() is shallow: the summary's models pass as they are
                message_type=record.message_type,
                fields=[SchemaFieldPublic.model_validate(node)
                        for node in field_tree(descriptor, max_depth=self._max_depth)],
                ddl=self._tables.ddl(record, columns),
                versions=[SchemaVersionPublic(version=v.version, fingerprint=v.fingerprint,
                                              created_at=iso_utc(v.created_at), changes=list(v.changes))
                          for v in versions],
                proto_source=latest.proto_source,
            )

    def columns(self, schema_id: str) -> list[Column]:
        with self._store.session() as session:
            latest = self._latest(session, schema_id)
        return self._columns_of(latest)

    # -- tables --------------------------------------------------------------------------------------------------

    def create_tables(self, schema_id: str, engines: Sequence[str], *, user: Principal, if_not_exists: bool = True,
                      replace: bool = False) -> dict[str, TableCreatedPublic]:
        """Needs ``writer``; see ``SchemaTables.create``. An unknown engine fails before the access check."""
        self._tables.check_engines(engines)
        record = self.get(schema_id, user=user, role="writer", action="table.create")
        results = self._tables.create(record, engines, self.columns(schema_id), if_not_exists=if_not_exists,
                                      replace=replace)
        created = [name for name, result in results.items() if result.created]
        if created:
            self._access.record(user, "table.create", f"{record.database_name}.{record.table_name}",
                                {"engines": created, "schema_id": schema_id})
        return results

    # -- ingest --------------------------------------------------------------------------------------------------

    def ingest(self, schema_id: str, body: Path, fmt: IngestFormat, engines: Sequence[str] | None = None,
               on_progress: ProgressCallback | None = None, *, user: Principal) -> IngestResult:
        """Needs ``writer``; see ``ingest_service.ingest_into_tables``."""
        record = self.get(schema_id, user=user, role="writer", action="ingest")
        result = ingest_into_tables(self._store, record, body, fmt, engines, work_dir=self._work_dir,
                                    on_progress=on_progress)
        self._access.record(user, "ingest", schema_id, {"rows": result.rows, "engines": sorted(result.engines)})
        return result

    # -- delete --------------------------------------------------------------------------------------------------

    def delete(self, schema_id: str, *, user: Principal, drop_tables: bool = False) -> str:
        self.get(schema_id, user=user, role="owner", action="schema.delete")
        with self._store.lock, self._store.session() as session, engine_errors():
            record = session.get(SchemaRecord, schema_id)
            if record is None:
                raise SchemaNotFound(f"Schema {schema_id!r} not found")
            tables = self._store.tables(session, schema_id)
            dropped, kept = self._tables.drop_owned(session, record, tables) if drop_tables else ([], [])
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

    def _summary(self, session: Session, record: SchemaRecord) -> SchemaPublic:
        tables = self._store.tables(session, record.schema_id)
        latest = self._latest(session, record.schema_id)
        field_count = top_level_field_count(self._compile(latest).descriptor(latest.message_type))
        return SchemaPublic(
            schema_id=record.schema_id, table_name=record.table_name, database_name=record.database_name,
            description=record.description, field_count=field_count, version=record.version,
            shard_key=record.shard_key, created_at=iso_utc(record.created_at), updated_at=iso_utc(record.updated_at),
            tables=[SchemaTablePublic(engine=t.engine, table=t.table) for t in sorted(tables, key=lambda t: t.engine)],
        )

    def _latest(self, session: Session, schema_id: str) -> SchemaVersion:
        return self._store.latest(session, schema_id)

    def _columns_of(self, version: SchemaVersion) -> list[Column]:
        return self._store.columns_of(version)

    def _compile(self, version: SchemaVersion) -> CompiledSchema:
        return self._store.compiled(version)
