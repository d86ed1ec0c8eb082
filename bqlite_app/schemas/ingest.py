"""Binary protobuf -> Arrow batches -> engines, all or nothing (docs/protobuf-mapping.md, "Ingestion").

The body is framed in chunks (``_frames``), each message is parsed by the upb runtime, and every ``batch_rows``
messages become one Arrow record batch built column by column (``_arrow_build``). Memory holds one chunk and one
batch, never the body.

Errors name the message by its 0-based index and the byte offset where it starts in the body (for ``delimited``,
the offset of its length prefix); ``jsonl`` errors add the 1-based line number. The first bad message stops the
ingest before any target commits.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from operator import methodcaller
from typing import BinaryIO, Literal

import pyarrow as pa
from google.protobuf import json_format
from google.protobuf.message import Message

from bqlite_app.errors import ProtobufDecodeFailed, ValidationFailed
from bqlite_app.schemas import _frames, _wire
from bqlite_app.schemas._arrow_build import MessageBuilder, required_anywhere
from bqlite_app.schemas.compiler import CompiledSchema
from engines.base import BulkInsert

IngestFormat = Literal["delimited", "single", "jsonl"]
ProgressCallback = Callable[[int, int], None]   # (bytes consumed, messages decoded)

# A batch is cut at batch_rows messages or at this many payload bytes, whichever comes first, so large messages do
# not make a batch of 65536 of them.
BATCH_BYTES = 32 << 20
# Messages are turned into columns this many (or this many payload bytes) at a time (see _Decoder._chunk).
CHUNK_ROWS = 2048
CHUNK_BYTES = 8 << 20
# Decoded batches waiting for the inserts (see _prefetched): enough to ride out an uneven batch, bounded in memory.
PREFETCH_BATCHES = 2

log = logging.getLogger(__name__)

_FRAMERS: dict[str, Callable[[BinaryIO], Iterator[_frames.Frame]]] = {
    "delimited": _frames.delimited, "single": _frames.single, "jsonl": _frames.jsonl,
}
_is_initialized = methodcaller("IsInitialized")


@dataclass
class IngestResult:
    rows: int
    bytes: int
    duration_ms: int
    engines: dict[str, int] = field(default_factory=dict)   # engine -> rows inserted


class _Decoder:
    """Iterates record batches and keeps the running totals ``ingest`` reports."""

    def __init__(self, compiled: CompiledSchema, message_name: str, source: BinaryIO, fmt: str, *,
                 max_depth: int, batch_rows: int, on_progress: ProgressCallback | None) -> None:
        if fmt not in _FRAMERS:
            raise ValidationFailed(f"unknown ingest format {fmt!r}; use delimited, single or jsonl")
        self.message_class: type[Message] = compiled.message_class(message_name)
        descriptor = self.message_class.DESCRIPTOR
        self.builder = MessageBuilder(descriptor, max_depth=max_depth)
        self.schema = pa.schema(self.builder.fields)
        self._check_required = required_anywhere(descriptor)
        self._source, self._fmt = _Counted(source), fmt
        self._batch_rows = max(1, batch_rows)
        self._on_progress = on_progress
        self.messages = 0           # messages decoded so far
        self.bytes = 0              # body bytes consumed so far

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        json_lines = self._fmt == "jsonl"
        from_string = self.message_class.FromString
        chunk_rows = min(CHUNK_ROWS, self._batch_rows)   # shrinks so a batch ends exactly at batch_rows
        messages: list[Message] = []
        offsets: list[int] = []     # where each message of the chunk starts (ints: no GC-tracked tuples)
        lines: list[int] = []
        ready: list[pa.RecordBatch] = []
        ready_rows = ready_bytes = chunk_bytes = 0
        frames = _FRAMERS[self._fmt](self._source)
        try:
            for offset, end, payload, line in frames:
                if json_lines:
                    message = self._parse_json(payload, self.messages + len(messages), offset, line)
                else:
                    try:
                        message = from_string(payload)
                    except Exception as exc:   # upb raises DecodeError; anything else is this message's fault too
                        raise self._binary_failure(payload, exc, self.messages + len(messages), offset) from None
                messages.append(message)
                offsets.append(offset)
                lines.append(line)
                chunk_bytes += len(payload)
                if len(messages) >= chunk_rows or chunk_bytes >= CHUNK_BYTES:
                    self.bytes = end
                    ready.append(self._chunk(messages, offsets, lines))
                    ready_rows += len(messages)
                    ready_bytes += chunk_bytes
                    messages, offsets, lines, chunk_bytes = [], [], [], 0
                    if ready_rows >= self._batch_rows or ready_bytes >= BATCH_BYTES:
                        yield self._emit(ready)
                        ready, ready_rows, ready_bytes = [], 0, 0
                    chunk_rows = min(CHUNK_ROWS, self._batch_rows - ready_rows)
        except _frames.FrameError as exc:
            raise self._failed(self.messages + len(messages), exc.offset, exc.line, exc.reason) from None
        self.bytes = self._source.total
        if messages:
            ready.append(self._chunk(messages, offsets, lines))
        if ready:
            yield self._emit(ready)

    def _binary_failure(self, payload: bytes, exc: Exception, index: int, offset: int) -> ProtobufDecodeFailed:
        reason = _wire.diagnose(payload, self.message_class.DESCRIPTOR) or _upb_reason(exc)
        return self._failed(index, offset, 0, reason)

    def _parse_json(self, payload: bytes, index: int, offset: int, line: int) -> Message:
        message = self.message_class()
        try:
            # Parse accepts both the .proto field names and their lowerCamel JSON names.
            json_format.Parse(payload.decode("utf-8-sig"), message,
                              descriptor_pool=self.message_class.DESCRIPTOR.file.pool)
        except UnicodeDecodeError as exc:
            raise self._failed(index, offset, line, f"the line is not valid UTF-8 ({exc.reason})") from None
        except Exception as exc:   # ParseError, and ValueError/TypeError/RecursionError from odd JSON
            raise self._failed(index, offset, line, "invalid JSON message: " + " ".join(str(exc).split())) from None
        return message

    def _chunk(self, messages: list[Message], offsets: list[int], lines: list[int]) -> pa.RecordBatch:
        """Columns for a few thousand messages, after which the messages are dropped.

        Building in chunks rather than per batch keeps few message objects alive: tens of thousands of survivors
        make the cyclic GC rescan them over and over (about 15% of the decode time for a flat message).
        """
        first = self.messages
        try:
            batch = self._build(messages)
        except Exception:
            # Find the first message that fails alone; its own error names the field.
            for i, message in enumerate(messages):
                try:
                    self._build([message])
                except Exception as exc:
                    raise self._failed(first + i, offsets[i], lines[i], str(exc)) from None
            raise
        self.messages += len(messages)
        return batch

    def _emit(self, chunks: list[pa.RecordBatch]) -> pa.RecordBatch:
        batch = chunks[0] if len(chunks) == 1 else pa.concat_batches(chunks)
        if self._on_progress is not None:
            self._on_progress(self.bytes, self.messages)
        return batch

    def _build(self, messages: list[Message]) -> pa.RecordBatch:
        if self._check_required and not all(map(_is_initialized, messages)):
            missing = next(m for m in messages if not m.IsInitialized()).FindInitializationErrors()
            raise ValueError(f"missing required field(s): {', '.join(missing)}")
        return pa.RecordBatch.from_arrays(self.builder.arrays(messages), schema=self.schema)

    def _failed(self, index: int, offset: int, line: int, reason: str) -> ProtobufDecodeFailed:
        where = f"message {index}" + (f" (line {line})" if line else "") + f" at byte offset {offset}"
        return ProtobufDecodeFailed(f"{where}: {reason}")


def _upb_reason(exc: Exception) -> str:
    text = str(exc)
    # upb says "Error parsing message with type 'x.Y': <why>"; the type is known to the caller.
    return text.split(": ", 1)[1] if text.startswith("Error parsing message") and ": " in text else text


class _Counted:
    """Counts the bytes read from the body, so totals are exact without ``tell()`` (request streams lack it)."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self.total = 0

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self.total += len(data)
        return data


