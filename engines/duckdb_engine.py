"""DuckDB adapter: one database file per process, ``capacity`` query connections, results streamed as Arrow.

Sandbox: the database runs with external access off (files only under ``allowed_directories``, no network), no
extension install or autoload, no Python replacement scans, and its configuration locked, so SQL that slipped past
the policy still cannot touch the machine or change a setting.

Limits: ``timeout_s`` is enforced here with a timer that interrupts the query's connection. DuckDB has no per-query
memory cap: the engine-wide ``memory_limit`` is the hard limit (exceeding it fails the query with a clear error),
and it is also each query connection's ``operator_memory_limit``, which bounds sorts and hash tables (they spill to
disk rather than fail). With the configuration locked, ``QueryLimits.memory_limit`` cannot vary per query.

The catalog and DDL live in ``_duckdb_tables``, error translation in ``_duckdb_errors``; queries, cursors and
profiling stay here, together.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from engines import _ddl_duckdb as ddl
from engines import _duckdb_parse
from engines._common import EMPTY_BATCH, QueryRegistry, check_stopped, hand_over, slice_batch
from engines._duckdb_connections import QueryConnection
from engines._duckdb_errors import translate
from engines._duckdb_plan import WidthModel, parsed_tables, referenced_tables, scan_bytes, walk_scans
from engines._duckdb_tables import DuckDBTables
from engines.base import EngineInfo, QueryEstimate, QueryLimits, QueryStats, Statement
from engines.errors import EngineQueryError, EngineUnavailable
from engines.execution_graph import ExecutionGraph, from_duckdb_profile
from engines.protobuf_read import ProtobufRead

log = logging.getLogger(__name__)

_EXPLAIN = "EXPLAIN (FORMAT JSON) "
# What ``_fill_stats`` reads of a profile: scans (extra_info: table, projections, filters) and the rows they read,
# and for the execution graph each operator's name, own time and rows out (``engines.execution_graph``).
_PROFILE_METRICS = ("['operator.extra_info', 'operator.rows_scanned', 'operator.intermediate_rows', "
                    "'operator.timing', 'operator.name', 'query.total_rows_scanned']")
# How long a query waits for one of the engine's ``capacity`` connections (the scheduler never asks for more).
_LEASE_TIMEOUT_S = 60.0
# Errors raised while the Arrow reader pulls batches come back as Arrow/OS errors carrying DuckDB's message.
_STREAM_ERRORS = (duckdb.Error, pa.ArrowException, OSError)
_EXPLAINABLE = {"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE"}


class DuckDBEngine(DuckDBTables):
    name = "duckdb"
    supports_native_protobuf = False
    quote = staticmethod(ddl.quote)

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
        # and hash tables (they spill to disk rather than fail). The profile is read for the bytes a job processed
        # and its execution graph (``_fill_stats``), so it tracks only the metrics those need: operator timings
        # and rows, but no optimizer, planner or I/O figures, which cost every query and were never read.
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
                parsed = _parse(cur, sql)
                statements = parsed.kinds
                # A SELECT becomes a lazy relation that streams; any other statement runs here and holds its
                # small result (or none). Parameters are bound by DuckDB ($name), never pasted into the text.
                bound = _bound(parameters, parsed.parameters)
                relation = cur.sql(sql, params=bound) if bound else cur.sql(sql)
                # A statement that already ran has its profile now; reading its held result back would replace it.
                lazy = bool(statements) and statements[-1] == "SELECT"
                profile = None if lazy or not parsed.reads_tables else cur.get_profiling_information()
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
                raise translate(exc, sql, run) from exc
            if stats is not None and parsed.reads_tables:   # no table, no bytes: rendering the profile costs more
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
            stats.graph = _graph(profile)
            scans = list(walk_scans(profile.get("operator") or [], self._catalog))
            stats.bytes_processed, rows = scan_bytes(cur, self._widths, scans, actual=True)
            stats.rows_read = max(int((profile.get("query") or {}).get("total_rows_scanned") or 0), rows)
        except Exception:  # no profile (e.g. a statement DuckDB does not profile): fall back to the dry run
            estimate = self.estimate(sql, parameters=parameters)
            stats.bytes_processed = estimate.estimated_bytes_processed

    def execution_graph(self, profile_ref: str) -> ExecutionGraph | None:
        """DuckDB keeps no log of past profiles: a run's graph is read as it ends (``QueryStats.graph``)."""
        return None

    # -- dry runs --------------------------------------------------------------------------------------------

    def estimate(self, sql: str, *, parameters: Mapping[str, Any] | None = None) -> QueryEstimate:
        """Validate by planning (``EXPLAIN (FORMAT JSON)``) and price the plan's scans; see ``_duckdb_plan``."""
        with self._cursor() as cur:
            try:
                statements = cur.extract_statements(sql)
            except duckdb.Error as exc:
                return _invalid(translate(exc, sql))
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
                    error = translate(exc, _EXPLAIN + text)
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
                bound = _bound(parameters, _parse(cur, sql).parameters)
                rows = cur.execute("EXPLAIN " + sql, bound).fetchall()
            except duckdb.Error as exc:
                raise translate(exc, sql) from exc
        return "\n".join(str(row[-1]) for row in rows)

    def parse(self, sql: str) -> list[Statement]:
        with self._cursor() as cur:
            try:
                return _duckdb_parse.parse(cur, sql)
            except duckdb.Error as exc:
                raise translate(exc, sql) from exc

    def read_protobuf(self, read: ProtobufRead, *, query_tag: str, batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:
        raise EngineQueryError("DuckDB has no protobuf reader (supports_native_protobuf is False)")


def _string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class _Parsed:
    kinds: tuple[str, ...]              # "SELECT", "CREATE", ... one per statement; empty when it does not parse
    parameters: frozenset[str]          # the $name parameters it uses
    reads_tables: bool                  # names a table or view: only then is there a profile worth reading


_UNPARSED = _Parsed((), frozenset(), True)
# By SQL text: parsing is the same for every run of a text, and interactive clients send the same few texts again
# and again. Bounded; a race between two threads only parses twice.
_PARSED: dict[str, _Parsed] = {}
_PARSED_MAX = 1024


def _parse(cur: duckdb.DuckDBPyConnection, sql: str) -> _Parsed:
    """What the engine needs to know about ``sql`` before running it (execution says why text does not parse)."""
    parsed = _PARSED.get(sql)
    if parsed is not None:
        return parsed
    try:
        statements = cur.extract_statements(sql)
    except duckdb.Error:
        return _UNPARSED
    try:
        reads_tables = bool(cur.get_table_names(sql))
    except duckdb.Error:    # e.g. $parameters, which it wants values for: assume a table, read the profile
        reads_tables = True
    parsed = _Parsed(tuple(statement.type.name for statement in statements),
                     frozenset(name for statement in statements for name in statement.named_parameters), reads_tables)
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.pop(next(iter(_PARSED), sql), None)
    _PARSED[sql] = parsed
    return parsed


def _bound(parameters: Mapping[str, Any] | None, names: frozenset[str]) -> dict[str, Any] | None:
    """The parameters the statement uses (DuckDB refuses values it has no placeholder for); None when none."""
    if not parameters or not names:
        return None
    return {name: value for name, value in parameters.items() if name in names} or None


def _graph(profile: dict) -> ExecutionGraph | None:
    try:
        return from_duckdb_profile(profile)
    except (TypeError, ValueError, AttributeError):   # a profile shape this version does not know: no graph
        log.debug("unreadable DuckDB profile", exc_info=True)
        return None


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

