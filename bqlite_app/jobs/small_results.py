"""Small results as Arrow IPC streams in the job database, instead of a file each.

Most interactive queries return a handful of rows. Writing each as its own IPC file (create, write, footer, rename)
cost more than running ``SELECT 1``; one INSERT of a few hundred bytes into the SQLite file the job history already
uses costs a quarter of that, and survives a restart just as well.
"""

from __future__ import annotations

import threading
import time

import pyarrow as pa

from bqlite_app.db import Database, busy_is_unavailable

# Arrow buffer bytes: a few thousand narrow rows. Larger results get a file, whose footer pages them by memory map.
MAX_BYTES = 64 * 1024
_SCHEMA = ("CREATE TABLE IF NOT EXISTS small_results ("
           "job_id TEXT PRIMARY KEY, written_at REAL NOT NULL, ipc BLOB NOT NULL)")
_WRITTEN_AT_INDEX = "CREATE INDEX IF NOT EXISTS ix_small_results_written_at ON small_results (written_at)"


class SmallResults:
    """Thread-safe: one writer connection under a lock, as the job store's."""

    def __init__(self, db: Database, *, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes      # the largest result (Arrow buffer bytes) kept here; larger ones get a file
        self._writer = db.writer()
        self._writer.execute(_SCHEMA)
        self._writer.execute(_WRITTEN_AT_INDEX)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._writer.close()

    def put(self, job_id: str, table: pa.Table) -> int:
        """Store ``table`` (replacing any earlier one of the job); returns its size in bytes."""
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        blob = sink.getvalue().to_pybytes()
        with self._lock, busy_is_unavailable("results"):
            self._writer.execute("INSERT OR REPLACE INTO small_results VALUES (?, ?, ?)", (job_id, time.time(), blob))
        return len(blob)

    def get(self, job_id: str) -> tuple[pa.Table, int] | None:
        """The stored table and its size in bytes, or None."""
        with self._lock:
            row = self._writer.execute("SELECT ipc FROM small_results WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        return pa.ipc.open_stream(row[0]).read_all(), len(row[0])

    def exists(self, job_id: str) -> bool:
        with self._lock:
            row = self._writer.execute("SELECT 1 FROM small_results WHERE job_id = ?", (job_id,)).fetchone()
        return row is not None

    def delete(self, job_id: str) -> bool:
        with self._lock, busy_is_unavailable("results"):
            return self._writer.execute("DELETE FROM small_results WHERE job_id = ?", (job_id,)).rowcount > 0

    def cleanup(self, max_age_s: float) -> list[str]:
        """Remove results written more than ``max_age_s`` ago; returns their job ids."""
        cutoff = time.time() - max_age_s
        with self._lock, busy_is_unavailable("results"):
            rows = self._writer.execute("DELETE FROM small_results WHERE written_at < ? RETURNING job_id",
                                        (cutoff,)).fetchall()
        return [job_id for (job_id,) in rows]
