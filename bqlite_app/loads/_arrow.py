"""Neutral column types <-> the Arrow types a load converts its rows into.

JSON columns are Arrow strings; the field metadata ``bqlite.json`` marks them, so readers know to store any JSON
value as its text rather than refuse an object in a STRING field.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from engines.types import Column, ColumnType, Decimal, Enum, Interval, ListOf, MapOf, Scalar, Struct, Timestamp

JSON_META = {b"bqlite.json": b"1"}
_SCALARS: dict[str, pa.DataType] = {
    "bool": pa.bool_(), "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
    "uint8": pa.uint8(), "uint16": pa.uint16(), "uint32": pa.uint32(), "uint64": pa.uint64(),
    "float32": pa.float32(), "float64": pa.float64(), "string": pa.string(), "binary": pa.binary(),
    "date": pa.date32(), "json": pa.string(), "time": pa.time64("us"),
}


def is_json(field: pa.Field) -> bool:
    return bool(field.metadata) and field.metadata.get(b"bqlite.json") == b"1"


def arrow_field(column: Column) -> pa.Field:
    metadata = JSON_META if isinstance(column.type, Scalar) and column.type.kind == "json" else None
    return pa.field(column.name, arrow_type(column.type), nullable=column.nullable, metadata=metadata)


def arrow_schema(columns: list[Column] | tuple[Column, ...]) -> pa.Schema:
    return pa.schema([arrow_field(c) for c in columns])


def arrow_type(column_type: ColumnType | Any) -> pa.DataType:
    if isinstance(column_type, Scalar):
        return _SCALARS[column_type.kind]
    if isinstance(column_type, Timestamp):
        return pa.timestamp("us", tz=column_type.tz) if column_type.tz else pa.timestamp("us")
    if isinstance(column_type, Decimal):
        precision, scale = column_type.precision, column_type.scale
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    if isinstance(column_type, Interval):
        return pa.duration("us")
    if isinstance(column_type, Enum):
        return pa.string()
    if isinstance(column_type, ListOf):
        item = column_type.item
        metadata = JSON_META if isinstance(item, Scalar) and item.kind == "json" else None
        return pa.list_(pa.field("item", arrow_type(item), nullable=False, metadata=metadata))
    if isinstance(column_type, MapOf):
        return pa.map_(arrow_type(column_type.key), pa.field("value", arrow_type(column_type.value), nullable=False))
    if isinstance(column_type, Struct):
        return pa.struct([arrow_field(f) for f in column_type.fields])
    raise TypeError(f"unsupported column type {column_type!r}")


def column_of(field: pa.Field) -> Column:
    """The neutral column for an Arrow field (a Parquet or Avro file's own schema, an inferred one).

    Integers widen to int64 and floats to float64, as BigQuery's INT64 and FLOAT64 do; uint64 stays (it does not
    fit int64). A struct without fields, or a list of lists (BigQuery has no such thing), is stored as JSON.
    """
    if is_json(field):
        return Column(field.name, Scalar("json"), nullable=field.nullable)
    return Column(field.name, column_type_of(field.type), nullable=field.nullable)


def column_type_of(t: pa.DataType) -> ColumnType:
    if pa.types.is_dictionary(t):
        return column_type_of(t.value_type)
    if pa.types.is_boolean(t):
        return Scalar("bool")
    if pa.types.is_uint64(t):
        return Scalar("uint64")
    if pa.types.is_integer(t):
        return Scalar("int64")
    if pa.types.is_floating(t):
        return Scalar("float64")
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t) or _is_view(t, "string"):
        return Scalar("string")
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) \
            or _is_view(t, "binary"):
        return Scalar("binary")
    if pa.types.is_date(t):
        return Scalar("date")
    if pa.types.is_timestamp(t):
        return Timestamp() if t.tz else Timestamp(tz=None)
    if pa.types.is_time(t):
        return Scalar("time")
    if pa.types.is_decimal(t):
        return Decimal(t.precision, t.scale)
    if pa.types.is_duration(t):
        return Interval()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        item = t.value_type
        if pa.types.is_list(item) or pa.types.is_large_list(item) or pa.types.is_fixed_size_list(item):
            return Scalar("json")
        return ListOf(column_type_of(item))
    if pa.types.is_map(t):
        return MapOf(column_type_of(t.key_type), column_type_of(t.item_type))
    if pa.types.is_struct(t):
        if t.num_fields == 0:
            return Scalar("json")
        return Struct(tuple(column_of(t.field(i)) for i in range(t.num_fields)))
    raise TypeError(f"no column type for Arrow type {t}")


def _is_view(t: pa.DataType, kind: str) -> bool:
    return str(t) == f"{kind}_view"

