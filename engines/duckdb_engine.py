"""DuckDB adapter: one database file per process, ``capacity`` query connections, results streamed as Arrow.

Sandbox: the database runs with external access off (files only under ``allowed_directories``, no network), no
extension install or autoload, no Python replacement scans, and its configuration locked, so SQL that slipped past
the policy still cannot touch the machine or change a setting.

Limits: ``timeout_s`` is enforced here with a timer that interrupts the query's connection. DuckDB has no per-query
memory cap: the engine-wide ``memory_limit`` is the hard limit (exceeding it fails the query with a clear error),
and it is also each query connection's ``operator_memory_limit``, which bounds sorts and hash tables (they spill to
disk rather than fail). With the configuration locked, ``QueryLimits.memory_limit`` cannot vary per query.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from engines import _ddl_duckdb as ddl
from engines import _duckdb_parse
from engines._bulk import DuckDBBulkInsert
from engines._common import (
    EMPTY_BATCH,
    QueryRegistry,
    RunningQuery,
    check_stopped,
    hand_over,
    line_col_to_position,
    position_of_name,
    slice_batch,
)
from engines._duckdb_connections import QueryConnection
from engines._duckdb_plan import WidthModel, parsed_tables, referenced_tables, scan_bytes, walk_scans
from engines.base import (
    CatalogColumn,
    CatalogTable,
    EngineInfo,
    ProtobufRead,
    QueryEstimate,
    QueryLimits,
    QueryStats,
    Statement,
)
from engines.errors import EngineError, EngineQueryError, EngineUnavailable, QueryCancelled, QueryTimeout
from engines.types import Column

log = logging.getLogger(__name__)

_EXPLAIN = "EXPLAIN (FORMAT JSON) "
# What ``_fill_stats`` reads of a profile: scans (extra_info: table, projections, filters) and the rows they read.
_PROFILE_METRICS = ("['operator.extra_info', 'operator.rows_scanned', 'operator.intermediate_rows', "
                    "'query.total_rows_scanned']")
# How long a query waits for one of the engine's ``capacity`` connections (the scheduler never asks for more).
_LEASE_TIMEOUT_S = 60.0
# Errors raised while the Arrow reader pulls batches come back as Arrow/OS errors carrying DuckDB's message.
_STREAM_ERRORS = (duckdb.Error, pa.ArrowException, OSError)
_EXPLAINABLE = {"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE"}
# Errors without a LINE marker still name what they could not find; point at it.
_NAMED = [
    r"Table with name (\S+?) does not exist", r'Referenced column "(.+?)" not found', r"column \"(.+?)\"",
    r"Function with name (\S+?) does not exist", r"Schema with name (\S+?) does not exist",
]


class DuckDBEngine:
    name = "duckdb"
    supports_progress = True
    supports_cancel = True
    supports_native_protobuf = False

    def __init__(self, path: str | Path, *, capacity: int = 4, memory_limit: str | None = None,
                 threads: int | None = None, allowed_directories: Sequence[str | Path] = ()) -> None:
        self.path = Path(path)
        self.capacity = capacity
        self.memory_limit = memory_limit
        self.threads = threads
        self.allowed_directories = [str(Path(d).resolve()) for d in allowed_directories]
        self._con: duckdb.DuckDBPyConnection | None = None
        self._con_lock = threading.Lock()
        self._registry = QueryRegistry()
        self._widths = WidthModel()
        self._catalog = "main"
        self._workers: queue.Queue[QueryConnection] = queue.Queue()

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the database, then lock it down (see "Sandboxing the engines" in DESIGN.md).

        Order matters: once ``lock_configuration`` is on, no connection can change a setting, so the query
        connections get their per-connection settings first and live as long as the engine.
        """
        if self._con is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path))
        if self.memory_limit:
            con.execute(f"SET memory_limit = {_string(self.memory_limit)}")
        if self.threads:
            con.execute(f"SET threads = {int(self.threads)}")
        self._catalog = con.execute("SELECT current_database()").fetchone()[0]
        con.execute(f"SET allowed_directories = [{', '.join(_string(d) for d in self.allowed_directories)}]")
        # BigQuery's TIMESTAMP functions work in UTC; so do ours on any host, whatever its zone.
        con.execute("SET GLOBAL TimeZone = 'UTC'")
        con.execute("SET enable_external_access = false; SET autoinstall_known_extensions = false; "
                    "SET autoload_known_extensions = false; SET python_enable_replacements = false")
        for _ in range(self.capacity):
            self._workers.put(QueryConnection(self._configured_cursor(con)))
        con.execute("SET lock_configuration = true")
        self._con = con

    def _configured_cursor(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        cur = con.cursor()
        # Progress and profiling are per-connection settings; so is the operator memory limit, which bounds sorts
        # and hash tables (they spill to disk rather than fail). The profile is read only for the bytes a job
        # processed (``_fill_stats``), so it tracks only the metrics that needs: no timings, no optimizer or I/O
        # figures, which cost every query and were never read.
        cur.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false; "
                    "SET progress_bar_time = 0; SET enable_profiling = 'no_output'; SET profiling_coverage = 'ALL'; "
                    f"SET tracked_metrics = {_PROFILE_METRICS}")
        if self.memory_limit:
            cur.execute(f"SET operator_memory_limit = {_string(self.memory_limit)}")
        return cur

    def close(self) -> None:
        while True:
            try:
                self._workers.get_nowait().cursor.close()
            except queue.Empty:
                break
        con, self._con = self._con, None
        if con is not None:
            con.close()

    def info(self) -> EngineInfo:
        return EngineInfo(name=self.name, mode="embedded", version=duckdb.__version__)

    def health(self) -> bool:
        try:
            with self._cursor() as cur:
                return cur.execute("SELECT 1").fetchone() == (1,)
        except Exception:
            return False

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A fresh connection to the database for one piece of bookkeeping (catalog, DDL, dry runs)."""
        if self._con is None:
            raise EngineUnavailable("DuckDB engine is not started")
        with self._con_lock:
            return self._con.cursor()

    @contextlib.contextmanager
    def _lease(self) -> Iterator[QueryConnection]:
        """One of the engine's query connections for the length of one query."""
        if self._con is None:
            raise EngineUnavailable("DuckDB engine is not started")
        try:
            worker = self._workers.get(timeout=_LEASE_TIMEOUT_S)
        except queue.Empty:
            raise EngineUnavailable("All DuckDB connections are busy") from None
        try:
            yield worker
        finally:
            self._workers.put(worker)

    # -- queries ---------------------------------------------------------------------------------------------

    def execute(
        self, sql: str, *, query_tag: str, limits: QueryLimits | None = None, stats: QueryStats | None = None,
        batch_rows: int = 65536, parameters: Mapping[str, Any] | None = None,
    ) -> Iterator[pa.RecordBatch]:
        limits = limits or QueryLimits()
        with self._lease() as worker:
            yield from self._execute_on(worker, sql, query_tag, limits, stats, batch_rows, parameters)

    def _execute_on(self, worker: QueryConnection, sql: str, query_tag: str, limits: QueryLimits,
                    stats: QueryStats | None, batch_rows: int,
                    parameters: Mapping[str, Any] | None) -> Iterator[pa.RecordBatch]:
        cur = worker.cursor
        run = self._registry.add(query_tag, lambda: None, limits.timeout_s, handle=cur)
        run.stop = lambda: worker.interrupt(run)
        worker.current = run
        timer = self._registry.start_timer(run)
        clean = False
        try:
            try:
                statements, names = _statement_types(cur, sql)
                # A SELECT becomes a lazy relation that streams; any other statement runs here and holds its
                # small result (or none). Parameters are bound by DuckDB ($name), never pasted into the text.
                bound = _bound(parameters, names)
                relation = cur.sql(sql, params=bound) if bound else cur.sql(sql)
                # A statement that already ran has its profile now; reading its held result back would replace it.
                lazy = bool(statements) and statements[-1] == "SELECT"
                profile = None if lazy else cur.get_profiling_information()
                if relation is None:
                    check_stopped(run)
                    yield EMPTY_BATCH
                else:
                    reader = relation.to_arrow_reader(batch_rows)
                    produced = False
                    for batch in reader:
                        check_stopped(run)
                        produced = True
                        yield from hand_over(run, slice_batch(batch, batch_rows))
                    check_stopped(run)
                    if not produced:
                        yield _empty(reader.schema)
            except _STREAM_ERRORS as exc:
                raise _translate(exc, sql, run) from exc
            if stats is not None:
                self._fill_stats(cur, sql, stats, profile, parameters)
            # Only plain SELECTs leave no session state (temp tables, USE, open transactions) behind.
            clean = all(kind == "SELECT" for kind in statements)
        finally:
            if timer is not None:
                timer.cancel()
            worker.finish(run)
            self._registry.remove(run)
            if not clean or run.cancelled or run.timed_out:
                worker.reset(ddl.quote(self._catalog))

    def cancel(self, query_tag: str) -> bool:
        return self._registry.cancel(query_tag)

    def progress(self, query_tag: str) -> float | None:
        for run in self._registry.get(query_tag):
            try:
                percent = run.handle.query_progress()
            except duckdb.Error:
                return None
            return None if percent < 0 else min(max(percent / 100.0, 0.0), 1.0)
        return None

    def _fill_stats(self, cur: duckdb.DuckDBPyConnection, sql: str, stats: QueryStats, text: str | None,
                    parameters: Mapping[str, Any] | None = None) -> None:
        try:
            profile = json.loads(text or cur.get_profiling_information())
            scans = list(walk_scans(profile.get("operator") or [], self._catalog))
            stats.bytes_processed, rows = scan_bytes(cur, self._widths, scans, actual=True)
            stats.rows_read = max(int((profile.get("query") or {}).get("total_rows_scanned") or 0), rows)
        except Exception:  # no profile (e.g. a statement DuckDB does not profile): fall back to the dry run
            estimate = self.estimate(sql, parameters=parameters)
            stats.bytes_processed = estimate.estimated_bytes_processed

    # -- dry runs --------------------------------------------------------------------------------------------

    def estimate(self, sql: str, *, parameters: Mapping[str, Any] | None = None) -> QueryEstimate:
        """Validate by planning (``EXPLAIN (FORMAT JSON)``) and price the plan's scans; see ``_duckdb_plan``."""
        with self._cursor() as cur:
            try:
                statements = cur.extract_statements(sql)
            except duckdb.Error as exc:
                return _invalid(_translate(exc, sql))
            if not statements:
                return QueryEstimate(valid=False, error="The query is empty")
            total, tables = 0, []
            for statement in statements:
                if statement.type.name not in _EXPLAINABLE:
                    continue
                text = sql if len(statements) == 1 else statement.query
                try:
                    rows = cur.execute(_EXPLAIN + text, _bound(parameters, statement.named_parameters)).fetchall()
                except duckdb.Error as exc:
                    error = _translate(exc, _EXPLAIN + text)
                    shift = len(_EXPLAIN) - (0 if text is sql else max(sql.find(text), 0))
                    position = error.position - shift if error.position and error.position > shift else None
                    return _invalid(EngineQueryError(error.message, position=position))
                scans = list(walk_scans(_plan_nodes(rows), self._catalog))
                total += scan_bytes(cur, self._widths, scans, actual=False)[0]
                tables += referenced_tables(scans)
                if statement.type.name == "SELECT":
                    tables += parsed_tables(cur, statement.query)
            return QueryEstimate(valid=True, estimated_bytes_processed=total,
                                 referenced_tables=list(dict.fromkeys(tables)))

    def explain(self, sql: str, *, parameters: Mapping[str, Any] | None = None) -> str:
        with self._cursor() as cur:
            try:
                bound = _bound(parameters, _statement_types(cur, sql)[1])
                rows = cur.execute("EXPLAIN " + sql, bound).fetchall()
            except duckdb.Error as exc:
                raise _translate(exc, sql) from exc
        return "\n".join(str(row[-1]) for row in rows)

    def parse(self, sql: str) -> list[Statement]:
        with self._cursor() as cur:
            try:
                return _duckdb_parse.parse(cur, sql)
            except duckdb.Error as exc:
                raise _translate(exc, sql) from exc

    # -- catalog ---------------------------------------------------------------------------------------------

    def catalog(self) -> list[CatalogTable]:
        with self._cursor() as cur:
            rows = cur.execute(
                """
                SELECT c.schema_name, c.table_name, t.estimated_size, c.column_name, c.data_type
                FROM duckdb_columns() c
                LEFT JOIN duckdb_tables() t USING (database_name, schema_name, table_name)
                WHERE c.database_name = current_database() AND NOT c.internal
                  AND c.schema_name NOT IN ('information_schema', 'pg_catalog')
                ORDER BY c.schema_name, c.table_name, c.column_index
                """).fetchall()
        tables: dict[tuple[str, str], CatalogTable] = {}
        for schema, table, size, column, data_type in rows:
            entry = tables.setdefault((schema, table), CatalogTable(schema, table, [], size))
            entry.columns.append(CatalogColumn(column, data_type))
        return list(tables.values())

    def databases(self) -> list[str]:
        with self._cursor() as cur:
            rows = cur.execute("SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database() "
                               "AND NOT internal AND schema_name NOT IN ('information_schema', 'pg_catalog') "
                               "ORDER BY schema_name").fetchall()
        return [name for (name,) in rows]

    def views(self) -> dict[tuple[str, str], str]:
        with self._cursor() as cur:
            rows = cur.execute("SELECT schema_name, view_name, sql FROM duckdb_views() "
                               "WHERE NOT internal AND database_name = current_database()").fetchall()
        return {(schema, name): sql for schema, name, sql in rows if sql}

    def table_exists(self, database: str, table: str) -> bool:
        with self._cursor() as cur:
            return cur.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = ? AND table_name = ?", [database, table]).fetchone()[0] > 0

    def drop_table(self, database: str, table: str) -> None:
        self._run(f"DROP TABLE IF EXISTS {ddl.qualified(database, table)}")

    def render_ddl(self, database: str, table: str, columns: list[Column], *, if_not_exists: bool = True,
                   shard_key: str | None = None, sort_by: Sequence[str] = ()) -> str:
        # One file, no shards; and DuckDB keeps no declared sort order (zone maps follow insertion order).
        return ddl.render_create(database, table, columns, if_not_exists=if_not_exists)

    def create_table(
        self, database: str, table: str, columns: list[Column], *, if_not_exists: bool = True, replace: bool = False,
        shard_key: str | None = None, sort_by: Sequence[str] = (),
    ) -> str:
        statement = self.render_ddl(database, table, columns, if_not_exists=if_not_exists and not replace)
        drop = f"DROP TABLE IF EXISTS {ddl.qualified(database, table)}; " if replace else ""
        # One transaction, so a replace never leaves the table missing.
        self._run(f"BEGIN; CREATE SCHEMA IF NOT EXISTS {ddl.quote(database)}; {drop}{statement}; COMMIT")
        return statement

    def create_table_like(self, database: str, table: str, like: str) -> str:
        statement = (f"CREATE TABLE {ddl.qualified(database, table)} AS "
                     f"SELECT * FROM {ddl.qualified(database, like)} LIMIT 0")
        self._run(statement)
        return statement

    def swap_in(self, database: str, stage: str, table: str, *, replace: bool) -> None:
        # DDL is transactional in DuckDB: readers see the old table or the new one, never neither.
        drop = f"DROP TABLE IF EXISTS {ddl.qualified(database, table)}; " if replace else ""
        self._run(f"BEGIN; {drop}ALTER TABLE {ddl.qualified(database, stage)} RENAME TO {ddl.quote(table)}; COMMIT")

    def insert_arrow(self, database: str, table: str, data: pa.Table) -> int:
        """One INSERT ... BY NAME inside a transaction: every row lands or none does."""
        bulk = self.open_insert(database, table)
        for batch in data.to_batches():
            bulk.write(batch)
        return bulk.commit()

    def open_insert(self, database: str, table: str) -> DuckDBBulkInsert:
        return DuckDBBulkInsert(self._cursor(), database, table, lambda exc: _translate(exc, ""))

    def add_columns(self, database: str, table: str, columns: list[Column]) -> str:
        statements = ddl.render_add_columns(database, table, columns)
        self._run("BEGIN; " + "; ".join(statements) + "; COMMIT")
        return ";\n".join(statements)

    def _run(self, sql: str) -> None:
        with self._cursor() as cur:
            try:
                cur.execute(sql)
            except duckdb.Error as exc:
                raise _translate(exc, sql) from exc

    def read_protobuf(self, read: ProtobufRead, *, query_tag: str, batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:
        raise EngineQueryError("DuckDB has no protobuf reader (supports_native_protobuf is False)")


def _string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _statement_types(cur: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], set[str]]:
    """The statement types of ``sql`` ("SELECT", "CREATE", ...) and the ``$name`` parameters it uses; empty when it
    does not parse (execution says why)."""
    try:
        statements = cur.extract_statements(sql)
    except duckdb.Error:
        return [], set()
    return [statement.type.name for statement in statements], {
        name for statement in statements for name in statement.named_parameters}


