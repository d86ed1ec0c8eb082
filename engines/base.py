"""The engine contract.

An engine runs SQL and hands back Arrow. Everything optional is declared with ``supports_*`` flags, cancel is a
status rather than an error (``QueryCancelled``), and driver errors are translated once at the adapter edge into
``engines.errors``. Engines import nothing from ``bqlite_app``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from engines.execution_graph import ExecutionGraph
from engines.protobuf_read import ProtobufRead
from engines.types import Column


@dataclass(frozen=True)
class EngineInfo:
    name: str            # "duckdb" | "clickhouse"
    mode: str            # "embedded" | "server"
    version: str         # the engine's own version; "unknown" while a server has not been reached
    address: str | None = None   # host:port in server mode

    @property
    def label(self) -> str:
        """How the UI and the CLI name the engine: "ClickHouse (server db1:8123)", "DuckDB (embedded)"."""
        title = {"duckdb": "DuckDB", "clickhouse": "ClickHouse"}.get(self.name, self.name)
        where = f"server {self.address}" if self.mode == "server" and self.address else self.mode
        return f"{title} ({where})"


@dataclass(frozen=True)
class QueryEstimate:
    """What a dry run learns without running the query."""

    valid: bool
    estimated_bytes_processed: int = 0
    referenced_tables: list[str] = field(default_factory=list)
    error: str | None = None
    position: int | None = None


@dataclass(frozen=True)
class Statement:
    """What the engine's own parser says about one statement, for the sandbox policy to judge. Runs nothing.

    ``kind`` is the parser's statement class ("SELECT", "COPY", "SYSTEM", ...). ``words`` are its leading keywords
    and names, upper-cased ("CREATE", "OR", "REPLACE", "SECRET"). ``functions`` are the lower-cased names of every
    function, table function and engine it calls. ``storage`` names the table or database engines it declares.
    ``tables`` are the tables it names, as written. ``clauses`` are extra clauses that reach outside the engine
    ("INTO OUTFILE", "FROM INFILE", "INTO FUNCTION"). ``settings`` are its ``SETTINGS name = value`` pairs.
    ``reads_only`` is False for statements that change data, tables or databases.

    For access checks: ``read_tables`` are the tables (and views) it reads, qualified as written (``db.table`` or
    ``table``; CTE names left out). ``operation`` is what it does to ``targets`` ("insert", "create", "update",
    "delete", "drop", "alter", "truncate", "rename", "create_database", "drop_database"; "" when it reads only),
    and ``targets`` are the tables it writes as written, or the database for the ``*_database`` operations.
    """

    kind: str
    text: str
    words: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    storage: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    clauses: tuple[str, ...] = ()
    settings: tuple[tuple[str, str], ...] = ()
    reads_only: bool = True
    read_tables: tuple[str, ...] = ()
    operation: str = ""
    targets: tuple[str, ...] = ()


@dataclass
class QueryStats:
    """Filled in by the engine while a result streams; read after the stream ends."""

    bytes_processed: int = 0
    rows_read: int = 0
    # The run's execution graph, when the engine read its profile as the run ended (DuckDB). Left None for
    # statements that read no table: their profile is not worth its cost.
    graph: ExecutionGraph | None = None
    # Where the engine keeps the run's profile for ``Engine.execution_graph`` to read later (ClickHouse's logs,
    # written in the background after the query); opaque to the caller, who stores it with the job.
    profile_ref: str | None = None


@dataclass(frozen=True)
class CatalogColumn:
    name: str
    type: str


@dataclass(frozen=True)
class CatalogTable:
    database: str        # "main" for DuckDB's default schema, "default" for ClickHouse's default database
    name: str
    columns: list[CatalogColumn]
    row_count: int | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.database}.{self.name}"


@dataclass(frozen=True)
class QueryLimits:
    """Per-query resource limits, enforced inside the engine."""

    timeout_s: float | None = None
    memory_limit: str | None = None     # e.g. "4GB"


class BulkInsert(Protocol):
    """An all-or-nothing insert of many batches: nothing is visible until ``commit``; ``abort`` leaves no trace."""

    def write(self, batch: pa.RecordBatch) -> None: ...

    def write_stream(self, batches: pa.RecordBatchReader) -> None:
        """``write`` every batch of ``batches``; an engine may take them in one statement. An error raised by the
        reader's source fails the insert (the caller re-raises its own error)."""

    def commit(self) -> int:
        """Make every written row visible at once; returns the row count."""

    def abort(self) -> None: ...


