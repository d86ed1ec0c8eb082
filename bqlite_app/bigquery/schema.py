"""BigQuery table schemas (``TableFieldSchema`` JSON) <-> neutral columns (``engines.types``) <-> Arrow schemas.

BigQuery type -> neutral type -> Arrow:

- INTEGER/INT64 -> int64; FLOAT/FLOAT64 -> float64; BOOLEAN/BOOL -> bool; STRING -> string; BYTES -> binary;
- NUMERIC -> Decimal(38, 9), BIGNUMERIC -> Decimal(76, 38) (or the declared ``precision``/``scale``) -> decimal128
  / decimal256. DuckDB stops at 38 digits: ``fields_to_arrow(..., engine="duckdb")`` narrows as its DDL does;
- TIMESTAMP -> Timestamp() (UTC instant); DATETIME -> Timestamp(tz=None) (wall clock); DATE -> date; TIME -> time;
- JSON -> json; GEOGRAPHY -> string holding WKT text; INTERVAL -> Interval;
- RECORD/STRUCT -> Struct; mode REPEATED -> ListOf(item), never null; REQUIRED -> not nullable.

Arrow loses the difference between STRING, JSON and GEOGRAPHY (all strings) and between an INTERVAL and a duration;
``fields_to_arrow`` marks such fields with the metadata key ``bigquery:type`` and ``arrow_to_fields`` reads it back.

Going back from Arrow (query results, tables read back from an engine) every Arrow type the engines produce has a
BigQuery type: all integer widths and unsigned ones are INTEGER, float16/32/64 FLOAT, decimals NUMERIC when they fit
NUMERIC's (38, 9) and BIGNUMERIC otherwise, timestamps with a zone TIMESTAMP and without one DATETIME, time32/64
TIME, date32/64 DATE, list/large_list/fixed_size_list REPEATED, struct RECORD, map a REPEATED RECORD of ``key`` and
``value`` (how BigQuery and protoc-gen-bq-schema spell maps), dictionary-encoded columns (ClickHouse LowCardinality)
their value type. Two choices:

- decimal128(38, 0) is INTEGER: it is how DuckDB exports HUGEINT, the type of ``SUM`` over integers, and BigQuery's
  ``SUM(INT64)`` is an INT64 (the client would otherwise hand out ``Decimal`` where code expects ``int``);
- a list inside a list (BigQuery has no ARRAY<ARRAY>) is a REPEATED RECORD with one REPEATED field ``item``.

A table registered from a .proto: ``message_to_fields`` follows protoc-gen-bq-schema (integers INTEGER, double/float
FLOAT, bool BOOLEAN, messages RECORD, Timestamp TIMESTAMP, Duration INTERVAL, wrappers their scalar, modes from the
label: repeated REPEATED, proto2 required REQUIRED, everything else NULLABLE), with one difference: enums are STRING
(the generator's ``enum-as-string`` option) because the tables store labels, not numbers. Fields that our tables
store as JSON text (dynamic WKTs, messages past the depth cap) are JSON, and a real oneof's ``<oneof>_case`` column is
a NULLABLE STRING.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from bqlite_app.errors import ValidationFailed
from engines import _ddl_duckdb
from engines.types import Column, ColumnType, Enum, Interval, ListOf, MapOf, Scalar, Struct, Timestamp
from engines.types import Decimal as DecimalType

TYPE_KEY = b"bigquery:type"  # Arrow field metadata: the BigQuery type where Arrow's own type is ambiguous
MAX_DEPTH = 15               # BigQuery's limit on RECORD nesting
MAX_NAME_LENGTH = 300
MODES = ("NULLABLE", "REQUIRED", "REPEATED")

# Canonical names (the ones BigQuery answers with in tables.get) for every spelling a client may send.
_CANONICAL = {
    "INTEGER": "INTEGER", "INT64": "INTEGER", "FLOAT": "FLOAT", "FLOAT64": "FLOAT",
    "NUMERIC": "NUMERIC", "DECIMAL": "NUMERIC", "BIGNUMERIC": "BIGNUMERIC", "BIGDECIMAL": "BIGNUMERIC",
    "BOOLEAN": "BOOLEAN", "BOOL": "BOOLEAN", "STRING": "STRING", "BYTES": "BYTES",
    "TIMESTAMP": "TIMESTAMP", "DATETIME": "DATETIME", "DATE": "DATE", "TIME": "TIME",
    "JSON": "JSON", "GEOGRAPHY": "GEOGRAPHY", "INTERVAL": "INTERVAL", "RECORD": "RECORD", "STRUCT": "RECORD",
}
_SCALAR_KIND = {
    "INTEGER": "int64", "FLOAT": "float64", "BOOLEAN": "bool", "STRING": "string", "BYTES": "binary",
    "DATE": "date", "TIME": "time", "JSON": "json", "GEOGRAPHY": "string",
}
# (max precision, default precision, default scale, max scale, max integer digits) per decimal type.
_DECIMALS = {"NUMERIC": (38, 38, 9, 9, 29), "BIGNUMERIC": (76, 76, 38, 38, 38)}
_KIND_TO_TYPE = {
    "bool": "BOOLEAN", "int8": "INTEGER", "int16": "INTEGER", "int32": "INTEGER", "int64": "INTEGER",
    "uint8": "INTEGER", "uint16": "INTEGER", "uint32": "INTEGER", "uint64": "INTEGER",
    "float32": "FLOAT", "float64": "FLOAT", "string": "STRING", "binary": "BYTES", "date": "DATE", "time": "TIME",
    "json": "JSON",
}
_ARROW_SCALARS: dict[str, pa.DataType] = {
    "bool": pa.bool_(), "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
    "uint8": pa.uint8(), "uint16": pa.uint16(), "uint32": pa.uint32(), "uint64": pa.uint64(),
    "float32": pa.float32(), "float64": pa.float64(), "string": pa.string(), "binary": pa.binary(),
    "date": pa.date32(), "time": pa.time64("us"), "json": pa.string(),
}
_NAME = re.compile(r"[^\x00-\x1f\x7f.]+")   # flexible column names: anything printable but a dot

_T = FieldDescriptor
_PROTO_TYPES = {
    _T.TYPE_DOUBLE: "FLOAT", _T.TYPE_FLOAT: "FLOAT", _T.TYPE_BOOL: "BOOLEAN", _T.TYPE_STRING: "STRING",
    _T.TYPE_BYTES: "BYTES", _T.TYPE_ENUM: "STRING",
}
_PROTO_WKT = {
    "google.protobuf.Int32Value": "INTEGER", "google.protobuf.Int64Value": "INTEGER",
    "google.protobuf.UInt32Value": "INTEGER", "google.protobuf.UInt64Value": "INTEGER",
    "google.protobuf.DoubleValue": "FLOAT", "google.protobuf.FloatValue": "FLOAT",
    "google.protobuf.BoolValue": "BOOLEAN", "google.protobuf.StringValue": "STRING",
    "google.protobuf.BytesValue": "BYTES", "google.protobuf.Duration": "INTERVAL",
    "google.protobuf.Timestamp": "TIMESTAMP",
}


# ---------------------------------------------------------------------------------------------- BigQuery -> neutral

def fields_to_columns(fields: Any) -> list[Column]:
    """Checks a client's ``schema.fields`` and maps it to neutral columns; a bad schema is ``ValidationFailed``
    naming the field's path (``schema.fields[2].fields[0]`` and its dotted name)."""
    return _columns(fields, "schema.fields", "", 1)


