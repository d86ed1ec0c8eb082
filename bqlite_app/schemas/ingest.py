"""INTERFACE STUB (helper B implements): binary protobuf -> Arrow batches -> engines, all or nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

import pyarrow as pa

from bqlite_app.schemas.compiler import CompiledSchema
from engines.base import BulkInsert

IngestFormat = Literal["delimited", "single", "jsonl"]
ProgressCallback = Callable[[int, int], None]   # (bytes consumed, messages decoded)


@dataclass
class IngestResult:
    rows: int
    bytes: int
    duration_ms: int
    engines: dict[str, int] = field(default_factory=dict)   # engine -> rows inserted


def decode_batches(
    compiled: CompiledSchema, message_name: str, source: BinaryIO, fmt: IngestFormat, *,
    max_depth: int, batch_rows: int = 65536, on_progress: ProgressCallback | None = None,
) -> Iterator[pa.RecordBatch]:
    """Decode ``source`` into batches of ``translate.arrow_schema(columns_for(...))``, in bounded memory.

    Raises ``ProtobufDecodeFailed`` naming the message index and byte offset of the first bad message.
    """
    raise NotImplementedError


def ingest(
    compiled: CompiledSchema, message_name: str, source: BinaryIO, fmt: IngestFormat,
    targets: dict[str, BulkInsert], *, max_depth: int, on_progress: ProgressCallback | None = None,
) -> IngestResult:
    """Decode once, write every batch to every target, commit all at the end; abort all on any error."""
    raise NotImplementedError
