"""The native decode's Arrow, cast to the ingest schema (``translate.arrow_schema``) the Python path builds."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def to_ingest_type(array: pa.Array, target: pa.DataType) -> pa.Array:
    """Cast the engine's Arrow to the ingest schema; binary values arrive as hex and are decoded here."""
    if array.type == target:
        return array
    if not _has_binary(target):
        return array.cast(target)
    if pa.types.is_binary(target):
        return _unhex(array)
    if pa.types.is_struct(target):
        children = [to_ingest_type(array.field(f.name), f.type) for f in target]
        return pa.StructArray.from_arrays(children, fields=list(target),
                                          mask=array.is_null() if array.null_count else None)
    if pa.types.is_map(target):
        return pa.MapArray.from_arrays(array.offsets, to_ingest_type(array.keys, target.key_type),
                                       to_ingest_type(array.items, target.item_type), type=target)
    return pa.ListArray.from_arrays(array.offsets, to_ingest_type(array.values, target.value_type), type=target)


def _has_binary(t: pa.DataType) -> bool:
    if pa.types.is_struct(t):
        return any(_has_binary(f.type) for f in t)
    if pa.types.is_map(t):
        return _has_binary(t.key_type) or _has_binary(t.item_type)
    if pa.types.is_list(t):
        return _has_binary(t.value_type)
    return pa.types.is_binary(t)


_HEX = np.zeros(256, dtype=np.uint8)
for _digits, _start in ((b"0123456789", 0), (b"ABCDEF", 10), (b"abcdef", 10)):
    _HEX[np.frombuffer(_digits, np.uint8)] = np.arange(_start, _start + len(_digits))


def _unhex(array: pa.Array) -> pa.Array:
    """Hex text -> binary, vectorized: every value and every offset halves."""
    array = array.cast(pa.string())
    if array.offset:
        array = pa.concat_arrays([array])   # rebase to offset 0 so the validity bitmap can be reused as is
    validity, offsets_buf, data_buf = array.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32, count=len(array) + 1)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    nibbles = _HEX[data[offsets[0]:offsets[-1]]]
    raw = (nibbles[0::2] << 4) | nibbles[1::2]
    halved = ((offsets - offsets[0]) // 2).astype(np.int32)
    return pa.Array.from_buffers(pa.binary(), len(array), [validity, pa.py_buffer(halved), pa.py_buffer(raw)],
                                 null_count=array.null_count)