def normalize_fields(fields: Any) -> list[dict[str, Any]]:
    """A client's ``schema.fields`` checked and in BigQuery's canonical answer form (``INT64`` -> ``INTEGER``, mode
    filled in, ``STRUCT`` -> ``RECORD``): what tables.get echoes for a table created with it."""
    fields_to_columns(fields)
    return [_normalized(field) for field in fields]


def _normalized(field: Mapping[str, Any]) -> dict[str, Any]:
    kind = _CANONICAL[str(field["type"]).upper()]
    out: dict[str, Any] = {"name": field["name"], "type": kind, "mode": str(field.get("mode") or "NULLABLE").upper()}
    for key in ("description", "precision", "scale", "maxLength"):
        if field.get(key) not in (None, ""):
            out[key] = field[key]
    if kind == "RECORD":
        out["fields"] = [_normalized(f) for f in field["fields"]]
    return out


def _columns(fields: Any, path: str, dotted: str, depth: int) -> list[Column]:
    if not isinstance(fields, list) or not fields:
        raise ValidationFailed(f"{path}{_named(dotted)}: a schema needs a non-empty list of fields")
    seen: set[str] = set()
    columns = []
    for index, field in enumerate(fields):
        where = f"{path}[{index}]"
        if not isinstance(field, Mapping):
            raise ValidationFailed(f"{where}: a field must be an object")
        name = field.get("name")
        if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH or not _NAME.fullmatch(name):
            raise ValidationFailed(f"{where}: invalid field name {name!r} (1 to {MAX_NAME_LENGTH} printable "
                                   "characters, no dot)")
        full = f"{dotted}.{name}" if dotted else name
        if name.lower() in seen:
            raise ValidationFailed(f"{where}{_named(full)}: duplicate field name {name!r}")
        seen.add(name.lower())
        columns.append(_column(field, where, full, depth))
    return columns


