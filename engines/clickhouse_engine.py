"""ClickHouse adapter over clickhouse-connect: embedded chdb (``chdb://`` path) or an HTTP(S) server or cluster.

Each clickhouse-connect client runs one call at a time, so the engine keeps ``capacity`` query clients plus one
control client for cancel, progress, dry runs and the catalog. Every query carries a ``/* bqlite:<tag> */`` comment
by which ``system.processes`` finds it for progress. A server also gets a ``query_id`` per query and is sent
``KILL QUERY WHERE query_id = ...``; chdb drops query ids, so embedded kills match the comment instead.

In server mode (``_ch_server``) the clients share one connection pool, reads that change nothing are retried when
the connection drops, and a server that is down at start (or goes away later) leaves the engine unhealthy rather
than broken: every call tries to connect again, so it recovers when the server is back.

Limits go to ClickHouse as settings (``max_execution_time``, ``max_memory_usage``) so the engine itself enforces
them; a timer kills a query that overruns its time limit anyway (ClickHouse checks the limit between blocks).
Results stream in the Native format and become Arrow in ``_ch_arrow``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.datatypes.registry import get_from_name
from clickhouse_connect.driver.exceptions import ClickHouseError
from clickhouse_connect.driver.summary import QuerySummary

from engines import _ch_parse, _ch_protobuf
from engines import _ch_plan as plan
from engines import _ch_tables as ch_tables
from engines import _ddl_clickhouse as ddl
from engines._ch_arrow import QUERY_FORMATS, BlockConverter
from engines._ch_errors import translate
from engines._ch_params import bind, placeholder_defaults
from engines._ch_server import ServerAddress, client_factory, connection_lost, pause_before_retry, retrying
from engines._ch_table_ops import SYSTEM_DATABASES, ClickHouseTables
from engines._common import (
    EMPTY_BATCH,
    QueryRegistry,
    RunningQuery,
    check_stopped,
    first_keyword,
    hand_over,
    parse_bytes,
    slice_batch,
)
from engines.base import (
    EngineInfo,
    ProtobufRead,
    QueryEstimate,
    QueryLimits,
    QueryStats,
    Statement,
)
from engines.errors import EngineError, EngineQueryError, EngineUnavailable

log = logging.getLogger(__name__)

_STREAMED = {"SELECT", "WITH", "FROM"}
_TABULAR = {"SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS", "CHECK"}   # small results, not streamed
_LEASE_TIMEOUT_S = 60.0
_PING_TIMEOUT_S = 3.0
# Statements that only read run with readonly=1, passed by the client and not part of the SQL: the server then
# refuses file(), url() and the like, writes, and any SETTINGS the statement tries to change.
_READ_ONLY = {"readonly": "1"}
# Every client: ``tuple(1 AS a, 'x' AS b)`` makes a named tuple (GoogleSQL's STRUCT literal translates to it).
_CLIENT_SETTINGS = {"enable_named_columns_in_function_tuple": "1"}


class ClickHouseEngine(ClickHouseTables):
    name = "clickhouse"
    supports_progress = True
    supports_cancel = True

    def __init__(self, connect: Callable[[], Any], *, mode: str, capacity: int = 2, memory_limit: str | None = None,
                 cluster: str | None = None, data_path: Path | None = None, address: ServerAddress | None = None,
                 read_attempts: int = 1) -> None:
        """Prefer ``embedded()`` or ``server()``; ``connect`` makes one clickhouse-connect client."""
        self._connect = connect
        self.mode = mode
        self.address = address
        self.read_attempts = read_attempts
        self.capacity = capacity
        self.memory_limit = memory_limit
        # Checked here, whatever the source: the name is pasted into every ON CLUSTER statement.
        self.cluster = ch_tables.check_cluster(cluster) if cluster else None
        self._data_path = data_path
        self._pool: queue.LifoQueue = queue.LifoQueue()
        self._internal_slots = threading.BoundedSemaphore(max(1, capacity))   # see stream_internal
        self._clients: list[Any] = []
        self._control: Any = None
        self._control_lock = threading.Lock()
        self._connect_lock = threading.Lock()
        self._started = False
        self._version = "unknown"
        self._applied: dict[int, dict[str, str]] = {}
        self._registry = QueryRegistry()

    @classmethod
    def embedded(cls, path: str | Path, *, capacity: int = 2, memory_limit: str | None = None) -> ClickHouseEngine:
        """chdb in this process; one data path per process, any number of clients on it."""
        data_path = Path(path).resolve()
        return cls(lambda: clickhouse_connect.get_client(interface="chdb", path=str(data_path)), mode="embedded",
                   capacity=capacity, memory_limit=memory_limit, data_path=data_path)

    @classmethod
    def server(cls, address: ServerAddress, *, cluster: str | None = None, capacity: int = 4,
               memory_limit: str | None = None, read_attempts: int = 3) -> ClickHouseEngine:
        """A ClickHouse server over HTTP(S); ``cluster`` adds ON CLUSTER to kills and reads processes cluster-wide.
        ``read_attempts`` bounds how often a read is tried when the connection drops."""
        return cls(client_factory(address, pool_size=capacity + 1), mode="server", capacity=capacity,
                   memory_limit=memory_limit, cluster=cluster, address=address, read_attempts=read_attempts)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the clients. A server that cannot be reached now is not fatal: the engine reports itself unhealthy
        and connects on first use once the server is back (embedded chdb failing to open is fatal)."""
        if self._data_path is not None:
            self._data_path.mkdir(parents=True, exist_ok=True)
        self._started = True
        try:
            self._open_clients()
        except EngineUnavailable:
            if self.mode != "server":
                self._started = False
                raise
            log.warning("ClickHouse server %s is not reachable; ClickHouse stays unavailable until it is",
                        self.address.label if self.address else "?")

    def _open_clients(self) -> None:
        with self._connect_lock:
            if self._control is not None:
                return
            clients: list[Any] = []
            try:
                control = _configured(self._connect())
                for _ in range(self.capacity):
                    clients.append(_configured(self._connect()))
            except ClickHouseError as exc:
                for client in clients:
                    with contextlib.suppress(Exception):
                        client.close()
                raise EngineUnavailable(f"Cannot connect to ClickHouse: {translate(exc, '', 0)}") from exc
            self._version = str(control.server_version)
            self._clients = clients
            for client in clients:
                self._pool.put(client)
            self._control = control

    def close(self) -> None:
        self._started = False
        for client in [*self._clients, self._control]:
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
        self._clients, self._control = [], None
        self._pool = queue.LifoQueue()

    def info(self) -> EngineInfo:
        return EngineInfo(name=self.name, mode=self.mode, version=self._version,
                          address=self.address.label if self.address else None)

    def health(self) -> bool:
        try:
            if self.mode == "server":
                # /ping is answered without running a query, and with a short timeout a hung server reads as down.
                return bool(self._control_client().ping(timeout=_PING_TIMEOUT_S))
            return str(self._call(lambda c: c.command("SELECT 1"))) == "1"
        except Exception:
            return False

    def _control_client(self) -> Any:
        if self._control is None:
            if not self._started:
                raise EngineUnavailable("ClickHouse engine is not started")
            self._open_clients()
        return self._control

    def _call(self, fn: Callable[[Any], Any], *, read: bool = False) -> Any:
        """Run ``fn`` on the control client; a lost connection is ``EngineUnavailable``, after retries for a
        ``read`` (one that changes nothing)."""
        client = self._control_client()

        def once() -> Any:
            with self._control_lock:
                return fn(client)

        try:
            return retrying(once, self.read_attempts) if read else once()
        except ClickHouseError as exc:
            if connection_lost(exc):
                raise translate(exc, "", 0) from exc
            raise

    def _call_read(self, fn: Callable[[Any], Any]) -> Any:
        return self._call(fn, read=True)

    @contextlib.contextmanager
    def _lease(self) -> Iterator[Any]:
        self._control_client()
        try:
            client = self._pool.get(timeout=_LEASE_TIMEOUT_S)
        except queue.Empty:
            raise EngineUnavailable("All ClickHouse connections are busy") from None
        try:
            yield client
        finally:
            self._pool.put(client)

    def stream_internal(self, sql: str, *, query_tag: str, batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:
        """Stream a SELECT the app itself wrote (the native protobuf decode's ``file()`` read; never user SQL) on a
        client of its own, outside the pool; ``cancel(query_tag)`` stops it like any query.

        The caller inserts the batches into this engine while the stream is open. On a pooled client that needed
        two leases at once: with capacity 1 every such ingest failed, and two concurrent ones held both clients and
        waited for each other until the lease timeout. At most ``capacity`` of these streams run at once; past
        that this raises ``EngineUnavailable`` straight away, and the caller decodes without ClickHouse.
        """
        self._control_client()
        if not self._internal_slots.acquire(blocking=False):
            raise EngineUnavailable("Every ClickHouse decode client is busy")
        text = f"/* bqlite:{_safe_tag(query_tag)} */ {sql}"
        run = self._registry.add(query_tag, lambda: self._kill(query_tag))
        client = None
        try:
            try:
                client = self._connect()
            except ClickHouseError as exc:
                raise EngineUnavailable(f"Cannot open a ClickHouse decode client: {exc}") from exc
            if self.memory_limit:
                client.set_client_setting("max_memory_usage", str(parse_bytes(self.memory_limit)))
            try:
                # Not read-only like user SQL: that would refuse the file() read here.
                yield from self._stream(client, text, sql, run, batch_rows, settings=None)
            except ClickHouseError as exc:
                raise translate(exc, text, len(text) - len(sql), run) from exc
        finally:
            self._registry.remove(run)
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            self._internal_slots.release()

    # -- queries ---------------------------------------------------------------------------------------------

    def execute(
        self, sql: str, *, query_tag: str, limits: QueryLimits | None = None, stats: QueryStats | None = None,
        batch_rows: int = 65536, parameters: Mapping[str, Any] | None = None,
    ) -> Iterator[pa.RecordBatch]:
        limits = limits or QueryLimits()
        kind = first_keyword(sql)
        text = f"/* bqlite:{_safe_tag(query_tag)} */ {sql}"
        shift = len(text) - len(sql)
        bound = bind(sql, parameters)
        query_id = self._query_id(query_tag)
        ids = {"query_id": query_id} if query_id else {}
        with self._lease() as client:
            run = self._registry.add(query_tag, lambda: self._kill(query_tag, query_id), limits.timeout_s)
            timer = self._registry.start_timer(run)
            try:
                try:
                    self._apply_limits(client, limits)
                    if stats is not None and kind in _STREAMED:
                        stats.bytes_processed, stats.rows_read = self._plan_bytes(sql, parameters)
                    if kind in _STREAMED:
                        yield from self._stream_retrying(client, text, sql, run, batch_rows,
                                                         settings={**_READ_ONLY, **ids}, parameters=bound)
                    elif kind in _TABULAR:
                        result = retrying(lambda: client.query(
                            text, use_none=True, query_formats=QUERY_FORMATS, settings={**_READ_ONLY, **ids},
                            parameters=bound), self.read_attempts)
                        converter = BlockConverter(result.column_names, result.column_types, _zone(client))
                        yield converter.convert(result.result_columns) if result.row_count else converter.empty()
                    else:
                        summary = client.command(text, parameters=bound, settings=ids or None)
                        if stats is not None and isinstance(summary, QuerySummary):
                            stats.rows_read = int(summary.summary.get("read_rows", 0) or 0)
                            stats.bytes_processed = int(summary.summary.get("read_bytes", 0) or 0)
                        yield EMPTY_BATCH
                    check_stopped(run)
                except ClickHouseError as exc:
                    raise translate(exc, text, shift, run) from exc
            finally:
                if timer is not None:
                    timer.cancel()
                self._registry.remove(run)

    def _stream_retrying(self, client: Any, text: str, sql: str, run: RunningQuery, batch_rows: int,
                         settings: dict[str, str], parameters: dict[str, Any] | None) -> Iterator[pa.RecordBatch]:
        """``_stream``, tried again while the connection drops before the first batch reached the caller (a read
        with nothing handed over yet can be repeated; one that has yielded rows cannot)."""
        for attempt in range(max(1, self.read_attempts)):
            yielded = False
            try:
                for batch in self._stream(client, text, sql, run, batch_rows, settings=settings,
                                          parameters=parameters):
                    yielded = True
                    yield batch
                return
            except ClickHouseError as exc:
                if yielded or run.cancelled or not connection_lost(exc) or attempt >= self.read_attempts - 1:
                    raise
                pause_before_retry(attempt)

    def _stream(self, client: Any, text: str, sql: str, run: RunningQuery, batch_rows: int,
                settings: dict[str, str] | None = _READ_ONLY,
                parameters: dict[str, Any] | None = None) -> Iterator[pa.RecordBatch]:
        converter = None
        with client.query_column_block_stream(text, use_none=True, query_formats=QUERY_FORMATS,
                                              settings=settings, parameters=parameters) as stream:
            for block in stream:
                check_stopped(run)
                if converter is None:
                    converter = BlockConverter(stream.source.column_names, stream.source.column_types,
                                               _zone(client))
                yield from hand_over(run, slice_batch(converter.convert(block), batch_rows))
        check_stopped(run)
        if converter is None:
            # chdb sends no header block for an empty result; ask for the columns without running anything.
            yield self._describe(client, sql, parameters)

    def _describe(self, client: Any, sql: str, parameters: dict[str, Any] | None = None) -> pa.RecordBatch:
        try:
            rows = client.query(f"DESCRIBE TABLE ({sql.strip().rstrip(';')}\n)", settings=_READ_ONLY,
                                parameters=parameters).result_rows
        except ClickHouseError:
            return EMPTY_BATCH
        return BlockConverter([r[0] for r in rows], [get_from_name(r[1]) for r in rows], _zone(client)).empty()

    def _apply_limits(self, client: Any, limits: QueryLimits) -> None:
        memory = limits.memory_limit or self.memory_limit
        wanted = {"max_execution_time": f"{limits.timeout_s:g}" if limits.timeout_s else "0",
                  "max_memory_usage": str(parse_bytes(memory)) if memory else "0"}
        applied = self._applied.setdefault(id(client), {})
        for key, value in wanted.items():
            if applied.get(key) != value:
                client.set_client_setting(key, value)
                applied[key] = value

    def cancel(self, query_tag: str) -> bool:
        return self._registry.cancel(query_tag)

    def _query_id(self, query_tag: str) -> str | None:
        """A server-side id for one run of ``query_tag`` (a tag can run again, an id must stay unique); None for
        chdb, which drops query ids."""
        return f"bqlite-{_safe_tag(query_tag)}-{uuid.uuid4().hex[:12]}" if self.mode == "server" else None

    def _kill(self, query_tag: str, query_id: str | None = None) -> None:
        # ASYNC: a streamed query whose consumer holds a batch is paused, and KILL ... SYNC would wait on it forever.
        # The registry re-sends the kill until the query is gone or paused.
        on_cluster = f" ON CLUSTER {ddl.quote(self.cluster)}" if self.cluster else ""
        where = f"query_id = {plan.literal(query_id)}" if query_id else f"query LIKE {_tag_pattern(query_tag)}"
        self._call(lambda c: c.command(f"KILL QUERY{on_cluster} WHERE {where} ASYNC"))

    def progress(self, query_tag: str) -> float | None:
        if not self._registry.get(query_tag):
            return None
        source = (f"clusterAllReplicas({plan.literal(self.cluster)}, system.processes)" if self.cluster
                  else "system.processes")
        sql = f"SELECT sum(read_rows), sum(total_rows_approx) FROM {source} WHERE query LIKE {_tag_pattern(query_tag)}"
        try:
            # Asked again in a moment anyway: no retries, so a server that went away does not hold up the poller.
            read, total = self._call(lambda c: c.query(sql, settings=_READ_ONLY).result_rows)[0]
        except (ClickHouseError, EngineUnavailable, IndexError):
            return None
        return min(read / total, 1.0) if total else None

    # -- dry runs --------------------------------------------------------------------------------------------

    def estimate(self, sql: str, *, parameters: Mapping[str, Any] | None = None) -> QueryEstimate:
        """Validate by planning and price the plan's reads; see ``_ch_plan``. Statements that are not queries
        (CREATE, INSERT...) are only parsed (``EXPLAIN AST``) and count 0 bytes."""
        if first_keyword(sql) not in _STREAMED:
            prefix = "EXPLAIN AST "
            try:
                self._read(prefix + sql, parameters)
            except ClickHouseError as exc:
                return _invalid(translate(exc, prefix + sql, len(prefix)))
            return QueryEstimate(valid=True)
        try:
            total, _, tables = self._estimate_reads(sql, parameters)
            tree = self._read("EXPLAIN QUERY TREE " + sql, parameters)
        except ClickHouseError as exc:
            return _invalid(translate(exc, plan.PLAN_PREFIX + sql, len(plan.PLAN_PREFIX)))
        except plan.PlanUnreadable as exc:
            return QueryEstimate(valid=False, error=str(exc))
        # The query tree also names tables the plan never reads (a count() answered from metadata).
        named = [m.group(1) for (line, *_) in tree for m in [re.search(r"table_name: (\S+)", str(line))] if m]
        tables += [t for t in named if t.split(".")[0] not in SYSTEM_DATABASES]
        return QueryEstimate(valid=True, estimated_bytes_processed=total,
                             referenced_tables=list(dict.fromkeys(tables)))

    def _plan_bytes(self, sql: str, parameters: Mapping[str, Any] | None = None) -> tuple[int, int]:
        try:
            total, rows, _ = self._estimate_reads(sql, parameters)
            return total, rows
        except (ClickHouseError, plan.PlanUnreadable):
            return 0, 0           # the query itself will report what is wrong

    def _estimate_reads(self, sql: str, parameters: Mapping[str, Any] | None = None) -> tuple[int, int, list[str]]:
        return plan.estimate_reads(lambda text: self._read(text, parameters), sql)

    def _read(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple]:
        """Rows of a statement about user SQL (a plan, a dry run), run on the control client, read-only."""
        bound = bind(sql, parameters)
        return self._call_read(lambda c: c.query(sql, settings=_READ_ONLY, parameters=bound).result_rows)

    def explain(self, sql: str, *, parameters: Mapping[str, Any] | None = None) -> str:
        prefix = "EXPLAIN indexes=1 " if first_keyword(sql) in _STREAMED else "EXPLAIN AST "
        try:
            rows = self._read(prefix + sql, parameters)
        except ClickHouseError as exc:
            raise translate(exc, prefix + sql, len(prefix)) from exc
        return "\n".join(str(r[0]) for r in rows)

    def parse(self, sql: str) -> list[Statement]:
        def query(text: str, params: dict[str, Any] | None) -> list[tuple]:
            return self._call(lambda c: c.query(
                text, parameters=params if params is not None else placeholder_defaults(c, text)).result_rows)

        try:
            return [_ch_parse.parse(query, sql)]
        except ClickHouseError as exc:
            raise translate(exc, sql, 0) from exc

    # -- native protobuf -------------------------------------------------------------------------------------

    @property
    def supports_native_protobuf(self) -> bool:
        """Embedded chdb reads the app's local body files; a server cannot see them."""
        return self.mode == "embedded"

    def read_protobuf(self, read: ProtobufRead, *, query_tag: str, batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:
        if not self.supports_native_protobuf:
            raise EngineQueryError("a ClickHouse server cannot read the app's files: decode the body elsewhere")
        return self.stream_internal(_ch_protobuf.read_sql(read), query_tag=query_tag, batch_rows=batch_rows)





def _configured(client: Any) -> Any:
    for key, value in _CLIENT_SETTINGS.items():
        client.set_client_setting(key, value)
    return client






def _zone(client: Any) -> str | None:
    """The server's zone, which ClickHouse uses for DateTime columns declared without one."""
    zone = getattr(client, "server_tz", None)
    return str(zone) if zone is not None else None


def _safe_tag(tag: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", tag)


def _tag_pattern(tag: str) -> str:
    """A LIKE literal matching queries that start with the tag's comment."""
    escaped = _safe_tag(tag).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return plan.literal(f"/* bqlite:{escaped} */%")


def _invalid(error: EngineError) -> QueryEstimate:
    return QueryEstimate(valid=False, error=str(error), position=getattr(error, "position", None))
