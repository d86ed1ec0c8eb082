"""The ClickHouse engine's clients: ``capacity`` pooled query clients plus one control client, opened at start.

Each clickhouse-connect client runs one call at a time, so queries lease a pooled client and everything else (cancel,
progress, dry runs, the catalog) takes turns on the control client. In server mode a server that is down at start
(or goes away later) leaves the engine unhealthy rather than broken: every call tries to connect again, so it
recovers when the server is back.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from engines import _ch_tables as ch_tables
from engines._ch_errors import translate
from engines._ch_server import ServerAddress, connection_lost, retrying
from engines._common import QueryRegistry
from engines.errors import EngineUnavailable

log = logging.getLogger(__name__)

_PING_TIMEOUT_S = 3.0
# Statements that only read run with readonly=1, passed by the client and not part of the SQL: the server then
# refuses file(), url() and the like, writes, and any SETTINGS the statement tries to change.
READ_ONLY = {"readonly": "1"}
# Every client: ``tuple(1 AS a, 'x' AS b)`` makes a named tuple (GoogleSQL's STRUCT literal translates to it).
_CLIENT_SETTINGS = {"enable_named_columns_in_function_tuple": "1"}


class ClickHouseConnections:
    """Client lifecycle of ``ClickHouseEngine``: start, close, health, the control client and the query pool
    (leased by the engine's queries)."""

    def __init__(self, connect: Callable[[], Any], *, mode: str, capacity: int = 2, memory_limit: str | None = None,
                 cluster: str | None = None, data_path: Path | None = None, address: ServerAddress | None = None,
                 read_attempts: int = 1) -> None:
        """Prefer ``ClickHouseEngine.embedded()`` or ``.server()``; ``connect`` makes one clickhouse-connect
        client."""
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


def _configured(client: Any) -> Any:
    """``client`` with the settings every client of the engine runs with."""
    for key, value in _CLIENT_SETTINGS.items():
        client.set_client_setting(key, value)
    return client