def _named(dotted: str) -> str:
    return f" ({dotted})" if dotted else ""


def _column(field: Mapping[str, Any], where: str, dotted: str, depth: int) -> Column:
    raw_type, raw_mode = field.get("type"), field.get("mode") or "NULLABLE"
    if not isinstance(raw_type, str) or raw_type.upper() not in _CANONICAL:
        raise ValidationFailed(f"{where} ({dotted}): unsupported type {raw_type!r}")
    if not isinstance(raw_mode, str) or raw_mode.upper() not in MODES:
        raise ValidationFailed(f"{where} ({dotted}): invalid mode {raw_mode!r} (one of {', '.join(MODES)})")
    kind, mode = _CANONICAL[raw_type.upper()], raw_mode.upper()
    description = field.get("description") or ""
    if not isinstance(description, str):
        raise ValidationFailed(f"{where} ({dotted}): description must be a string")
    sub = field.get("fields")
    if kind == "RECORD":
        if depth >= MAX_DEPTH:
            raise ValidationFailed(f"{where} ({dotted}): RECORDs nest at most {MAX_DEPTH} levels")
        item: ColumnType = Struct(tuple(_columns(sub, f"{where}.fields", dotted, depth + 1)))
    else:
        if sub:
            raise ValidationFailed(f"{where} ({dotted}): only a RECORD has fields, not a {kind}")
        item = _scalar_type(kind, field, where, dotted)
    if mode == "REPEATED":
        return Column(dotted.rsplit(".", 1)[-1], ListOf(item), nullable=False, description=description)
    return Column(dotted.rsplit(".", 1)[-1], item, nullable=mode == "NULLABLE", description=description)


def _scalar_type(kind: str, field: Mapping[str, Any], where: str, dotted: str) -> ColumnType:
    if kind in _DECIMALS:
        return _decimal_type(kind, field, where, dotted)
    if field.get("precision") is not None or field.get("scale") is not None:
        raise ValidationFailed(f"{where} ({dotted}): precision and scale apply to NUMERIC and BIGNUMERIC only")
    max_length = field.get("maxLength")
    if max_length is not None and (kind not in ("STRING", "BYTES") or _int(max_length) is None
                                   or _int(max_length) <= 0):  # type: ignore[operator]
        raise ValidationFailed(f"{where} ({dotted}): maxLength must be a positive integer on STRING or BYTES")
    if kind == "TIMESTAMP":
        return Timestamp()
    if kind == "DATETIME":
        return Timestamp(tz=None)
    if kind == "INTERVAL":
        return Interval()
    return Scalar(_SCALAR_KIND[kind])  # type: ignore[arg-type]


