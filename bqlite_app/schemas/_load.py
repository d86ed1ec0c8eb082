"""The registry's ingest step: decode a spooled body (natively in chdb when it can, else in Python) into the tables.

Also the one place where an engine that cannot take the work right now (``EngineUnavailable``: every pooled client
busy past the lease timeout, or not started) becomes ``ServiceUnavailable``, a 503 with ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa

from bqlite_app.errors import ServiceUnavailable
from bqlite_app.schemas.compiler import CompiledSchema
from bqlite_app.schemas.ingest import IngestFormat, IngestResult, ProgressCallback, ingest, load_batches
from bqlite_app.schemas.native import NativeDecodeError, native_batches
from bqlite_app.schemas.translate import columns_for
from engines.base import BulkInsert, Engine
from engines.errors import EngineError, EngineUnavailable

log = logging.getLogger(__name__)


@contextlib.contextmanager
def engine_errors() -> Iterator[None]:
    """Turn ``EngineUnavailable`` into a 503 the client may retry, instead of a 500."""
    try:
        yield
    except EngineUnavailable as exc:
        raise ServiceUnavailable(f"{exc}; try again shortly") from exc


def load_body(
    compiled: CompiledSchema, message: str, body: Path, fmt: IngestFormat, engines: dict[str, Engine],
    database: str, table: str, *, decoders: Iterable[Engine], max_depth: int, work_dir: Path,
    on_progress: ProgressCallback | None = None,
) -> IngestResult:
    """Ingest ``body`` into ``database.table`` of every engine in ``engines``, all or nothing per engine.

    The first of ``decoders`` that declares ``supports_native_protobuf`` decodes the body when it can (it need not
    be a target); otherwise, or when it declines or rejects the body, the Python decoder does.
    """
    native = next((engine for engine in decoders if engine.supports_native_protobuf), None)
    fast = _ingest_natively(compiled, message, body, fmt, engines, database, table, native=native,
                            max_depth=max_depth, work_dir=work_dir, on_progress=on_progress)
    if fast is not None:
        return fast
    with body.open("rb") as source:
        return ingest(compiled, message, source, fmt, _open_targets(engines, database, table),
                      max_depth=max_depth, on_progress=on_progress)


def _ingest_natively(
    compiled: CompiledSchema, message: str, body: Path, fmt: IngestFormat, engines: dict[str, Engine],
    database: str, table: str, *, native: Engine | None, max_depth: int, work_dir: Path,
    on_progress: ProgressCallback | None,
) -> IngestResult | None:
    """An engine's own Protobuf reader (embedded chdb) decodes ~10x faster than Python for the shapes it
    reproduces exactly. None means: use the Python path (no such engine, unsupported shape, no decode client free,
    or the engine rejected the body, in which case the Python path names the bad message precisely)."""
    if native is None:
        return None
    started = time.monotonic()
    columns = columns_for(compiled.descriptor(message), max_depth=max_depth)
    batches = native_batches(native, compiled, message, body, fmt, columns, work_dir=work_dir)
    if batches is None:
        return None
    rows = 0

    def counted() -> Iterator[pa.RecordBatch]:
        nonlocal rows
        for batch in batches:
            rows += batch.num_rows
            if on_progress is not None:
                on_progress(0, rows)
            yield batch

    try:
        committed = load_batches(counted(), _open_targets(engines, database, table))
    except NativeDecodeError as exc:
        log.info("native decode of an ingest body for %s.%s failed (%s); using the Python decoder",
                 database, table, exc)
        return None
    size = body.stat().st_size
    if on_progress is not None:
        on_progress(size, rows)
    return IngestResult(rows=rows, bytes=size, duration_ms=int((time.monotonic() - started) * 1000),
                        engines=committed)


def _open_targets(engines: dict[str, Engine], database: str, table: str) -> dict[str, BulkInsert]:
    targets: dict[str, BulkInsert] = {}
    try:
        for name, engine in engines.items():
            targets[name] = engine.open_insert(database, table)
    except EngineError:
        for target in targets.values():
            target.abort()
        raise
    return targets