def _bound(parameters: Mapping[str, Any] | None, names: set[str]) -> dict[str, Any] | None:
    """The parameters the statement uses (DuckDB refuses values it has no placeholder for); None when none."""
    if not parameters or not names:
        return None
    return {name: value for name, value in parameters.items() if name in names} or None


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], type=f.type) for f in schema], schema=schema)


def _plan_nodes(rows: list[tuple]) -> list[dict]:
    nodes: list[dict] = []
    for row in rows:
        try:
            parsed = json.loads(row[-1])
        except (TypeError, ValueError):
            continue
        nodes += parsed if isinstance(parsed, list) else [parsed]
    return nodes


def _invalid(error: EngineQueryError) -> QueryEstimate:
    return QueryEstimate(valid=False, error=error.message, position=error.position)


def _translate(exc: Exception, sql: str, run: RunningQuery | None = None) -> EngineError:
    """The one place DuckDB exceptions become engine errors (mid-stream they arrive wrapped by the Arrow reader)."""
    text = str(exc)
    if isinstance(exc, duckdb.InterruptException) or text.startswith("INTERRUPT Error"):
        if run is not None and run.timed_out:
            return QueryTimeout(run.timeout_s or 0)
        return QueryCancelled("Query was cancelled")
    message = text.split("\n\nLINE ")[0].strip()
    if isinstance(exc, duckdb.OutOfMemoryException) or text.startswith("Out of Memory Error"):
        return EngineQueryError(f"Query exceeded the memory limit: {message.splitlines()[0]}")
    return EngineQueryError(message, position=_position(text, sql))


def _position(text: str, sql: str) -> int | None:
    """1-based offset from DuckDB's ``LINE n: <snippet>`` + caret, or from the name the error quotes."""
    marker = re.search(r"LINE (\d+): (.*)\n( *)\^", text)
    if marker and sql:
        line_no = int(marker.group(1))
        snippet = marker.group(2)
        column = len(marker.group(3)) - len(f"LINE {line_no}: ")
        lines = sql.split("\n")
        if 1 <= line_no <= len(lines) and snippet.startswith("..."):
            # DuckDB trims long lines around the error; find the shown part in the real line.
            body = snippet[3:].removesuffix("...")
            found = lines[line_no - 1].find(body)
            column = found + column - 3 if found >= 0 else column
        return line_col_to_position(sql, line_no, column + 1)
    for pattern in _NAMED:
        named = re.search(pattern, text)
        if named and sql:
            return position_of_name(sql, named.group(1))
    return None