def decode_batches(
    compiled: CompiledSchema, message_name: str, source: BinaryIO, fmt: IngestFormat, *,
    max_depth: int, batch_rows: int = 65536, on_progress: ProgressCallback | None = None,
) -> Iterator[pa.RecordBatch]:
    """Decode ``source`` into batches of ``translate.arrow_schema(columns_for(...))``, in bounded memory.

    Raises ``ProtobufDecodeFailed`` naming the message index and byte offset of the first bad message.
    ``on_progress(bytes consumed, messages decoded)`` runs after every batch; raising from it stops the decode.
    """
    return iter(_Decoder(compiled, message_name, source, fmt, max_depth=max_depth, batch_rows=batch_rows,
                         on_progress=on_progress))


def ingest(
    compiled: CompiledSchema, message_name: str, source: BinaryIO, fmt: IngestFormat,
    targets: dict[str, BulkInsert], *, max_depth: int, on_progress: ProgressCallback | None = None,
    batch_rows: int = 65536,
) -> IngestResult:
    """Decode once, write every batch to every target, commit all at the end; abort all on any error."""
    started = time.monotonic()
    decoder = _Decoder(compiled, message_name, source, fmt, max_depth=max_depth, batch_rows=batch_rows,
                       on_progress=on_progress)
    committed = load_batches(decoder, targets)
    return IngestResult(rows=decoder.messages, bytes=decoder.bytes,
                        duration_ms=int((time.monotonic() - started) * 1000), engines=committed)


