"""What BigQuery keeps about datasets and tables that the engines cannot hold, and where each dataset and table lives.

The engines hold the data: a dataset is a database name on both engines (``bqlite_app.datasets``, which also creates
and drops them), a table is a table of one engine. This
module keeps the rest in the jobs' SQLite file, beside the grants: description, friendlyName, labels, location, the
declared BigQuery schema (modes, descriptions, JSON/GEOGRAPHY that the engines store as text), creation and
modification times. A dataset or table made outside this API (SQL, the schema registry) gets its row the first time
it is seen, so its times and etag stay stable.

The engines are the truth about existence: a row whose table was dropped by SQL is ignored (and replaced when the
name is created again); a table altered by SQL keeps its declared fields for the columns still there and takes the
engine's for new ones.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy import JSON, Column
from sqlalchemy import Engine as SqlEngine
from sqlmodel import Field, Session, SQLModel, select

from bqlite_app.bigquery import per_core
from bqlite_app.bigquery.errors import BigQueryError, invalid
from bqlite_app.bigquery.resources import DEFAULT_LOCATION
from bqlite_app.bigquery.schema_proto import message_to_fields
from bqlite_app.datasets import ANON_DATASET as ANON_DATASET  # re-exported for the routes
from bqlite_app.datasets import DATASET_NAME, MAX_NEW_NAME_CHARS, NEW_DATASET_NAME, engine_database
from bqlite_app.db import busy_is_unavailable
from bqlite_app.errors import ServiceUnavailable
from engines import _ddl_clickhouse, _ddl_duckdb
from engines.base import CatalogTable, Engine
from engines.errors import EngineQueryError, EngineUnavailable

if TYPE_CHECKING:
    from bqlite_app.core import Core
    from bqlite_app.schemas.registry import SchemaRegistry

# Tables we create follow the rule for new datasets (``bqlite_app.datasets``: a letter or underscore first, at most
# 100 characters, for ClickHouse's file names).
MAX_ID_CHARS = MAX_NEW_NAME_CHARS
_CREATE_TABLE = re.compile(rf"[A-Za-z_][A-Za-z0-9_]{{0,{MAX_ID_CHARS - 1}}}")
# Tables we look up: also what SQL or a load may have created (a digit first, a dash), up to BigQuery's 1024.
_LOOKUP_TABLE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,1023}")
_LOCATION = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")


def now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------------------------------- names

_NEW_ID_RULE = f"letters, digits and underscores, not starting with a digit, at most {MAX_ID_CHARS} characters"


def check_dataset_id(dataset: str, *, creating: bool = False) -> str:
    """A dataset id from a URL or body, refused (400 ``invalid``) before it can reach SQL."""
    if creating:
        return _checked_id(dataset, NEW_DATASET_NAME, _NEW_ID_RULE, "Dataset", "datasetId")
    return _checked_id(dataset, DATASET_NAME, "letters, digits and underscores, not starting with a digit", "Dataset",
                       "datasetId")


def check_table_id(table: str, *, creating: bool = False) -> str:
    if creating:
        return _checked_id(table, _CREATE_TABLE, _NEW_ID_RULE, "Table", "tableId")
    return _checked_id(table, _LOOKUP_TABLE, "letters, digits, underscores and dashes", "Table", "tableId")


def _checked_id(value: str, pattern: re.Pattern[str], rule: str, kind: str, location: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise invalid(f"Invalid {kind.lower()} ID {_shown(value)}. {kind} IDs must be {rule}.", location=location)
    return value


def check_location(location: Any) -> str:
    if location is None or location == "":
        return DEFAULT_LOCATION
    if not isinstance(location, str) or not _LOCATION.fullmatch(location):
        raise invalid(f"Invalid location {_shown(location)}", location="location")
    return location


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def quote(engine: str, name: str) -> str:
    return (_ddl_clickhouse if engine == "clickhouse" else _ddl_duckdb).quote(name)


def qualified(engine: str, dataset: str, table: str) -> str:
    return f"{quote(engine, engine_database(engine, dataset))}.{quote(engine, table)}"


# ---------------------------------------------------------------------------------------------------- records

class BigQueryDataset(SQLModel, table=True):
    __tablename__ = "bigquery_datasets"

    dataset_id: str = Field(primary_key=True)
    description: str | None = None
    friendly_name: str | None = None
    labels: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    location: str = DEFAULT_LOCATION
    # Settings BigQuery keeps that change nothing here (defaultTableExpirationMs...): echoed as given.
    extra: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_ms: int = Field(default_factory=now_ms)
    modified_ms: int = Field(default_factory=now_ms)


class BigQueryTable(SQLModel, table=True):
    __tablename__ = "bigquery_tables"

    dataset_id: str = Field(primary_key=True)
    table_id: str = Field(primary_key=True)
    engine: str
    # The declared schema, normalized (schema.normalize_fields); empty: read the engine's.
    fields: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    description: str | None = None
    friendly_name: str | None = None
    labels: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    expiration_ms: str | None = None
    extra: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_ms: int = Field(default_factory=now_ms)
    modified_ms: int = Field(default_factory=now_ms)


_TABLES = [BigQueryDataset.__table__, BigQueryTable.__table__]  # type: ignore[attr-defined]


class BigQueryCatalog:
    """Metadata rows, one short session per call (thread-safe: SQLAlchemy pools the connections)."""

    def __init__(self, db: SqlEngine) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._proto_fields: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
        SQLModel.metadata.create_all(db, tables=_TABLES)

    # -- datasets ----------------------------------------------------------------------------------------------

    def dataset(self, dataset_id: str, *, adopt: bool = True) -> BigQueryDataset | None:
        """The dataset's row; ``adopt`` makes one for a dataset seen for the first time (the caller checked that
        it exists), so its creation time and etag stay put."""
        with Session(self._db) as session:
            row = session.get(BigQueryDataset, dataset_id)
        if row is None and adopt:
            row = BigQueryDataset(dataset_id=dataset_id)
            with contextlib.suppress(Exception):  # a concurrent adopter won; read theirs
                self.put_dataset(row, insert=True)
            with Session(self._db) as session:
                row = session.get(BigQueryDataset, dataset_id) or row
        return row

    def datasets(self) -> dict[str, BigQueryDataset]:
        with Session(self._db) as session:
            return {row.dataset_id: row for row in session.exec(select(BigQueryDataset)).all()}

    def put_dataset(self, row: BigQueryDataset, *, insert: bool = False) -> BigQueryDataset:
        with busy_is_unavailable("BigQuery catalog"), Session(self._db) as session:
            if insert:
                session.add(row)
            else:
                row = session.merge(row)
            session.commit()
            session.refresh(row)
            return row

    def forget_dataset(self, dataset_id: str) -> None:
        """Drop the dataset's row and every row of its tables."""
        with busy_is_unavailable("BigQuery catalog"), Session(self._db) as session:
            for table in session.exec(select(BigQueryTable).where(BigQueryTable.dataset_id == dataset_id)).all():
                session.delete(table)
            row = session.get(BigQueryDataset, dataset_id)
            if row is not None:
                session.delete(row)
            session.commit()

    # -- tables ------------------------------------------------------------------------------------------------

    def table(self, dataset_id: str, table_id: str) -> BigQueryTable | None:
        with Session(self._db) as session:
            return session.get(BigQueryTable, (dataset_id, table_id))

    def tables(self, dataset_id: str) -> dict[str, BigQueryTable]:
        with Session(self._db) as session:
            rows = session.exec(select(BigQueryTable).where(BigQueryTable.dataset_id == dataset_id)).all()
        return {row.table_id: row for row in rows}

    def put_table(self, row: BigQueryTable) -> BigQueryTable:
        with busy_is_unavailable("BigQuery catalog"), Session(self._db) as session:
            row = session.merge(row)
            session.commit()
            session.refresh(row)
            return row

    def forget_table(self, dataset_id: str, table_id: str) -> None:
        with busy_is_unavailable("BigQuery catalog"), Session(self._db) as session:
            row = session.get(BigQueryTable, (dataset_id, table_id))
            if row is not None:
                session.delete(row)
                session.commit()

    # -- tables made from a .proto ----------------------------------------------------------------------------

    def proto_fields(self, schemas: SchemaRegistry, schema_id: str, max_depth: int) -> list[dict[str, Any]]:
        """The BigQuery schema of a registered schema's latest version, as protoc-gen-bq-schema writes it;
        converted once per version."""
        version, message = schemas.message(schema_id)
        key = (schema_id, version, max_depth)
        with self._lock:
            cached = self._proto_fields.get(key)
        if cached is None:
            cached = message_to_fields(message, max_depth=max_depth)
            with self._lock:
                self._proto_fields[key] = cached
        return cached


