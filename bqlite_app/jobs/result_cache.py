"""Recent small results kept as Arrow tables in memory (LRU, with a time to live), so ``SELECT 1`` and then its
page never go back to disk."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class CacheStats:
    entries: int
    bytes: int
    hits: int
    misses: int


@dataclass
class _Entry:
    table: pa.Table
    nbytes: int
    expires_at: float


class ResultCache:
    """Thread-safe. Tables over ``entry_max_bytes`` are never kept; the oldest go when ``max_bytes`` is reached."""

    def __init__(self, *, ttl_s: float, max_bytes: int, entry_max_bytes: int, clock: Callable[[], float]) -> None:
        self._ttl = ttl_s
        self._max_bytes = max_bytes
        self.entry_max_bytes = min(entry_max_bytes, max_bytes) if ttl_s > 0 else 0
        self._clock = clock
        self._lock = threading.Lock()
        self._tables: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._next_purge = 0.0
        self._hits = 0
        self._misses = 0

    @property
    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(len(self._tables), self._bytes, self._hits, self._misses)

    def get(self, job_id: str, *, count: bool = True) -> pa.Table | None:
        with self._lock:
            entry = self._tables.get(job_id)
            if entry is not None and entry.expires_at <= self._clock():
                self._drop(job_id)
                entry = None
            if entry is None:
                self._misses += count
                return None
            self._tables.move_to_end(job_id)
            self._hits += count
            return entry.table

    def put(self, job_id: str, table: pa.Table) -> None:
        nbytes = table.get_total_buffer_size()
        if nbytes > self.entry_max_bytes:
            return
        with self._lock:
            self._drop(job_id)
            self._purge_expired_locked()
            while self._tables and self._bytes + nbytes > self._max_bytes:
                self._drop(next(iter(self._tables)))
            self._tables[job_id] = _Entry(table, nbytes, self._clock() + self._ttl)
            self._bytes += nbytes

    def discard(self, job_id: str) -> None:
        with self._lock:
            self._drop(job_id)

    def purge_expired(self) -> None:
        with self._lock:
            self._purge_expired_locked()

    def _drop(self, job_id: str) -> None:
        entry = self._tables.pop(job_id, None)
        if entry is not None:
            self._bytes -= entry.nbytes

    def _purge_expired_locked(self) -> None:
        # A full scan at most once a second: scanning on every put made caching many small results quadratic.
        now = self._clock()
        if now < self._next_purge:
            return
        self._next_purge = now + 1.0
        for job_id in [k for k, e in self._tables.items() if e.expires_at <= now]:
            self._drop(job_id)
