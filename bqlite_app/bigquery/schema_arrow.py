"""BigQuery table schemas (``TableFieldSchema`` JSON) <-> Arrow schemas, through the neutral columns of ``schema``.

To Arrow: INTEGER int64, FLOAT float64, BOOLEAN bool, STRING/JSON/GEOGRAPHY string, BYTES binary, NUMERIC and
BIGNUMERIC decimal128 / decimal256 (DuckDB stops at 38 digits: ``fields_to_arrow(..., engine="duckdb")`` narrows as
its DDL does), TIMESTAMP a UTC timestamp, DATETIME a timestamp without a zone, DATE date32, TIME time64, INTERVAL a
duration, RECORD a struct, REPEATED a list of non-null items. Arrow loses the difference between STRING, JSON and
GEOGRAPHY (all strings) and between an INTERVAL and a duration; ``fields_to_arrow`` marks such fields with the
metadata key ``bigquery:type`` (``TYPE_KEY``) and ``arrow_to_fields`` reads it back.

Going back from Arrow (query results, tables read back from an engine) every Arrow type the engines produce has a
BigQuery type: all integer widths and unsigned ones are INTEGER, float16/32/64 FLOAT, decimals NUMERIC when they fit
NUMERIC's (38, 9) and BIGNUMERIC otherwise, timestamps with a zone TIMESTAMP and without one DATETIME, time32/64
TIME, date32/64 DATE, list/large_list/fixed_size_list REPEATED, struct RECORD, map a REPEATED RECORD of ``key`` and
``value`` (how BigQuery and protoc-gen-bq-schema spell maps), dictionary-encoded columns (ClickHouse LowCardinality)
their value type. Two choices:

- decimal128(38, 0) is INTEGER: it is how DuckDB exports HUGEINT, the type of ``SUM`` over integers, and BigQuery's
  ``SUM(INT64)`` is an INT64 (the client would otherwise hand out ``Decimal`` where code expects ``int``);
- a list inside a list (BigQuery has no ARRAY<ARRAY>) is a REPEATED RECORD with one REPEATED field ``item``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from bqlite_app.bigquery.schema import CANONICAL, decimal_field, fields_to_columns
from engines import _ddl_duckdb
from engines.types import Column, ColumnType, Enum, Interval, ListOf, MapOf, Scalar, Struct, Timestamp
from engines.types import Decimal as DecimalType

TYPE_KEY = b"bigquery:type"  # Arrow field metadata: the BigQuery type where Arrow's own type is ambiguous
_ARROW_SCALARS: dict[str, pa.DataType] = {
    "bool": pa.bool_(), "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
    "uint8": pa.uint8(), "uint16": pa.uint16(), "uint32": pa.uint32(), "uint64": pa.uint64(),
    "float32": pa.float32(), "float64": pa.float64(), "string": pa.string(), "binary": pa.binary(),
    "date": pa.date32(), "time": pa.time64("us"), "json": pa.string(),
}


def fields_to_arrow(fields: Sequence[Mapping[str, Any]], *, engine: str | None = None) -> pa.Schema:
    """The Arrow schema of rows for a table with these BigQuery fields. With ``engine="duckdb"`` decimals wider than
    38 digits are narrowed as DuckDB's DDL narrows them (DuckDB cannot read decimal256 batches)."""
    columns = fields_to_columns(list(fields))
    return pa.schema([_arrow_field(c, f, engine) for c, f in zip(columns, fields, strict=True)])


def _arrow_field(column: Column, field: Mapping[str, Any] | None, engine: str | None) -> pa.Field:
    kind = CANONICAL.get(str(field.get("type", "")).upper(), "") if field is not None else ""
    sub = field.get("fields") if field is not None else None
    arrow = _arrow_type(column.type, sub, engine)
    metadata = {TYPE_KEY: kind.encode()} if kind in ("JSON", "GEOGRAPHY", "INTERVAL") else None
    if metadata is None and _scalar_of(column.type) == Scalar("json"):
        metadata = {TYPE_KEY: b"JSON"}
    return pa.field(column.name, arrow, nullable=column.nullable, metadata=metadata)


def _scalar_of(column_type: ColumnType) -> ColumnType:
    return column_type.item if isinstance(column_type, ListOf) else column_type