def catalog_for(core: Core) -> BigQueryCatalog:
    """The core's catalog (one per core, over the jobs' SQLite database)."""
    return per_core.store(core, BigQueryCatalog)


# ---------------------------------------------------------------------------------------------------- engines

@contextlib.contextmanager
def engine_errors() -> Iterator[None]:
    """An engine that cannot take the work now is a 503 (the client retries); a statement it refuses is the
    caller's data or request (a 400: retrying would not help)."""
    try:
        yield
    except EngineUnavailable as exc:
        raise ServiceUnavailable(f"{exc}; try again shortly") from exc
    except EngineQueryError as exc:
        raise BigQueryError(400, "invalid", exc.message) from exc


def run_select(engine: Engine, sql: str) -> pa.Table:
    """Run SQL this module wrote (every name validated and quoted) and collect its result."""
    with engine_errors():
        batches = list(engine.execute(sql, query_tag=f"bq-meta-{uuid.uuid4().hex[:16]}"))
    if not batches:
        return pa.table({})
    return pa.Table.from_batches(batches, schema=batches[0].schema)


def run_statement(engine: Engine, sql: str) -> None:
    with engine_errors():
        for _ in engine.execute(sql, query_tag=f"bq-ddl-{uuid.uuid4().hex[:16]}"):
            pass


