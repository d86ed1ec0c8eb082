"""Query results: one Arrow IPC *file* per job, paged by memory map, exported as a stream; small ones in SQLite.

Why IPC files: the footer indexes every record batch, so a page touches only the batches it overlaps and a
memory map makes that zero-copy. Writes stream batch by batch into a temp file that is renamed into place, so a
reader sees either no result or a whole one. A result that ends within ``SmallResults.max_bytes`` is kept in the
job database instead (``small_results``), one INSERT rather than a file. Recent small results also stay in an
in-memory LRU/TTL cache (``result_cache``), so the hot path (``SELECT 1`` then fetch) never goes back to disk.

Files are not fsync'ed: a result is a re-creatable artifact, and a file torn by a power cut (or truncated or damaged
by anything else) is reported as ``ResultNotAvailable`` like an expired one, wherever the damage shows: opening the
file, reading its footer or reading a batch.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
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
from bqlite_app.jobs.result_cache import CacheStats, ResultCache
from bqlite_app.jobs.small_results import SmallResults
from bqlite_app.jobs.storable import StoredBatches
from bqlite_app.jobs.xlsx import MAX_COLUMNS as XLSX_MAX_COLUMNS

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
    bytes: int          # size of the stored result: its IPC file, or its IPC stream in ``small_results``
    schema: pa.Schema


@dataclass(frozen=True)
class _Meta:
    info: ResultInfo
    starts: tuple[int, ...]     # first row of each batch, then the total: len == num_batches + 1


def _stored_meta(stream: StoredBatches, stored_bytes: int) -> _Meta:
    assert stream.schema is not None
    return _Meta(ResultInfo(rows=stream.starts[-1], bytes=stored_bytes, schema=stream.schema), tuple(stream.starts))


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
        small: SmallResults | None = None,
    ) -> None:
        """Without ``small`` every result gets a file."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._cache = ResultCache(ttl_s=cache_ttl_s, max_bytes=cache_max_bytes,
                                  entry_max_bytes=cache_entry_max_bytes, clock=clock)
        self._small = small
        self._lock = threading.Lock()
        self._meta: OrderedDict[str, _Meta] = OrderedDict()
        self._active_tmp: set[Path] = set()

    def close(self) -> None:
        if self._small is not None:
            self._small.close()

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
        A result that ends within the small store's limit goes there instead of a file.
        """
        final = self.path(job_id)
        known_schema = getattr(batches, "schema", None)  # pa.Table / RecordBatchReader know it even when empty
        stream = StoredBatches(iter(batches.to_batches() if isinstance(batches, pa.Table) else batches), known_schema,
                         on_batch)
        try:
            head = stream.take(self._small.max_bytes) if self._small is not None else []
            if stream.exhausted:
                return self._write_small(job_id, final, stream, head)
            return self._write_file(job_id, final, stream, itertools.chain(head, stream))
        except BaseException:
            stream.close()
            raise

    def _write_small(self, job_id: str, final: Path, stream: StoredBatches, head: list[pa.RecordBatch]) -> ResultInfo:
        assert self._small is not None and stream.schema is not None
        table = pa.Table.from_batches([batch for batch in head if batch.num_rows], schema=stream.schema)
        size = self._small.put(job_id, table)
        final.unlink(missing_ok=True)   # an earlier result of this id, written as a file
        return self._remember(job_id, _stored_meta(stream, size), table)

    def _write_file(self, job_id: str, final: Path, stream: StoredBatches, batches: Iterable[pa.RecordBatch],
                    ) -> ResultInfo:
        tmp = self.root / f"{job_id}.{uuid.uuid4().hex[:12]}{_TMP_SUFFIX}"
        # Batches are kept only while they add up to a cacheable size, so memory stays bounded for any result.
        keep: list[pa.RecordBatch] | None = [] if self._cache.entry_max_bytes > 0 else None
        kept_bytes = 0
        with self._lock:
            self._active_tmp.add(tmp)
        try:
            with pa.OSFile(str(tmp), "wb") as sink:
                writer: pa.ipc.RecordBatchFileWriter | None = None
                try:
                    for batch in batches:
                        if writer is None:
                            writer = pa.ipc.new_file(sink, stream.schema)
                        if not batch.num_rows:
                            continue
                        writer.write_batch(batch)
                        if keep is not None:
                            kept_bytes += batch.get_total_buffer_size()
                            if kept_bytes <= self._cache.entry_max_bytes:
                                keep.append(batch)
                            else:
                                keep = None
                    if writer is None:
                        writer = pa.ipc.new_file(sink, stream.schema)
                finally:
                    if writer is not None:
                        writer.close()
                size = sink.tell()  # the file's size, without a stat() after the rename
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            with self._lock:
                self._active_tmp.discard(tmp)
        if self._small is not None:
            self._small.delete(job_id)  # an earlier result of this id, kept as a small one
        assert stream.schema is not None
        table = pa.Table.from_batches(keep, schema=stream.schema) if keep is not None else None
        return self._remember(job_id, _stored_meta(stream, size), table)

    def _remember(self, job_id: str, meta: _Meta, table: pa.Table | None) -> ResultInfo:
        self._forget(job_id)
        self._remember_meta(job_id, meta)
        if table is not None:
            self._cache.put(job_id, table)
        return meta.info

    # -- reading ----------------------------------------------------------------------------------------------

    def exists(self, job_id: str) -> bool:
        if self._cache.get(job_id, count=False) is not None:
            return True
        if self.path(job_id).is_file():
            return True
        return self._small is not None and self._small.exists(job_id)

    def info(self, job_id: str) -> ResultInfo:
        """Schema, row count and file size; read from the footer and batch headers once, then cached."""
        return self._meta_for(job_id).info

    def page(self, job_id: str, offset: int, limit: int) -> pa.Table:
        """Rows ``[offset, offset + limit)``. Past the end gives an empty table that keeps the schema.

        The table may point into a memory map of the file; that stays valid even if the file is deleted meanwhile.
        """
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must be >= 0")
        cached = self._cache.get(job_id)
        if cached is None:
            cached = self._small_table(job_id)
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
        cached = self._cache.get(job_id)
        if cached is None:
            cached = self._small_table(job_id)
        if cached is not None:
            return iter(cached.to_batches())
        reader = self._open(job_id)
        with _unreadable(job_id):
            return iter([reader.get_batch(i) for i in range(reader.num_record_batches)])

    def table(self, job_id: str) -> pa.Table:
        """The whole result as one table without reading it: a small one from memory, a file's batches on its
        memory map (zero-copy; pages are read only when something touches them). For DuckDB to scan in place."""
        cached = self._cache.get(job_id)
        if cached is None:
            cached = self._small_table(job_id)
        if cached is not None:
            return cached
        meta = self._meta_for(job_id)
        reader = self._open(job_id)
        with _unreadable(job_id):
            return pa.Table.from_batches([reader.get_batch(i) for i in range(reader.num_record_batches)],
                                         schema=meta.info.schema)

    def schema(self, job_id: str) -> pa.Schema:
        cached = self._cache.get(job_id, count=False)
        return cached.schema if cached is not None else self._meta_for(job_id).info.schema

    def export(self, job_id: str, fmt: ExportFormat, *,
               rows: Callable[[], Iterator[pa.RecordBatch]] | None = None) -> Iterator[bytes]:
        """The whole result as ``fmt`` bytes, chunk by chunk, in bounded memory (see ``exports``). ``rows``, called
        after the checks, gives the batches instead of the stored ones (the result sorted or filtered, its schema).

        Checks run eagerly: an unknown format raises ``ValidationFailed`` and a missing result raises
        ``ResultNotAvailable`` here, before an HTTP response would have started streaming.
        """
        if fmt not in EXPORT_FORMATS:
            raise ValidationFailed(f"unknown export format {fmt!r}; expected one of {sorted(EXPORT_FORMATS)}")
        schema = self.schema(job_id)
        if fmt == "xlsx" and len(schema) > XLSX_MAX_COLUMNS:
            raise ValidationFailed(f"the result has {len(schema):,} columns; an Excel sheet holds at most "
                                   f"{XLSX_MAX_COLUMNS:,}. Export it as csv or parquet")
        batches = self.iter_batches(job_id) if rows is None else rows()
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
        """Remove the result; True when there was one."""
        path = self.path(job_id)
        self._forget(job_id)
        small = self._small is not None and self._small.delete(job_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return small
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
        for job_id in self._small.cleanup(max_age_s) if self._small is not None else ():
            self._forget(job_id)
            removed += 1
        self._cache.purge_expired()
        return removed

    # -- memory -----------------------------------------------------------------------------------------------

    @property
    def cache_stats(self) -> CacheStats:
        return self._cache.stats

    def _small_table(self, job_id: str) -> pa.Table | None:
        found = self._load_small(job_id)
        return found[0] if found is not None else None

    def _load_small(self, job_id: str) -> tuple[pa.Table, _Meta] | None:
        """A small result read back from the database (and remembered), or None when it is not one."""
        found = self._small.get(job_id) if self._small is not None else None
        if found is None:
            return None
        table, size = found
        starts = [0]
        for batch in table.to_batches():
            if batch.num_rows:
                starts.append(starts[-1] + batch.num_rows)
        meta = _Meta(ResultInfo(rows=table.num_rows, bytes=size, schema=table.schema), tuple(starts))
        self._remember(job_id, meta, table)
        return table, meta

    def _forget(self, job_id: str) -> None:
        self._cache.discard(job_id)
        with self._lock:
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
        small = self._load_small(job_id)
        if small is not None:
            return small[1]
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
