"""ReadRowsResponse written straight to protobuf wire bytes: the hot path of ReadRows.

Building the message with proto-plus costs about 3 ms per 2 MB record batch (the constructor copies and checks),
more than serializing the batch itself; this writes the same bytes with one copy of the batch. Field numbers are
those of ``google/cloud/bigquery/storage/v1/storage.proto`` and ``arrow.proto`` (a test decodes the output with the
client's own message type).
"""

from __future__ import annotations

import struct
from typing import Any

# (field number << 3) | wire type; wire types: 0 varint, 1 fixed64, 2 length-delimited.
_RESPONSE_BATCH = b"\x22"        # ReadRowsResponse.arrow_record_batch = 4
_RESPONSE_ROW_COUNT = b"\x30"    # ReadRowsResponse.row_count = 6
_RESPONSE_STATS = b"\x12"        # ReadRowsResponse.stats = 2
_RESPONSE_SCHEMA = b"\x42"       # ReadRowsResponse.arrow_schema = 8
_BATCH_DATA = b"\x0a"            # ArrowRecordBatch.serialized_record_batch = 1
_BATCH_ROW_COUNT = b"\x10"       # ArrowRecordBatch.row_count = 2
_SCHEMA_DATA = b"\x0a"           # ArrowSchema.serialized_schema = 1
_STATS_PROGRESS = b"\x12"        # StreamStats.progress = 2
_PROGRESS_START = b"\x09"        # StreamStats.Progress.at_response_start = 1 (double)
_PROGRESS_END = b"\x11"          # StreamStats.Progress.at_response_end = 2 (double)


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _delimited(tag: bytes, *parts: Any) -> list[Any]:
    return [tag, varint(sum(memoryview(part).nbytes for part in parts)), *parts]


def read_rows_response(record_batch: Any, rows: int, *, schema: bytes | None, progress: tuple[float, float]) -> bytes:
    """A serialized ReadRowsResponse. ``record_batch`` is any buffer (a pyarrow Buffer: not copied before the join);
    ``schema`` the serialized Arrow schema for the first message of a call."""
    batch = [*_delimited(_BATCH_DATA, record_batch), _BATCH_ROW_COUNT, varint(rows)]
    progress_bytes = _PROGRESS_START + struct.pack("<d", progress[0]) + _PROGRESS_END + struct.pack("<d", progress[1])
    stats = _delimited(_STATS_PROGRESS, progress_bytes)
    parts: list[Any] = [_RESPONSE_BATCH, varint(sum(memoryview(part).nbytes for part in batch)), *batch,
                        _RESPONSE_ROW_COUNT, varint(rows), _RESPONSE_STATS, varint(sum(len(p) for p in stats)), *stats]
    if schema is not None:
        parts += _delimited(_RESPONSE_SCHEMA, *_delimited(_SCHEMA_DATA, schema))
    return b"".join(parts)
