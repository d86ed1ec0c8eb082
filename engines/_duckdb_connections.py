"""The DuckDB engine's query connections: configured once, before the configuration is locked, and reused."""

from __future__ import annotations

import contextlib
import logging
import threading

import duckdb

from engines._common import RunningQuery
from engines._ddl_duckdb import quote as _quote

log = logging.getLogger(__name__)

_TEMPORARY_OBJECTS = """
    SELECT 'VIEW', view_name FROM duckdb_views() WHERE temporary AND NOT internal
    UNION ALL SELECT 'TABLE', table_name FROM duckdb_tables() WHERE temporary
    UNION ALL SELECT 'SEQUENCE', sequence_name FROM duckdb_sequences() WHERE temporary
    UNION ALL SELECT DISTINCT CASE WHEN function_type = 'table_macro' THEN 'MACRO TABLE' ELSE 'MACRO' END,
        function_name FROM duckdb_functions() WHERE database_name = 'temp' AND function_type IN ('macro', 'table_macro')
"""


class QueryConnection:
    """One of the engine's query connections. Interrupts go only to the query that asked for them, never to the
    next query reusing the connection."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self.cursor = cursor
        self.current: RunningQuery | None = None
        self._lock = threading.Lock()

    def reset(self, quoted_catalog: str) -> None:
        """Leave nothing of a job behind for the next one: its open transaction, prepared statements, temporary
        objects and ``USE``. The connection itself must stay: with the configuration locked, a new one could not
        get its settings."""
        cur = self.cursor
        with contextlib.suppress(duckdb.Error):
            cur.execute("ROLLBACK")
        try:
            for (name,) in cur.execute("SELECT name FROM duckdb_prepared_statements()").fetchall():
                cur.execute(f"DEALLOCATE {_quote(name)}")
            temporary = cur.execute(_TEMPORARY_OBJECTS).fetchall()
            for kind, name in temporary:
                cur.execute(f"DROP {kind} IF EXISTS temp.main.{_quote(name)} CASCADE")
            cur.execute(f"USE {quoted_catalog}.main")
        except duckdb.Error:
            log.exception("could not reset a DuckDB query connection")

    def interrupt(self, run: RunningQuery) -> None:
        with self._lock:
            if self.current is run:
                self.cursor.interrupt()

    def finish(self, run: RunningQuery) -> None:
        with self._lock:
            if self.current is run:
                self.current = None

