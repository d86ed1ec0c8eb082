"""Query results on disk: one Arrow IPC *file* per job, paged by memory map, exported as a stream.

Why IPC files: the footer indexes every record batch, so a page touches only the batches it overlaps and a
memory map makes that zero-copy. Writes stream batch by batch into a temp file that is renamed into place, so a
reader sees either no result or a whole one. Small results also stay in an in-memory LRU/TTL cache, so the hot
path (``SELECT 1`` then fetch) never goes back to disk.

Files are not fsync'ed: a result is a re-creatable artifact, and a file torn by a power cut (or truncated or damaged
by anything else) is reported as ``ResultNotAvailable`` like an expired one, wherever the damage shows: opening the
file, reading its footer or reading a batch.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import os
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from bqlite_app.errors import ResultNotAvailable, ValidationFailed
from bqlite_app.jobs.exports import EXPORT_FORMATS, ExportFormat, stream_export
from bqlite_app.jobs.storable import conform, storable_schema

__all__ = ["EXPORT_FORMATS", "CacheStats", "ExportFormat", "ResultInfo", "ResultStore"]

log = logging.getLogger(__name__)

_SUFFIX = ".arrow"
_TMP_SUFFIX = ".tmp"
# Job ids become file names: no separators, no leading dot (that would hide the file or climb out of root).
_JOB_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")
# A temp file that nobody in this process writes and that has not been touched for this long is a crash leftover.
_STRAY_TMP_GRACE_S = 60.0
_MAX_META_ENTRIES = 4096


@dataclass(frozen=True)
class ResultInfo:
    rows: int
    bytes: int          # size of the IPC file on disk
    schema: pa.Schema


@dataclass(frozen=True)
class CacheStats:
    entries: int
    bytes: int
    hits: int
    misses: int


@dataclass(frozen=True)
class _Meta:
    info: ResultInfo
    starts: tuple[int, ...]     # first row of each batch, then the total: len == num_batches + 1


@dataclass
class _Entry:
    table: pa.Table
    nbytes: int
    expires_at: float


class ResultStore:
    """Arrow IPC results under ``root``. Thread-safe; one instance per process."""

    def __init__(
        self,
        root: Path,
        *,
        cache_ttl_s: float = 300,
        cache_max_bytes: int = 256 * 1024**2,
        cache_entry_max_bytes: int = 8 * 1024**2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._ttl = cache_ttl_s
        self._max_bytes = cache_max_bytes
        self._entry_max = min(cache_entry_max_bytes, cache_max_bytes)
        self._clock = clock
        self._lock = threading.Lock()
        self._tables: OrderedDict[str, _Entry] = OrderedDict()
        self._next_purge = 0.0
        self._table_bytes = 0
        self._meta: OrderedDict[str, _Meta] = OrderedDict()
        self._active_tmp: set[Path] = set()
        self._hits = 0
        self._misses = 0

    # -- paths ------------------------------------------------------------------------------------------------

    def path(self, job_id: str) -> Path:
        if not _JOB_ID.fullmatch(job_id):
            raise ValueError(f"not a valid job id for a result file: {job_id!r}")
        return self.root / f"{job_id}{_SUFFIX}"

    # -- writing ----------------------------------------------------------------------------------------------

    def write(
        self,
        job_id: str,
        batches: Iterable[pa.RecordBatch],
        *,
        on_batch: Callable[[int], None] | None = None,
    ) -> ResultInfo:
        """Stream ``batches`` into the result of ``job_id``, replacing any previous one.

        The first batch fixes the schema (it may have 0 rows); nothing at all gives an empty result with an empty
        schema. ``on_batch(rows_so_far)`` runs after every batch; if it (or the iterator) raises, the partial file
        is removed, the iterator is closed and the exception propagates, so a cancel can be signalled from there.
        Dictionary-encoded columns are stored decoded: IPC files cannot hold a different dictionary per batch.
        """
        final = self.path(job_id)
        tmp = self.root / f"{job_id}.{uuid.uuid4().hex[:12]}{_TMP_SUFFIX}"
        known_schema = getattr(batches, "schema", None)  # pa.Table / RecordBatchReader know it even when empty
        source = iter(batches.to_batches() if isinstance(batches, pa.Table) else batches)
        with self._lock:
            self._active_tmp.add(tmp)
        try:
            keep, starts, schema, size = self._write_file(tmp, source, known_schema, on_batch)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            close = getattr(source, "close", None)
            if close is not None:
                # Stops the engine's generator (its finally releases the cursor); never mask the first error.
                with contextlib.suppress(Exception):
                    close()
            raise
        finally:
            with self._lock:
                self._active_tmp.discard(tmp)
        info = ResultInfo(rows=starts[-1], bytes=size, schema=schema)
        self._forget(job_id)
        self._remember_meta(job_id, _Meta(info, tuple(starts)))
        if keep is not None:
            self._cache_put(job_id, pa.Table.from_batches(keep, schema=schema))
        return info

    def _write_file(
        self,
        tmp: Path,
        source: Iterator[pa.RecordBatch],
        known_schema: pa.Schema | None,
        on_batch: Callable[[int], None] | None,
    ) -> tuple[list[pa.RecordBatch] | None, list[int], pa.Schema, int]:
        # Batches are kept only while they add up to a cacheable size, so memory stays bounded for any result.
        keep: list[pa.RecordBatch] | None = [] if self._entry_max > 0 and self._ttl > 0 else None
        kept_bytes = 0
        starts = [0]
        schema: pa.Schema | None = None
        writer: pa.ipc.RecordBatchFileWriter | None = None
        with pa.OSFile(str(tmp), "wb") as sink:
            try:
                for batch in source:
                    if writer is None:
                        schema = storable_schema(batch.schema)
                        writer = pa.ipc.new_file(sink, schema)
                    batch = conform(batch, schema)
                    if batch.num_rows:
                        writer.write_batch(batch)
                        starts.append(starts[-1] + batch.num_rows)
                        if keep is not None:
                            kept_bytes += batch.get_total_buffer_size()
                            if kept_bytes <= self._entry_max:
                                keep.append(batch)
                            else:
                                keep = None
                    if on_batch is not None:
                        on_batch(starts[-1])
                if writer is None:
                    schema = storable_schema(known_schema if known_schema is not None else pa.schema([]))
                    writer = pa.ipc.new_file(sink, schema)
            finally:
                if writer is not None:
                    writer.close()
            size = sink.tell()  # the file's size, without a stat() after the rename
        assert schema is not None
        return keep, starts, schema, size

    # -- reading ----------------------------------------------------------------------------------------------

    def exists(self, job_id: str) -> bool:
        if self._cache_get(job_id, count=False) is not None:
            return True
        return self.path(job_id).is_file()

    def info(self, job_id: str) -> ResultInfo:
        """Schema, row count and file size; read from the footer and batch headers once, then cached."""
        return self._meta_for(job_id).info

    def page(self, job_id: str, offset: int, limit: int) -> pa.Table:
        """Rows ``[offset, offset + limit)``. Past the end gives an empty table that keeps the schema.

        The table may point into a memory map of the file; that stays valid even if the file is deleted meanwhile.
        """
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must be >= 0")
        cached = self._cache_get(job_id)
        if cached is not None:
            return cached.slice(offset, limit)
        meta = self._meta_for(job_id)
        starts, total = meta.starts, meta.starts[-1]
        end = min(total, offset + limit)
        if offset >= end:
            return meta.info.schema.empty_table()
        reader = self._open(job_id)
        pieces = []
        i = bisect.bisect_right(starts, offset) - 1
        with _unreadable(job_id):
            while i < len(starts) - 1 and starts[i] < end:
                batch = reader.get_batch(i)
                lo = max(offset - starts[i], 0)
                hi = min(end - starts[i], batch.num_rows)
                pieces.append(batch.slice(lo, hi - lo))
                i += 1
            return pa.Table.from_batches(pieces, schema=reader.schema)

    def iter_batches(self, job_id: str) -> Iterator[pa.RecordBatch]:
        """Every batch of the result, one at a time. Raises ``ResultNotAvailable`` now, not on first ``next``:
        every batch header is read up front (on a memory map that maps the bodies without reading them), so a
        damaged file fails before an export has sent its first byte."""
        cached = self._cache_get(job_id)
        if cached is not None:
            return iter(cached.to_batches())
        reader = self._open(job_id)
        with _unreadable(job_id):
            return iter([reader.get_batch(i) for i in range(reader.num_record_batches)])

    def schema(self, job_id: str) -> pa.Schema:
        cached = self._cache_get(job_id, count=False)
        return cached.schema if cached is not None else self._meta_for(job_id).info.schema

    def export(self, job_id: str, fmt: ExportFormat) -> Iterator[bytes]:
        """The whole result as ``fmt`` bytes, chunk by chunk, in bounded memory (see ``exports``).

        Checks run eagerly: an unknown format raises ``ValidationFailed`` and a missing result raises
        ``ResultNotAvailable`` here, before an HTTP response would have started streaming.
        """
        if fmt not in EXPORT_FORMATS:
            raise ValidationFailed(f"unknown export format {fmt!r}; expected one of {sorted(EXPORT_FORMATS)}")
        schema = self.schema(job_id)
        batches = self.iter_batches(job_id)
        return self._spooled(job_id, lambda spool: stream_export(batches, schema, fmt, spool=spool))

    def _spooled(self, job_id: str, export: Callable[[Path], Iterator[bytes]]) -> Iterator[bytes]:
        # The scratch file is a temp file of this store: cleanup leaves it alone while the export runs, and removes
        # it if a crash leaves it behind.
        spool = self.root / f"{job_id}.{uuid.uuid4().hex[:12]}.export{_TMP_SUFFIX}"
        with self._lock:
            self._active_tmp.add(spool)
        try:
            yield from export(spool)
        finally:
            with self._lock:
                self._active_tmp.discard(spool)
            spool.unlink(missing_ok=True)

    # -- removal ----------------------------------------------------------------------------------------------

    def delete(self, job_id: str) -> bool:
        """Remove the result; True when a file was there."""
        path = self.path(job_id)
        self._forget(job_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def cleanup(self, max_age_s: float) -> int:
        """Remove results whose file is older than ``max_age_s``, and temp files left by crashed writers (not
        written by this store right now and untouched for ``min(max_age_s, 60 s)``). Returns how many went."""
        now = time.time()
        tmp_age = min(max_age_s, _STRAY_TMP_GRACE_S)
        removed = 0
        entries = list(self.root.iterdir())
        # Snapshot after listing: a writer registers its temp path before creating the file, so every temp file
        # listed above that is still being written is in this set.
        with self._lock:
            active = set(self._active_tmp)
        for path in entries:
            if path.name.endswith(_SUFFIX):
                limit = max_age_s
            elif path.name.endswith(_TMP_SUFFIX) and path not in active:
                limit = tmp_age
            else:
                continue
            try:
                if now - path.stat().st_mtime <= limit:
                    continue
                path.unlink()
            except FileNotFoundError:
                continue
            if path.name.endswith(_SUFFIX):
                self._forget(path.name[: -len(_SUFFIX)])
            removed += 1
        self._purge_expired()
        return removed

    # -- cache ------------------------------------------------------------------------------------------------

    @property
    def cache_stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(len(self._tables), self._table_bytes, self._hits, self._misses)

    def _cache_get(self, job_id: str, *, count: bool = True) -> pa.Table | None:
        with self._lock:
            entry = self._tables.get(job_id)
            if entry is not None and entry.expires_at <= self._clock():
                self._drop_table(job_id)
                entry = None
            if entry is None:
                self._misses += count
                return None
            self._tables.move_to_end(job_id)
            self._hits += count
            return entry.table

    def _cache_put(self, job_id: str, table: pa.Table) -> None:
        nbytes = table.get_total_buffer_size()
        if nbytes > self._entry_max:
            return
        with self._lock:
            self._drop_table(job_id)
            self._purge_expired_locked()
            while self._tables and self._table_bytes + nbytes > self._max_bytes:
                self._drop_table(next(iter(self._tables)))
            self._tables[job_id] = _Entry(table, nbytes, self._clock() + self._ttl)
            self._table_bytes += nbytes

    def _drop_table(self, job_id: str) -> None:
        entry = self._tables.pop(job_id, None)
        if entry is not None:
            self._table_bytes -= entry.nbytes

    def _purge_expired(self) -> None:
        with self._lock:
            self._purge_expired_locked()

    def _purge_expired_locked(self) -> None:
        # A full scan at most once a second: scanning on every put made caching many small results quadratic.
        now = self._clock()
        if now < self._next_purge:
            return
        self._next_purge = now + 1.0
        for job_id in [k for k, e in self._tables.items() if e.expires_at <= now]:
            self._drop_table(job_id)

    def _forget(self, job_id: str) -> None:
        with self._lock:
            self._drop_table(job_id)
            self._meta.pop(job_id, None)

    def _remember_meta(self, job_id: str, meta: _Meta) -> None:
        with self._lock:
            self._meta[job_id] = meta
            self._meta.move_to_end(job_id)
            while len(self._meta) > _MAX_META_ENTRIES:
                self._meta.popitem(last=False)

    def _meta_for(self, job_id: str) -> _Meta:
        with self._lock:
            meta = self._meta.get(job_id)
            if meta is not None:
                self._meta.move_to_end(job_id)
                return meta
        reader = self._open(job_id)
        # Batch headers only: on a memory map, get_batch reads metadata and maps the bodies without touching them.
        # A damaged footer or batch header shows here, before any page or export is answered.
        starts = [0]
        with _unreadable(job_id):
            for i in range(reader.num_record_batches):
                starts.append(starts[-1] + reader.get_batch(i).num_rows)
        try:
            size = self.path(job_id).stat().st_size
        except FileNotFoundError:  # removed since we mapped it; the map still answers this call
            size = 0
        meta = _Meta(ResultInfo(rows=starts[-1], bytes=size, schema=reader.schema), tuple(starts))
        self._remember_meta(job_id, meta)
        return meta

    def _open(self, job_id: str) -> pa.ipc.RecordBatchFileReader:
        path = self.path(job_id)
        try:
            source = pa.memory_map(str(path), "r")
        except FileNotFoundError:
            raise ResultNotAvailable(
                f"The result of job {job_id} is no longer available; it expired or was removed. Run the query again."
            ) from None
        except OSError as e:
            raise _damaged(job_id, e) from e
        with _unreadable(job_id):
            return pa.ipc.open_file(source)


@contextlib.contextmanager
def _unreadable(job_id: str) -> Iterator[None]:
    """Any Arrow or I/O error while reading a stored result means the file is damaged (truncated, torn by a crash,
    overwritten): the job's answer is that its result is gone, never an internal error."""
    try:
        yield
    except (pa.ArrowException, OSError) as e:
        raise _damaged(job_id, e) from e


def _damaged(job_id: str, error: Exception) -> ResultNotAvailable:
    # Logged with Arrow's own words for the operator; the client gets a plain sentence.
    log.warning("the stored result of job %s is unreadable: %s", job_id, error)
    return ResultNotAvailable(
        f"The stored result of job {job_id} is unreadable (the file is damaged). Run the query again.")