def _decimal_type(kind: str, field: Mapping[str, Any], where: str, dotted: str) -> DecimalType:
    max_precision, default_precision, default_scale, max_scale, max_integer = _DECIMALS[kind]
    raw_precision, raw_scale = field.get("precision"), field.get("scale")
    if raw_precision is None:
        if raw_scale is not None:
            raise ValidationFailed(f"{where} ({dotted}): scale needs a precision")
        return DecimalType(default_precision, default_scale)
    precision, scale = _int(raw_precision), _int(0 if raw_scale is None else raw_scale)
    if precision is None or scale is None or not 0 <= scale <= max_scale or not 1 <= precision <= max_precision \
            or not max(1, scale) <= precision <= scale + max_integer:
        raise ValidationFailed(
            f"{where} ({dotted}): invalid {kind}({raw_precision}, {raw_scale}): scale 0..{max_scale} and "
            f"precision from max(1, scale) to scale + {max_integer}")
    return DecimalType(precision, scale)


def _int(value: Any) -> int | None:
    """BigQuery sends int64 fields as strings in JSON; accept both spellings of a whole number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,19}", value):
        return int(value)
    return None


# ---------------------------------------------------------------------------------------------- neutral -> BigQuery

def columns_to_fields(columns: Sequence[Column]) -> list[dict[str, Any]]:
    """Neutral columns -> ``TableFieldSchema`` JSON. Not-null columns are REQUIRED (the engines reject nulls there),
    lists REPEATED, maps REPEATED RECORDs of ``key``/``value``; types follow protoc-gen-bq-schema's names."""
    return [_field_of(column.name, column.type, column.nullable, column.description) for column in columns]


def _field_of(name: str, column_type: ColumnType, nullable: bool, description: str = "") -> dict[str, Any]:
    mode = "NULLABLE" if nullable else "REQUIRED"
    if isinstance(column_type, ListOf):
        field = _field_of(name, column_type.item, True, description)
        if field["mode"] == "REPEATED":   # a list of lists: BigQuery has no ARRAY<ARRAY>
            field = {"name": name, "type": "RECORD", "fields": [{**field, "name": "item"}]}
        field["mode"] = "REPEATED"
        return field
    if isinstance(column_type, MapOf):
        entries = [_field_of("key", column_type.key, False), _field_of("value", column_type.value, True)]
        field = {"name": name, "type": "RECORD", "mode": "REPEATED", "fields": entries}
    elif isinstance(column_type, Struct):
        field = {"name": name, "type": "RECORD", "mode": mode,
                 "fields": [_field_of(c.name, c.type, c.nullable, c.description) for c in column_type.fields]}
    else:
        field = {"name": name, **_scalar_field(column_type), "mode": mode}
    if description:
        field["description"] = description
    return field


def _scalar_field(column_type: ColumnType) -> dict[str, Any]:
    if isinstance(column_type, Scalar):
        return {"type": _KIND_TO_TYPE[column_type.kind]}
    if isinstance(column_type, Timestamp):
        return {"type": "TIMESTAMP" if column_type.tz is not None else "DATETIME"}
    if isinstance(column_type, DecimalType):
        return _decimal_field(column_type.precision, column_type.scale, parameters=True)
    if isinstance(column_type, Interval):
        return {"type": "INTERVAL"}
    if isinstance(column_type, Enum):
        return {"type": "STRING"}
    raise TypeError(f"unsupported column type {column_type!r}")


