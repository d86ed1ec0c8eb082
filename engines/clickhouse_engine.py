"""ClickHouse adapter over clickhouse-connect: embedded chdb (``chdb://`` path) or an HTTP(S) server or cluster.

Each clickhouse-connect client runs one call at a time, so the engine keeps ``capacity`` query clients plus one
control client for cancel, progress, dry runs and the catalog (``_ch_connections``). Every query carries a
``/* bqlite:<tag> */`` comment by which ``system.processes`` finds it for progress. A server also gets a
``query_id`` per query and is sent ``KILL QUERY WHERE query_id = ...``; chdb drops query ids, so embedded kills
match the comment instead.

In server mode (``_ch_server``) the clients share one connection pool, reads that change nothing are retried when
the connection drops, and a server that is down at start (or goes away later) leaves the engine unhealthy rather
than broken: every call tries to connect again, so it recovers when the server is back.

Limits go to ClickHouse as settings (``max_execution_time``, ``max_memory_usage``) so the engine itself enforces
them; a timer kills a query that overruns its time limit anyway (ClickHouse checks the limit between blocks).
Results stream in the Native format and become Arrow in ``_ch_arrow``. Dry runs live in ``_ch_dry_run``, the catalog
and DDL in ``_ch_table_ops``.
"""

from __future__ import annotations

import contextlib
import queue
import re
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.datatypes.registry import get_from_name
from clickhouse_connect.driver.exceptions import ClickHouseError
from clickhouse_connect.driver.summary import QuerySummary

from engines import _ch_plan as plan
from engines import _ch_profile, _ch_protobuf
from engines import _ddl_clickhouse as ddl
from engines._ch_arrow import QUERY_FORMATS, BlockConverter
from engines._ch_connections import READ_ONLY, ClickHouseConnections
from engines._ch_dry_run import STREAMED, ClickHouseDryRuns
from engines._ch_errors import translate
from engines._ch_params import bind
from engines._ch_protobuf_arrow import decoded
from engines._ch_server import ServerAddress, client_factory, connection_lost, pause_before_retry, retrying
from engines._ch_table_ops import ClickHouseTables
from engines._common import (
    EMPTY_BATCH,
    RunningQuery,
    check_stopped,
    first_keyword,
    hand_over,
    parse_bytes,
    slice_batch,
)
from engines.base import EngineInfo, QueryLimits, QueryStats
from engines.errors import EngineQueryError, EngineUnavailable
from engines.execution_graph import ExecutionGraph
from engines.protobuf_read import ProtobufRead

_TABULAR = {"SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS", "CHECK"}   # small results, not streamed
# How long a query waits for one of the ``capacity`` pooled clients (the scheduler never asks for more).
_LEASE_TIMEOUT_S = 60.0


class ClickHouseEngine(ClickHouseConnections, ClickHouseDryRuns, ClickHouseTables):
    name = "clickhouse"
    quote = staticmethod(ddl.quote)

    @classmethod
    def embedded(cls, path: str | Path, *, capacity: int = 2, memory_limit: str | None = None) -> ClickHouseEngine:
        """chdb in this process; one data path per process, any number of clients on it."""
        data_path = Path(path).resolve()
        # The config turns on the logs job graphs are read from (written once); each client keeps its own queries
        # out of them.
        options = {"config-file": str(_ch_profile.embedded_config(data_path))}

        def connect() -> Any:
            client = clickhouse_connect.get_client(interface="chdb", path=str(data_path), chdb_options=options)
            for key, value in _ch_profile.QUIET.items():
                client.set_client_setting(key, value)
            return client

        return cls(connect, mode="embedded", capacity=capacity, memory_limit=memory_limit, data_path=data_path)

    @classmethod
    def server(cls, address: ServerAddress, *, cluster: str | None = None, capacity: int = 4,
               memory_limit: str | None = None, read_attempts: int = 3) -> ClickHouseEngine:
        """A ClickHouse server over HTTP(S); ``cluster`` adds ON CLUSTER to kills and reads processes cluster-wide.
        ``read_attempts`` bounds how often a read is tried when the connection drops."""
        return cls(client_factory(address, pool_size=capacity + 1), mode="server", capacity=capacity,
                   memory_limit=memory_limit, cluster=cluster, address=address, read_attempts=read_attempts)

    def info(self) -> EngineInfo:
        return EngineInfo(name=self.name, mode=self.mode, version=self._version,
                          address=self.address.label if self.address else None)

    # -- queries ---------------------------------------------------------------------------------------------

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
                    profiled: dict[str, str] = {}
                    if stats is not None and kind in STREAMED:
                        stats.bytes_processed, stats.rows_read, tables = self._plan_bytes(sql, parameters)
                        if tables:  # a query that reads no table is not worth logging (small jobs are a hot path)
                            profiled = _ch_profile.job_settings(query_tag)
                            stats.profile_ref = _ch_profile.profile_ref(query_tag, query_id)
                    if kind in STREAMED:
                        yield from self._stream_retrying(client, text, sql, run, batch_rows,
                                                         settings={**READ_ONLY, **ids, **profiled}, parameters=bound)
                    elif kind in _TABULAR:
                        result = retrying(lambda: client.query(
                            text, use_none=True, query_formats=QUERY_FORMATS, settings={**READ_ONLY, **ids},
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
                settings: dict[str, str] | None = READ_ONLY,
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
            rows = client.query(f"DESCRIBE TABLE ({sql.strip().rstrip(';')}\n)", settings=READ_ONLY,
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

    def execution_graph(self, profile_ref: str) -> ExecutionGraph | None:
        """The run's graph from ``system.processors_profile_log`` (``_ch_profile``), read on the control client."""
        def read(sql: str) -> list[tuple]:
            return self._call_read(lambda c: c.query(sql, settings=READ_ONLY).result_rows)

        def command(sql: str) -> Any:
            return self._call(lambda c: c.command(sql))

        return _ch_profile.read_graph(read, command, profile_ref)

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
            read, total = self._call(lambda c: c.query(sql, settings=READ_ONLY).result_rows)[0]
        except (ClickHouseError, EngineUnavailable, IndexError):
            return None
        return min(read / total, 1.0) if total else None

    # -- native protobuf -------------------------------------------------------------------------------------

    @property
    def supports_native_protobuf(self) -> bool:
        """Embedded chdb reads the app's local body files; a server cannot see them."""
        return self.mode == "embedded"

    def read_protobuf(self, read: ProtobufRead, *, query_tag: str, batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:
        if not self.supports_native_protobuf:
            raise EngineQueryError("a ClickHouse server cannot read the app's files: decode the body elsewhere")
        return self._read_protobuf(read, _ch_protobuf.read_sql(read), query_tag, batch_rows)

    def _read_protobuf(self, read: ProtobufRead, sql: str, query_tag: str,
                       batch_rows: int) -> Iterator[pa.RecordBatch]:
        with contextlib.closing(self.stream_internal(sql, query_tag=query_tag, batch_rows=batch_rows)) as batches:
            for batch in batches:
                yield decoded(batch, read.fields)



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

