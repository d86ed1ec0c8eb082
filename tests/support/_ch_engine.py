"""The chdb side of the ClickHouse test server: connection handles, sessions, per-query settings and KILL by query_id.

chdb runs one engine (one data path) per process and any number of connection handles on it; queries on separate
handles run concurrently and share system.processes, so a KILL run on one handle cancels a query on another. Each
request gets a fresh handle (0.2 ms to open), which is how per-request settings never leak into the next request.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import chdb

from engines._ch_profile import embedded_config

from ._ch_wire import (
    ClickHouseError,
    error_from_message,
    is_set_statement,
    make_error,
    quote,
    with_marker,
)

_SETTING_NAME = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
# Inline VALUES data runs to the end of the text, also under EXPLAIN: nothing may follow it.
_INLINE_VALUES = re.compile(r"\bINSERT\s+INTO\b(?:(?!\bSELECT\b).)*\bVALUES\b", re.IGNORECASE | re.DOTALL)
# How long a KILL by query_id keeps retrying while the target has not reached system.processes yet.
_KILL_RETRY_SECONDS = 5.0


@dataclass
class Query:
    """One statement to run, as the HTTP layer parsed it."""

    sql: str  # the client's text, trailing FORMAT removed (for a data INSERT: the FROM INFILE statement)
    fmt: str
    query_id: str
    database: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    session_id: str | None = None
    session_timeout: float = 60.0
    session_check: bool = False


@dataclass
class Running:
    """A query in flight, for KILL QUERY WHERE query_id = ..."""

    query_id: str
    text: str
    marker: str
    cancelled: bool = False
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Session:
    handle: Any
    timeout: float
    expires: float
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Result:
    body: bytes
    summary: dict[str, str]


class Engine:
    """chdb behind the server: runs queries on per-request (or per-session) handles and tracks running query ids."""

    def __init__(self, path: str):
        self.path = path
        self._open_lock = threading.Lock()  # opening and closing handles is the part chdb does not promise is safe
        self._root = self._connect()  # keeps the engine open between requests
        version, timezone = self._root.query("SELECT version(), timezone()", "TSV").bytes().decode().split()
        self.version: str = version
        self.timezone: str = timezone
        formats = self._root.query("SELECT name FROM system.formats WHERE is_output", "TSV").bytes().decode()
        self.formats = frozenset(name.lower() for name in formats.split())
        names = self._root.query("SELECT number, errorCodeToName(number) FROM numbers(2000)", "TSV").bytes().decode()
        self.error_names = {int(c): n for c, n in (line.split("\t") for line in names.splitlines()) if n}
        self._running: dict[str, Running] = {}
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            self._disconnect(session.handle)
        self._disconnect(self._root)

    def error(self, code: int, message: str) -> ClickHouseError:
        return make_error(code, self.error_names.get(code, "UNKNOWN_EXCEPTION"), message, self.version)

    # --- running queries ------------------------------------------------------------------------------------------

    def run(self, query: Query) -> Result:
        """Run a statement to completion (commands, inserts, formats that cannot be streamed)."""
        with self._handle(query) as handle, self._register(query) as running:
            started = time.monotonic()
            result = self._call(running, lambda: handle.query(self._text(query, running), query.fmt,
                                                               params=query.params))
            body = result.bytes() or b""
            return Result(body, _summary(result, len(body), time.monotonic() - started))

    def stream(self, query: Query) -> Iterator[bytes]:
        """Run a query block by block. The generator holds its handle until closed; closing it early (the client went
        away) cancels the query in chdb."""
        with self._handle(query) as handle, self._register(query) as running:
            streaming = self._call(running, lambda: handle.send_query(self._text(query, running), query.fmt,
                                                                       params=query.params))
            finished = False
            try:
                while True:
                    block = self._call(running, lambda: next(streaming, None))
                    if block is None:
                        finished = True
                        return
                    if running.cancelled:
                        raise self.error(394, "Query was cancelled")
                    payload = block.bytes()
                    if payload:
                        yield payload
            finally:
                if not finished:
                    streaming.cancel()
                streaming.close()

    def native_header(self, query: Query) -> bytes:
        """The header-only Native block a server sends for an empty result (chdb sends nothing), so the client still
        learns the column names and types. Found with DESCRIBE, which does not run the query."""
        sql = query.sql.rstrip().rstrip(";")
        describe = replace(query, sql=f"DESCRIBE TABLE (\n{sql}\n)", fmt="JSONEachRow",
                           query_id=f"{query.query_id}:header")
        try:
            columns = [json.loads(line) for line in self.run(describe).body.splitlines()]
        except ClickHouseError:
            return b""
        block = bytearray(_varint(len(columns)) + _varint(0))
        for column in columns:
            for text in (column["name"], column["type"]):
                block += _varint(len(text.encode())) + text.encode()
        return bytes(block)

    def kill(self, query_id: str, mode: str) -> list[Running]:
        """KILL QUERY WHERE query_id = ...: chdb ignores client query ids, so find the query by the marker the server
        appended to its text. Retry while the target has not shown up in system.processes yet."""
        with self._lock:
            running = self._running.get(query_id)
        if running is None:
            return []
        if mode == "TEST":
            return [running]
        running.cancelled = True
        deadline = time.monotonic() + _KILL_RETRY_SECONDS
        handle = self._connect()
        try:
            while not running.done.is_set() and time.monotonic() < deadline:
                killed = handle.query(f"KILL QUERY WHERE endsWith(query, {quote(running.marker)}) ASYNC", "TSV")
                if killed.bytes() or running.done.wait(0.01):
                    break
        finally:
            self._disconnect(handle)
        if mode == "SYNC":
            running.done.wait()
        return [running]

    def _text(self, query: Query, running: Running) -> str:
        if query.settings.get("readonly", "0") == "1" and is_set_statement(query.sql):
            # chdb lets SET through on a readonly handle; a server does not.
            raise self.error(164, "Cannot execute query in readonly mode")
        if running.cancelled:
            raise self.error(394, "Query was cancelled")
        if _INLINE_VALUES.search(query.sql):
            return query.sql  # data runs to the end of the text; such an INSERT cannot be killed by query_id
        return with_marker(query.sql, running.marker)

    def _call(self, running: Running, call):
        try:
            return call()
        except ClickHouseError:
            raise
        except Exception as ex:
            if running.cancelled:
                raise self.error(394, "Query was cancelled") from ex
            # The marker is the server's business: keep it out of the client's error text
            raise error_from_message(str(ex).replace(f"\n{running.marker}", ""), self.version) from ex

    @contextmanager
    def _register(self, query: Query) -> Iterator[Running]:
        running = Running(query.query_id, query.sql, f"/* ch-test-server:{uuid.uuid4()} */")
        with self._lock:
            if query.query_id in self._running:
                raise self.error(216, f"Query with id = {query.query_id} is already running")
            self._running[query.query_id] = running
        try:
            yield running
        finally:
            with self._lock:
                self._running.pop(query.query_id, None)
            running.done.set()

    # --- handles, settings, sessions ------------------------------------------------------------------------------

    def _connect(self) -> Any:
        with self._open_lock:
            # A server keeps system.query_log and system.processors_profile_log by default; chdb only when told.
            return chdb.connect(f"{self.path}?config-file={embedded_config(Path(self.path).resolve())}")

    def _disconnect(self, handle: Any) -> None:
        with self._open_lock:
            handle.close()

    @contextmanager
    def _handle(self, query: Query) -> Iterator[Any]:
        """A handle with the request's database and settings. Settings never outlive the request: a fresh handle is
        dropped afterwards, a session handle gets its previous values back. readonly cannot be lifted once set, so
        a readonly request in a session runs on a fresh handle (it does not see the session's temporary tables)."""
        for name in query.settings:
            if not _SETTING_NAME.match(name):
                raise self.error(115, f"Unknown setting '{name}'")
        readonly = query.settings.get("readonly", "0") != "0"
        if query.session_id is None or readonly:
            handle = self._connect()
            try:
                self._prepare(handle, query)
                yield handle
            finally:
                self._disconnect(handle)
            return
        session = self._session(query)
        try:
            saved = self._snapshot(session.handle, query.settings)
            try:
                self._prepare(session.handle, query)
                yield session.handle
            finally:
                for name, value in saved.items():
                    session.handle.query(f"SET {name} = {value}", "TSV")
        finally:
            session.expires = time.monotonic() + session.timeout
            session.lock.release()

    def _prepare(self, handle: Any, query: Query) -> None:
        try:
            if query.database:
                handle.query(f"USE `{query.database.replace('`', '``')}`", "TSV")
            # readonly goes last: once it is 1, no other setting can be changed on the handle.
            for name, value in sorted(query.settings.items(), key=lambda item: item[0] == "readonly"):
                handle.query(f"SET {name} = {quote(value)}", "TSV")
        except Exception as ex:
            raise error_from_message(str(ex), self.version) from ex

    def _snapshot(self, handle: Any, settings: dict[str, str]) -> dict[str, str]:
        """The SET right-hand sides that put these settings back as they are now."""
        if not settings:
            return {}
        names = ", ".join(quote(name) for name in settings)
        rows = handle.query(f"SELECT name, value, changed FROM system.settings WHERE name IN ({names})", "JSONEachRow")
        saved = dict.fromkeys(settings, "DEFAULT")
        for line in rows.bytes().splitlines():
            row = json.loads(line)
            saved[row["name"]] = quote(row["value"]) if row["changed"] else "DEFAULT"
        return saved

    def _session(self, query: Query) -> _Session:
        """The session's handle, locked for this request; a busy session fails like ClickHouse (SESSION_IS_LOCKED)."""
        now = time.monotonic()
        expired: list[_Session] = []
        with self._lock:
            for key, session in list(self._sessions.items()):
                if session.expires < now and session.lock.acquire(blocking=False):
                    expired.append(self._sessions.pop(key))
            session = self._sessions.get(query.session_id or "")
            if session is None:
                if query.session_check:
                    raise self.error(372, f"Session {query.session_id} not found")
                session = _Session(None, query.session_timeout, now + query.session_timeout)
                self._sessions[query.session_id or ""] = session
            if not session.lock.acquire(blocking=False):
                raise self.error(373, f"Session {query.session_id} is locked by a concurrent client")
        for old in expired:
            self._disconnect(old.handle)
        if session.handle is None:
            session.handle = self._connect()
        session.timeout = query.session_timeout
        return session


def _summary(result: Any, result_bytes: int, elapsed: float) -> dict[str, str]:
    """X-ClickHouse-Summary from chdb's result statistics (chdb does not count result rows)."""
    read_rows, written_rows = result.rows_read(), result.rows_written()
    return {
        "read_rows": str(read_rows), "read_bytes": str(result.bytes_read()),
        "written_rows": str(written_rows), "written_bytes": str(result.bytes_written()),
        "total_rows_to_read": str(read_rows), "result_rows": str(written_rows), "result_bytes": str(result_bytes),
        "elapsed_ns": str(int(elapsed * 1e9)),
    }


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