def _arrow_type(column_type: ColumnType, sub: Any, engine: str | None) -> pa.DataType:
    if isinstance(column_type, ListOf):
        return pa.list_(pa.field("item", _arrow_type(column_type.item, sub, engine), nullable=False))
    if isinstance(column_type, Struct):
        subs = sub if isinstance(sub, list) and len(sub) == len(column_type.fields) else [None] * len(
            column_type.fields)
        return pa.struct([_arrow_field(c, f, engine) for c, f in zip(column_type.fields, subs, strict=True)])
    if isinstance(column_type, MapOf):
        key = _arrow_type(column_type.key, None, engine)
        return pa.map_(key, pa.field("value", _arrow_type(column_type.value, None, engine)))
    if isinstance(column_type, Scalar):
        return _ARROW_SCALARS[column_type.kind]
    if isinstance(column_type, Timestamp):
        return pa.timestamp("us", tz=column_type.tz)
    if isinstance(column_type, DecimalType):
        precision, scale = column_type.precision, column_type.scale
        if engine == "duckdb":
            precision, scale = _ddl_duckdb.narrow_decimal(precision, scale)
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    if isinstance(column_type, Interval):
        return pa.duration("us")
    if isinstance(column_type, Enum):
        return pa.string()
    raise TypeError(f"unsupported column type {column_type!r}")


def arrow_to_fields(schema: pa.Schema) -> list[dict[str, Any]]:
    """The BigQuery schema of Arrow data (a query result, a table read back): see the module notes."""
    return [arrow_field_to_field(field) for field in schema]


def arrow_field_to_field(field: pa.Field) -> dict[str, Any]:
    described = _type_of(field.type, field.metadata)
    mode = described.pop("mode", "NULLABLE" if field.nullable else "REQUIRED")
    return {"name": field.name, **described, "mode": mode}


def _type_of(arrow: pa.DataType, metadata: Mapping[bytes, bytes] | None) -> dict[str, Any]:
    """``type`` (and ``fields``, and ``mode`` REPEATED for lists) of an Arrow type."""
    marked = (metadata or {}).get(TYPE_KEY)
    if isinstance(arrow, pa.ExtensionType):
        if arrow.extension_name == "arrow.json":
            return {"type": "JSON"}
        arrow = arrow.storage_type
    if pa.types.is_dictionary(arrow):
        arrow = arrow.value_type
    if is_list_type(arrow):
        item = _type_of(arrow.value_type, metadata)
        if item.get("mode") == "REPEATED":     # ARRAY<ARRAY<T>>: wrap the inner list in a RECORD
            item = {"type": "RECORD", "fields": [{"name": "item", **item}]}
        return {**item, "mode": "REPEATED"}
    if pa.types.is_map(arrow):
        entries = [{"name": "key", **_type_of(arrow.key_type, None), "mode": "REQUIRED"},
                   {"name": "value", **_type_of(arrow.item_type, None)}]
        entries[1].setdefault("mode", "NULLABLE")
        return {"type": "RECORD", "fields": entries, "mode": "REPEATED"}
    if pa.types.is_struct(arrow):
        return {"type": "RECORD", "fields": [arrow_field_to_field(arrow.field(i)) for i in range(arrow.num_fields)]}
    if marked and marked.decode() in ("JSON", "GEOGRAPHY", "INTERVAL") and not pa.types.is_struct(arrow):
        return {"type": marked.decode()}
    return {"type": _scalar_type_of(arrow)}


def is_list_type(arrow: pa.DataType) -> bool:
    """Every Arrow list layout; a map is not one here (callers that read maps as lists ask for it on its own)."""
    return (pa.types.is_list(arrow) or pa.types.is_large_list(arrow) or pa.types.is_fixed_size_list(arrow)
            or pa.types.is_list_view(arrow) or pa.types.is_large_list_view(arrow))


def _scalar_type_of(arrow: pa.DataType) -> str:
    if pa.types.is_boolean(arrow):
        return "BOOLEAN"
    if pa.types.is_integer(arrow):
        return "INTEGER"
    if pa.types.is_floating(arrow):
        return "FLOAT"
    if pa.types.is_decimal(arrow):
        if arrow.scale == 0 and arrow.precision == 38:
            return "INTEGER"   # DuckDB's HUGEINT (module notes)
        return decimal_field(arrow.precision, arrow.scale, parameters=False)["type"]
    if pa.types.is_timestamp(arrow):
        return "TIMESTAMP" if arrow.tz is not None else "DATETIME"
    if pa.types.is_date(arrow):
        return "DATE"
    if pa.types.is_time(arrow):
        return "TIME"
    if pa.types.is_duration(arrow) or pa.types.is_interval(arrow):
        return "INTERVAL"
    if pa.types.is_binary(arrow) or pa.types.is_large_binary(arrow) or pa.types.is_fixed_size_binary(arrow) \
            or pa.types.is_binary_view(arrow):
        return "BYTES"
    if pa.types.is_null(arrow):
        return "INTEGER"  # what BigQuery calls a bare NULL
    return "STRING"   # strings... and anything unforeseen, which rows.py shows as text
