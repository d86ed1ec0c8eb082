"""ClickHouse Native column blocks -> Arrow record batches.

Results are read in the Native format because it streams on every transport: clickhouse-connect materializes an
Arrow-format result from chdb in one piece, and ClickHouse's own Arrow output turns DateTime into uint32 and Enum
into its number. Here the types are ours:
- DateTime/DateTime64 -> timestamp (s/ms/us/ns, with the column's time zone), Date/Date32 -> date32, read as raw
  integers so no Python datetime objects are built;
- Enum -> string label, LowCardinality(T) -> T, Nullable(T) -> T with nulls;
- Array -> list, Map -> map, named Tuple -> struct (unnamed members are named "1", "2", ...);
- UUID, IPv4/6, 128/256-bit integers, Time and anything unknown -> string;
- String -> UTF-8 string. ClickHouse strings are bytes: clickhouse-connect shows a value that is not valid UTF-8 as
  its hex digits. FixedString -> binary.
"""

from __future__ import annotations

import array
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.datatypes.base import ClickHouseType

# Read formats per ClickHouse base type (regex-like patterns, matched by clickhouse-connect).
QUERY_FORMATS = {"Date*": "int", "IPv*": "string", "UUID": "string", "*Int128": "string", "*Int256": "string",
                 "Time*": "string"}

_INTS = {
    "Int8": pa.int8(), "Int16": pa.int16(), "Int32": pa.int32(), "Int64": pa.int64(),
    "UInt8": pa.uint8(), "UInt16": pa.uint16(), "UInt32": pa.uint32(), "UInt64": pa.uint64(),
    "Float32": pa.float32(), "Float64": pa.float64(), "BFloat16": pa.float32(), "Bool": pa.bool_(),
}
_STRINGS = {"String", "Enum8", "Enum16", "UUID", "IPv4", "IPv6", "Int128", "UInt128", "Int256", "UInt256",
            "Time", "Time64"}
_INTERVAL_UNITS = {"IntervalSecond": "s", "IntervalMillisecond": "ms", "IntervalMicrosecond": "us",
                   "IntervalNanosecond": "ns"}
_UNITS = ((0, "s"), (3, "ms"), (6, "us"), (9, "ns"))

Fix = Callable[[Any], Any]


def _time_unit(scale: int) -> tuple[str, int]:
    """Arrow unit for a DateTime64 scale, and the factor that brings its ticks to that unit."""
    for unit_scale, unit in _UNITS:
        if scale <= unit_scale:
            return unit, 10 ** (unit_scale - scale)
    return "ns", 1


def arrow_type(ch: ClickHouseType, default_tz: str | None = None) -> pa.DataType:
    """Arrow type for a ClickHouse type; ``default_tz`` is the server zone a zone-less DateTime is shown in."""
    base = ch.base_type
    if base in _INTS:
        return _INTS[base]
    if base in _STRINGS:
        return pa.string()
    if base == "FixedString":
        return pa.binary()
    if base in ("Date", "Date32"):
        return pa.date32()
    if base in ("DateTime", "DateTime64"):
        tz = getattr(ch, "tzinfo", None)
        unit = "s" if base == "DateTime" else _time_unit(ch.scale)[0]
        return pa.timestamp(unit, tz=str(tz) if tz is not None else default_tz)
    if base.startswith("Decimal"):
        precision, scale = ch.prec, ch.scale
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    if base in _INTERVAL_UNITS:
        return pa.duration(_INTERVAL_UNITS[base])
    if base.startswith("Interval"):
        return pa.int64()
    if base == "Nothing":
        return pa.null()
    if base == "Array":
        return pa.list_(arrow_type(ch.element_type, default_tz))
    if base == "Map":
        return pa.map_(arrow_type(ch.key_type, default_tz), arrow_type(ch.value_type, default_tz))
    if base == "Tuple":
        names = ch.element_names or tuple(str(i + 1) for i in range(len(ch.element_types)))
        fields = zip(names, ch.element_types, strict=True)
        return pa.struct([pa.field(n, arrow_type(t, default_tz)) for n, t in fields])
    return pa.string()


def _fixer(ch: ClickHouseType) -> Fix | None:
    """A per-value conversion for types whose Python values Arrow cannot take as they are; None when none is needed."""
    base = ch.base_type
    if base == "DateTime64":
        factor = _time_unit(ch.scale)[1]
        return None if factor == 1 else (lambda v: None if v is None else v * factor)
    if base == "Array":
        inner = _fixer(ch.element_type)
        return None if inner is None else (lambda v: None if v is None else [inner(x) for x in v])
    if base == "Map":
        key, value = _fixer(ch.key_type) or _same, _fixer(ch.value_type) or _same
        if key is _same and value is _same:
            return None
        return lambda v: None if v is None else {key(k): value(x) for k, x in v.items()}
    if base == "Tuple":
        fixers = [_fixer(t) or _same for t in ch.element_types]
        if all(f is _same for f in fixers):
            return None
        names = ch.element_names
        if names:
            return lambda v: None if v is None else {n: f(v[n]) for n, f in zip(names, fixers, strict=True)}
        return lambda v: None if v is None else tuple(f(x) for f, x in zip(fixers, v, strict=True))
    if arrow_type(ch) == pa.string() and base not in _STRINGS:
        return lambda v: None if v is None else str(v)       # JSON, Dynamic, Variant, geo types...
    return None


def _same(value: Any) -> Any:
    return value


class BlockConverter:
    """Converts the column blocks of one result, with a schema fixed by its first block's column types."""

    def __init__(self, names: Sequence[str], types: Sequence[ClickHouseType], default_tz: str | None = None) -> None:
        self.types = list(types)
        fields = zip(names, types, strict=True)
        self.schema = pa.schema([pa.field(n, arrow_type(t, default_tz)) for n, t in fields])
        self._fixers = [_fixer(t) for t in types]

    def convert(self, block: Sequence[Sequence[Any]]) -> pa.RecordBatch:
        arrays = [self._column(values, field.type, fix) for values, field, fix in
                  zip(block, self.schema, self._fixers, strict=True)]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    @staticmethod
    def _column(values: Sequence[Any], arrow: pa.DataType, fix: Fix | None) -> pa.Array:
        if fix is None and isinstance(values, array.array) and (
                pa.types.is_integer(arrow) or pa.types.is_floating(arrow)):
            # clickhouse-connect hands numeric columns over as array.array: wrap the buffer instead of letting
            # pa.array() walk it value by value (about half of a large numeric read was spent there).
            return pa.array(np.frombuffer(values, dtype=values.typecode), type=arrow)
        if fix is not None:
            if pa.types.is_timestamp(arrow):
                # Whole column of ticks: scale in Arrow rather than per value.
                ticks = pa.array(values, type=pa.int64())
                return pc.multiply(ticks, pa.scalar(fix(1), pa.int64())).cast(arrow)
            values = [fix(v) for v in values]
        return pa.array(values, type=arrow)

    def empty(self) -> pa.RecordBatch:
        return pa.RecordBatch.from_arrays([pa.array([], type=f.type) for f in self.schema], schema=self.schema)