def load_batches(batches: Iterable[pa.RecordBatch], targets: dict[str, BulkInsert]) -> dict[str, int]:
    """Write every batch to every target, then commit each; abort every uncommitted target on any error.

    A target that already committed when a later one fails to commit cannot be rolled back: all-or-nothing holds
    per engine, as docs/api.md promises. Returns the rows committed per target.
    """
    committed: dict[str, int] = {}
    try:
        # Closed before any abort: the decode thread stops (and a chdb stream ends) first.
        with contextlib.closing(_prefetched(batches, PREFETCH_BATCHES)) as stream:
            if len(targets) == 1:
                _write_stream(next(iter(targets.values())), stream)
            else:
                for batch in stream:
                    for target in targets.values():
                        target.write(batch)
        for name, target in targets.items():
            committed[name] = target.commit()
    except BaseException:
        for name, target in targets.items():
            if name not in committed:
                try:
                    target.abort()
                except Exception:   # the original error matters more; the abort failure is only logged
                    log.exception("aborting the %s insert failed", name)
        raise
    return committed


def _write_stream(target: BulkInsert, batches: Iterator[pa.RecordBatch]) -> None:
    """All of ``batches`` into one target as one stream (for DuckDB, one INSERT), with the source's own error (a bad
    message, a cancel) raised as itself rather than as the engine's report of a failed read."""
    first = next(batches, None)
    if first is None:
        return
    failed: list[BaseException] = []

    def source() -> Iterator[pa.RecordBatch]:
        yield first
        try:
            yield from batches
        except BaseException as exc:
            failed.append(exc)
            raise

    reader = pa.RecordBatchReader.from_batches(first.schema, source())
    try:
        target.write_stream(reader)
    except BaseException:
        if failed:
            raise failed[0] from None
        raise
    if failed:   # an engine that swallowed the read error must not commit a partial stream
        raise failed[0]


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


def _prefetched(batches: Iterable[pa.RecordBatch], depth: int) -> Iterator[pa.RecordBatch]:
    """``batches``, pulled on a thread of its own up to ``depth`` ahead, so the decode runs while the engines insert.

    Decoding in chdb and inserting in DuckDB both release the GIL, so on two cores the ingest takes about as long as
    the slower of the two instead of their sum. Order is kept, and an error (a bad message, a cancel raised from the
    progress callback) arrives after the batches decoded before it, exactly where the plain loop would raise it.
    When the consumer stops early the decode thread closes ``batches`` (ending a chdb stream) before this returns.
    """
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(batches)
        item: object = _END
        try:
            for batch in iterator:
                if not put(batch):
                    break
        except BaseException as exc:   # handed to the consumer, which raises it in its own thread
            item = _Raised(exc)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    log.exception("closing an ingest decode failed")
        put(item)

    thread = threading.Thread(target=produce, name="ingest-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item   # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
