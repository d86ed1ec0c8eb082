"""All-or-nothing inserts of many batches (``Engine.open_insert``), for ingesting bodies larger than memory.

- DuckDB: one transaction on a private connection; uncommitted rows spill to disk, and ROLLBACK leaves no trace.
- ClickHouse: batches go to a staging table with the target's structure; commit moves its parts into the target
  with ``ATTACH PARTITION ... FROM`` (parts are hard-linked, and readers see all of them or none), then drops the
  staging table. Tables created from neutral types have no partition key, so that is a single partition ``all``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import duckdb
import pyarrow as pa

from engines import _ddl_clickhouse, _ddl_duckdb
from engines.errors import EngineError


class DuckDBBulkInsert:
    def __init__(self, cursor: duckdb.DuckDBPyConnection, database: str, table: str,
                 translate: Callable[[Exception], EngineError]) -> None:
        self._cur = cursor
        self._target = _ddl_duckdb.qualified(database, table)
        self._translate = translate
        self._rows = 0
        self._open = True
        self._run(lambda: self._cur.begin())

    def write(self, batch: pa.RecordBatch) -> None:
        view = f"__bqlite_batch_{uuid.uuid4().hex}"
        self._cur.register(view, batch)
        try:
            self._run(lambda: self._cur.execute(f"INSERT INTO {self._target} BY NAME SELECT * FROM {view}"))
        finally:
            if self._open:  # a failed statement aborts and closes the connection, and the view with it
                self._cur.unregister(view)
        self._rows += batch.num_rows

    def commit(self) -> int:
        self._run(lambda: self._cur.commit())
        self._close()
        return self._rows

    def abort(self) -> None:
        if self._open:
            try:
                self._cur.rollback()
            except duckdb.Error:
                pass  # the transaction is already gone (a failed statement aborts it)
            self._close()

    def _run(self, action: Callable[[], object]) -> None:
        try:
            action()
        except duckdb.Error as exc:
            self.abort()
            raise self._translate(exc) from exc

    def _close(self) -> None:
        self._open = False
        self._cur.close()


class ClickHouseBulkInsert:
    def __init__(self, command: Callable[[str], None], insert: Callable[[str, str, pa.Table], int],
                 database: str, table: str) -> None:
        self._command = command
        self._insert = insert
        self._database = database
        self._target = _ddl_clickhouse.qualified(database, table)
        self._stage_name = f"__bqlite_stage_{uuid.uuid4().hex[:16]}"
        self._stage = _ddl_clickhouse.qualified(database, self._stage_name)
        self._rows = 0
        self._command(f"CREATE TABLE {self._stage} AS {self._target}")

    def write(self, batch: pa.RecordBatch) -> None:
        try:
            self._insert(self._database, self._stage_name, pa.Table.from_batches([batch]))
        except EngineError:
            self.abort()
            raise
        self._rows += batch.num_rows

    def commit(self) -> int:
        try:
            if self._rows:
                self._command(f"ALTER TABLE {self._target} ATTACH PARTITION ID 'all' FROM {self._stage}")
        finally:
            self.abort()
        return self._rows

    def abort(self) -> None:
        self._command(f"DROP TABLE IF EXISTS {self._stage} SYNC")