@runtime_checkable
class Engine(Protocol):
    name: str
    # How many queries this engine may run at once; the scheduler never exceeds it.
    capacity: int
    # Optional features, read by the callers that branch on them. Cancel and progress are not optional: every
    # engine stops its queries in the engine and answers ``progress`` (None when it cannot tell).
    # read_protobuf works: the engine decodes protobuf bodies from local files itself (embedded ClickHouse).
    supports_native_protobuf: bool

    def start(self) -> None:
        """Open connections; called once in the app's lifespan, never at import time."""

    def close(self) -> None: ...

    def info(self) -> EngineInfo: ...

    def quote(self, identifier: str) -> str:
        """``identifier`` (a database, table or column name) quoted for this engine's SQL, whatever it contains.
        Needs no connection: engines declare it as a static method, so ``DuckDBEngine.quote`` works unbound."""

    def health(self) -> bool:
        """True when a trivial query answers."""

    def execute(
        self, sql: str, *, query_tag: str, limits: QueryLimits | None = None, stats: QueryStats | None = None,
        batch_rows: int = 65536, parameters: Mapping[str, Any] | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Run ``sql`` and stream its result as record batches, in bounded memory.

        ``parameters`` are bound by the engine's own mechanism, never pasted into the text: DuckDB's ``$name``
        placeholders, ClickHouse's server-side ``{name:Type}``. Values are Python values (int, float, Decimal, bool,
        str, bytes, date, datetime, time, list, dict for a struct); names the statement does not use are ignored.

        The first item yielded is the (possibly empty) schema-carrying batch, so a zero-row result still has columns.
        ``query_tag`` identifies the running query for ``cancel`` and ``progress``. Raises ``EngineQueryError`` for
        SQL the engine rejects and ``QueryCancelled`` when ``cancel(query_tag)`` stopped it (a timeout is a cancel
        the caller initiated; the caller decides which message to report).
        """

    def cancel(self, query_tag: str) -> bool:
        """Stop the running query in the engine. Returns False when nothing with that tag runs."""

    def progress(self, query_tag: str) -> float | None:
        """0..1 for a running query when the engine can tell, else None."""

    def estimate(self, sql: str, *, parameters: Mapping[str, Any] | None = None) -> QueryEstimate:
        """Validate and estimate bytes read from the engine's plan and table/column sizes. Runs nothing.
        ``parameters`` as for ``execute`` (a parameterised statement cannot be planned without them)."""

    def explain(self, sql: str, *, parameters: Mapping[str, Any] | None = None) -> str:
        """The engine's plan as text."""

    def execution_graph(self, profile_ref: str) -> ExecutionGraph | None:
        """The execution graph of a finished run from the profile its ``QueryStats.profile_ref`` points at, read
        from the engine's logs (never by running the query again); None while the engine has not written it yet,
        or when it is gone."""

    def parse(self, sql: str) -> list[Statement]:
        """Each statement of ``sql`` as the engine's own parser sees it; runs and writes nothing.

        Raises ``EngineQueryError`` when the text does not parse (executing it would fail the same way).
        """

    def catalog(self) -> list[CatalogTable]:
        """User-visible tables with their columns (system schemas excluded)."""

    def table_exists(self, database: str, table: str) -> bool: ...

    def databases(self) -> list[str]:
        """Every user database (DuckDB schema), empty ones included; system ones left out."""

    def views(self) -> dict[tuple[str, str], str]:
        """Every user view's defining query, by (database, name); read on a bookkeeping connection, so it never
        waits for a query slot."""

    def render_ddl(
        self, database: str, table: str, columns: list[Column], *, if_not_exists: bool = True,
        shard_key: str | None = None, sort_by: Sequence[str] = (),
    ) -> str:
        """The CREATE TABLE statement(s) ``create_table`` would run for the neutral ``columns``, in this engine's
        dialect; several (a ClickHouse cluster's local and Distributed tables) are joined with ``;``."""

    def create_table(
        self, database: str, table: str, columns: list[Column], *, if_not_exists: bool = True, replace: bool = False,
        shard_key: str | None = None, sort_by: Sequence[str] = (),
    ) -> str:
        """Create the database/schema if needed, then the table. Returns the DDL that ran.

        ``shard_key`` names the column that places rows on a cluster's shards (else they go to a random shard);
        ``sort_by`` are the columns of a sort key (ClickHouse's ORDER BY). An engine without the notion ignores them.
        """

    def create_table_like(self, database: str, table: str, like: str) -> str:
        """Create an empty ``table`` with the columns (and sort and sharding keys) of ``like``. Returns the DDL."""

    def swap_in(self, database: str, stage: str, table: str, *, replace: bool) -> None:
        """Make the filled table ``stage`` the table ``table`` in one step for readers: with ``replace`` an existing
        ``table`` and its rows go (``stage`` is gone afterwards either way); without it ``table`` must not exist."""

    def insert_arrow(self, database: str, table: str, data: pa.Table) -> int:
        """Append rows atomically: all of ``data`` lands or none of it does. Returns rows inserted."""

    def drop_table(self, database: str, table: str) -> None: ...

    def add_columns(self, database: str, table: str, columns: list[Column]) -> str:
        """ALTER the table to add ``columns`` (a compatible schema change). Returns the DDL that ran."""

    def open_insert(self, database: str, table: str) -> BulkInsert:
        """Start an all-or-nothing insert of many batches into an existing table."""

    def read_protobuf(self, read: ProtobufRead, *, query_tag: str, batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:
        """Decode ``read.body`` with the engine's own Protobuf reader and stream the result, in body order.

        Only when ``supports_native_protobuf``; otherwise raises ``EngineQueryError``. Runs outside the query slots
        (the caller inserts the batches into engines, possibly this one, while the stream is open) and raises
        ``EngineUnavailable`` at once when no decode client is free; ``EngineQueryError`` when the engine rejects
        the body; ``QueryCancelled`` when ``cancel(query_tag)`` stopped it.
        """