def _decimal_field(precision: int, scale: int, *, parameters: bool) -> dict[str, Any]:
    """NUMERIC when the value fits NUMERIC(38, 9), else BIGNUMERIC; the default sizes carry no parameters."""
    if scale <= 9 and precision - scale <= 29:
        if (precision, scale) == (38, 9) or not parameters:
            return {"type": "NUMERIC"}
        return {"type": "NUMERIC", "precision": str(precision), "scale": str(scale)}
    if (precision, scale) == (76, 38) or not parameters:
        return {"type": "BIGNUMERIC"}
    return {"type": "BIGNUMERIC", "precision": str(precision), "scale": str(scale)}


def message_to_fields(message: Descriptor, *, max_depth: int | None = None) -> list[dict[str, Any]]:
    """The BigQuery schema of a table registered from ``message``, as protoc-gen-bq-schema writes it (see the module
    notes), shaped exactly like the table's columns (same depth cap, oneof case columns included)."""
    from bqlite_app.schemas.translate import DEFAULT_MAX_DEPTH, slots

    depth_cap = DEFAULT_MAX_DEPTH if max_depth is None else max_depth
    return [_proto_field(slot.field, slot.column) for slot in slots(message, max_depth=depth_cap)]


def _proto_field(field: FieldDescriptor | None, column: Column) -> dict[str, Any]:
    if field is None:   # a oneof's case column
        return {"name": column.name, "type": "STRING", "mode": "NULLABLE"}
    mode = "REPEATED" if field.is_repeated else ("REQUIRED" if field.is_required else "NULLABLE")
    column_type = column.type
    if isinstance(column_type, MapOf):
        entry = field.message_type
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        fields = [{**_proto_field(key, Column("key", column_type.key)), "mode": "NULLABLE"},
                  {**_proto_field(value, Column("value", column_type.value)), "mode": "NULLABLE"}]
        return {"name": field.name, "type": "RECORD", "mode": "REPEATED", "fields": fields}
    if isinstance(column_type, ListOf):
        column_type = column_type.item
    out: dict[str, Any] = {"name": field.name, "type": "", "mode": mode}
    if isinstance(column_type, Struct):
        by_name = {c.name: c for c in column_type.fields}
        nested_slots = _nested_slots(field, column_type)
        out["type"] = "RECORD"
        out["fields"] = [_proto_field(f, by_name[name]) for name, f in nested_slots]
    elif column_type == Scalar("json"):
        out["type"] = "JSON"
    elif field.message_type is not None and field.message_type.full_name in _PROTO_WKT:
        out["type"] = _PROTO_WKT[field.message_type.full_name]
    else:
        out["type"] = _PROTO_TYPES.get(field.type, "INTEGER")   # every remaining scalar is an integer type
    return out


def _nested_slots(field: FieldDescriptor, struct: Struct) -> list[tuple[str, FieldDescriptor | None]]:
    """The struct's members in column order, each with its field (None for a oneof case column)."""
    by_name = {f.name: f for f in field.message_type.fields}
    return [(c.name, by_name.get(c.name)) for c in struct.fields]


# ---------------------------------------------------------------------------------------------- Arrow <-> BigQuery

def fields_to_arrow(fields: Sequence[Mapping[str, Any]], *, engine: str | None = None) -> pa.Schema:
    """The Arrow schema of rows for a table with these BigQuery fields. With ``engine="duckdb"`` decimals wider than
    38 digits are narrowed as DuckDB's DDL narrows them (DuckDB cannot read decimal256 batches)."""
    columns = fields_to_columns(list(fields))
    return pa.schema([_arrow_field(c, f, engine) for c, f in zip(columns, fields, strict=True)])


def _arrow_field(column: Column, field: Mapping[str, Any] | None, engine: str | None) -> pa.Field:
    kind = _CANONICAL.get(str(field.get("type", "")).upper(), "") if field is not None else ""
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
    if _is_list(arrow):
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


def _is_list(arrow: pa.DataType) -> bool:
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
        return _decimal_field(arrow.precision, arrow.scale, parameters=False)["type"]
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