def dataset_tables(core: Core, dataset: str) -> dict[str, tuple[str, CatalogTable]]:
    """Every table and view of ``dataset`` by name -> (engine, table). A name on both engines is the one of
    ``BQLITE_BIGQUERY_ENGINE`` (the engine this face creates tables on)."""
    found: dict[str, tuple[str, CatalogTable]] = {}
    for name in engine_order(core):
        database = engine_database(name, dataset)
        with engine_errors():
            entries = core.engines[name].catalog()
        for entry in entries:
            if entry.database == database:
                found.setdefault(entry.name, (name, entry))
    return found


def engine_order(core: Core) -> list[str]:
    """``BQLITE_BIGQUERY_ENGINE`` first, then the others."""
    first = core.settings.bigquery_engine
    return [first, *[name for name in core.engines if name != first]] if first in core.engines else list(core.engines)


def locate_table(core: Core, dataset: str, table: str, preferred: str | None = None) -> str | None:
    """The engine holding ``dataset.table``: the one its catalog row names when it still has it, else the first in
    ``engine_order`` that does."""
    order = engine_order(core)
    if preferred in core.engines:
        order = [preferred, *[name for name in order if name != preferred]]
    for name in order:
        with engine_errors():
            if core.engines[name].table_exists(engine_database(name, dataset), table):
                return name
            if (engine_database(name, dataset), table) in core.engines[name].views():
                return name
    return None


def table_engines(core: Core, dataset: str, table: str) -> list[str]:
    """Every engine holding a table (or view) named ``dataset.table``."""
    held = []
    for name, engine in core.engines.items():
        database = engine_database(name, dataset)
        with engine_errors():
            if engine.table_exists(database, table) or (database, table) in engine.views():
                held.append(name)
    return held


def is_view(core: Core, engine: str, dataset: str, table: str) -> str | None:
    """The view's defining SQL when ``dataset.table`` is a view on ``engine``."""
    with engine_errors():
        return core.engines[engine].views().get((engine_database(engine, dataset), table))


def clickhouse_table_info(core: Core, dataset: str, table: str) -> tuple[str, int | None, int | None]:
    """ClickHouse's table engine (``MergeTree``, ``Memory``...; '' when unknown), total rows and bytes (None where
    the table engine does not count them)."""
    database = literal(engine_database("clickhouse", dataset))
    sql = (f"SELECT engine, total_rows, total_bytes FROM system.tables "
           f"WHERE database = {database} AND name = {literal(table)}")
    result = run_select(core.engines["clickhouse"], sql).to_pylist()
    if not result:
        return "", None, None
    row = result[0]
    return str(row["engine"]), row["total_rows"], row["total_bytes"]


def literal(text: str) -> str:
    """A ClickHouse string literal for a name that passed ``check_*_id`` (letters, digits, underscores, dashes)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
