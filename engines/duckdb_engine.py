"""DuckDB adapter: one database file per process, one cursor per query, results streamed as Arrow batches.

Limits: ``timeout_s`` is enforced here with a timer that interrupts the query's cursor. DuckDB has no per-query
memory cap: the engine-wide ``memory_limit`` is the hard limit (exceeding it fails the query with a clear error),
and a per-query ``QueryLimits.memory_limit`` becomes the cursor's ``operator_memory_limit``, which bounds sorts and
hash tables (they spill to disk rather than fail).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from engines import _ddl_duckdb as ddl
from engines._common import (
    EMPTY_BATCH,
    QueryRegistry,
    RunningQuery,
    hand_over,
    line_col_to_position,
    position_of_name,
    slice_batch,
)
from engines._duckdb_plan import WidthModel, parsed_tables, referenced_tables, scan_bytes, walk_scans
from engines.base import CatalogColumn, CatalogTable, EngineInfo, QueryEstimate, QueryLimits, QueryStats
from engines.errors import EngineError, EngineQueryError, EngineUnavailable, QueryCancelled, QueryTimeout
from engines.types import Column

_EXPLAIN = "EXPLAIN (FORMAT JSON) "
# Errors raised while the Arrow reader pulls batches come back as Arrow/OS errors carrying DuckDB's message.
_STREAM_ERRORS = (duckdb.Error, pa.ArrowException, OSError)
_EXPLAINABLE = {"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE"}
_HIDDEN_SCHEMAS = ("information_schema", "pg_catalog")
# Errors without a LINE marker still name what they could not find; point at it.
_NAMED = [
    r"Table with name (\S+?) does not exist", r'Referenced column "(.+?)" not found', r"column \"(.+?)\"",
    r"Function with name (\S+?) does not exist", r"Schema with name (\S+?) does not exist",
]


class DuckDBEngine:
    name = "duckdb"
    supports_progress = True
    supports_cancel = True

    def __init__(self, path: str | Path, *, capacity: int = 4, memory_limit: str | None = None,
                 threads: int | None = None) -> None:
        self.path = Path(path)
        self.capacity = capacity
        self.memory_limit = memory_limit
        self.threads = threads
        self._con: duckdb.DuckDBPyConnection | None = None
        self._con_lock = threading.Lock()
        self._registry = QueryRegistry()
        self._widths = WidthModel()
        self._catalog = "main"

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._con is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path))
        if self.memory_limit:
            con.execute(f"SET memory_limit = '{self.memory_limit}'")
        if self.threads:
            con.execute(f"SET threads = {int(self.threads)}")
        self._catalog = con.execute("SELECT current_database()").fetchone()[0]
        self._con = con

    def close(self) -> None:
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

    def _cursor(self, limits: QueryLimits | None = None, *, tracked: bool = False) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise EngineUnavailable("DuckDB engine is not started")
        with self._con_lock:
            cur = self._con.cursor()
        if tracked:
            # Progress and profiling are per-connection settings, so every query cursor turns them on itself.
            cur.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false; "
                        "SET progress_bar_time = 0; SET enable_profiling = 'no_output'; SET profiling_coverage = 'ALL'")
        if limits is not None and limits.memory_limit:
            cur.execute(f"SET operator_memory_limit = '{limits.memory_limit}'")
        return cur

    # -- queries ---------------------------------------------------------------------------------------------

    def execute(
        self, sql: str, *, query_tag: str, limits: QueryLimits | None = None, stats: QueryStats | None = None,
        batch_rows: int = 65536,
    ) -> Iterator[pa.RecordBatch]:
        limits = limits or QueryLimits()
        try:
            cur = self._cursor(limits, tracked=True)
        except duckdb.Error as exc:
            raise _translate(exc, sql) from exc
        run = self._registry.add(query_tag, cur.interrupt, limits.timeout_s, handle=cur)
        timer = self._registry.start_timer(run)
        try:
            try:
                # A SELECT becomes a lazy relation that streams; any other statement runs here and holds its
                # small result (or none).
                relation = cur.sql(sql)
                # A statement that already ran has its profile now; reading its held result back would replace it.
                profile = None if _is_lazy(cur, sql) else cur.get_profiling_information()
                if relation is None:
                    _check(run)
                    yield EMPTY_BATCH
                else:
                    reader = relation.to_arrow_reader(batch_rows)
                    produced = False
                    for batch in reader:
                        _check(run)
                        produced = True
                        yield from hand_over(run, slice_batch(batch, batch_rows))
                    _check(run)
                    if not produced:
                        yield _empty(reader.schema)
            except _STREAM_ERRORS as exc:
                raise _translate(exc, sql, run) from exc
            if stats is not None:
                self._fill_stats(cur, sql, stats, profile)
        finally:
            if timer is not None:
                timer.cancel()
            self._registry.remove(run)
            cur.close()

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

    def _fill_stats(self, cur: duckdb.DuckDBPyConnection, sql: str, stats: QueryStats, text: str | None) -> None:
        try:
            profile = json.loads(text or cur.get_profiling_information())
            scans = list(walk_scans(profile.get("operator") or [], self._catalog))
            stats.bytes_processed, rows = scan_bytes(cur, self._widths, scans, actual=True)
            stats.rows_read = max(int((profile.get("query") or {}).get("total_rows_scanned") or 0), rows)
        except Exception:  # no profile (e.g. a statement DuckDB does not profile): fall back to the dry run
            estimate = self.estimate(sql)
            stats.bytes_processed = estimate.estimated_bytes_processed

    # -- dry runs --------------------------------------------------------------------------------------------

    def estimate(self, sql: str) -> QueryEstimate:
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
                    rows = cur.execute(_EXPLAIN + text).fetchall()
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

    def explain(self, sql: str) -> str:
        with self._cursor() as cur:
            try:
                rows = cur.execute("EXPLAIN " + sql).fetchall()
            except duckdb.Error as exc:
                raise _translate(exc, sql) from exc
        return "\n".join(str(row[-1]) for row in rows)

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

    def table_exists(self, database: str, table: str) -> bool:
        with self._cursor() as cur:
            return cur.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = ? AND table_name = ?", [database, table]).fetchone()[0] > 0

    def drop_table(self, database: str, table: str) -> None:
        self._run(f"DROP TABLE IF EXISTS {ddl.qualified(database, table)}")

    def render_ddl(self, database: str, table: str, columns: list[Column], *, if_not_exists: bool = True) -> str:
        return ddl.render_create(database, table, columns, if_not_exists=if_not_exists)

    def create_table(
        self, database: str, table: str, columns: list[Column], *, if_not_exists: bool = True, replace: bool = False,
    ) -> str:
        statement = self.render_ddl(database, table, columns, if_not_exists=if_not_exists and not replace)
        drop = f"DROP TABLE IF EXISTS {ddl.qualified(database, table)}; " if replace else ""
        # One transaction, so a replace never leaves the table missing.
        self._run(f"BEGIN; CREATE SCHEMA IF NOT EXISTS {ddl.quote(database)}; {drop}{statement}; COMMIT")
        return statement

    def insert_arrow(self, database: str, table: str, data: pa.Table) -> int:
        """One INSERT ... BY NAME inside a transaction: every row lands or none does."""
        view = f"__bqlite_insert_{uuid.uuid4().hex}"
        with self._cursor() as cur:
            cur.register(view, data)
            try:
                cur.begin()
                cur.execute(f"INSERT INTO {ddl.qualified(database, table)} BY NAME SELECT * FROM {view}")
                cur.commit()
            except duckdb.Error as exc:
                try:
                    cur.rollback()
                except duckdb.Error:
                    pass
                raise _translate(exc, "") from exc
            finally:
                cur.unregister(view)
        return data.num_rows

    def _run(self, sql: str) -> None:
        with self._cursor() as cur:
            try:
                cur.execute(sql)
            except duckdb.Error as exc:
                raise _translate(exc, sql) from exc


def _check(run: RunningQuery) -> None:
    # A stop that lands between batches interrupts nothing inside DuckDB, so the flags are checked here too.
    if run.timed_out:
        raise QueryTimeout(run.timeout_s or 0)
    if run.cancelled:
        raise QueryCancelled("Query was cancelled")


def _is_lazy(cur: duckdb.DuckDBPyConnection, sql: str) -> bool:
    try:
        statements = cur.extract_statements(sql)
    except duckdb.Error:
        return False
    return bool(statements) and statements[-1].type.name == "SELECT"


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
