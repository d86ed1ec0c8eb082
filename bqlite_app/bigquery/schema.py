"""BigQuery table schemas (``TableFieldSchema`` JSON) <-> neutral columns (``engines.types``).

BigQuery type -> neutral type:

- INTEGER/INT64 -> int64; FLOAT/FLOAT64 -> float64; BOOLEAN/BOOL -> bool; STRING -> string; BYTES -> binary;
- NUMERIC -> Decimal(38, 9), BIGNUMERIC -> Decimal(76, 38) (or the declared ``precision``/``scale``);
- TIMESTAMP -> Timestamp() (UTC instant); DATETIME -> Timestamp(tz=None) (wall clock); DATE -> date; TIME -> time;
- JSON -> json; GEOGRAPHY -> string holding WKT text; INTERVAL -> Interval;
- RECORD/STRUCT -> Struct; mode REPEATED -> ListOf(item), never null; REQUIRED -> not nullable.

Back from neutral columns the names are protoc-gen-bq-schema's: not-null columns REQUIRED, lists REPEATED, maps a
REPEATED RECORD of ``key`` and ``value``. Arrow schemas are ``schema_arrow``'s, a .proto message's ``schema_proto``'s.
This module imports neither pyarrow nor protobuf, so the UI can use the mapping alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from bqlite_app.errors import ValidationFailed
from engines.types import Column, ColumnType, Enum, Interval, ListOf, MapOf, Scalar, Struct, Timestamp
from engines.types import Decimal as DecimalType

MAX_DEPTH = 15               # BigQuery's limit on RECORD nesting
MAX_NAME_LENGTH = 300
MODES = ("NULLABLE", "REQUIRED", "REPEATED")

# Canonical names (the ones BigQuery answers with in tables.get) for every spelling a client may send.
CANONICAL = {
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
_NAME = re.compile(r"[^\x00-\x1f\x7f.]+")   # flexible column names: anything printable but a dot


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
    kind = CANONICAL[str(field["type"]).upper()]
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
    if not isinstance(raw_type, str) or raw_type.upper() not in CANONICAL:
        raise ValidationFailed(f"{where} ({dotted}): unsupported type {raw_type!r}")
    if not isinstance(raw_mode, str) or raw_mode.upper() not in MODES:
        raise ValidationFailed(f"{where} ({dotted}): invalid mode {raw_mode!r} (one of {', '.join(MODES)})")
    kind, mode = CANONICAL[raw_type.upper()], raw_mode.upper()
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
        return decimal_field(column_type.precision, column_type.scale, parameters=True)
    if isinstance(column_type, Interval):
        return {"type": "INTERVAL"}
    if isinstance(column_type, Enum):
        return {"type": "STRING"}
    raise TypeError(f"unsupported column type {column_type!r}")


def decimal_field(precision: int, scale: int, *, parameters: bool) -> dict[str, Any]:
    """NUMERIC when the value fits NUMERIC(38, 9), else BIGNUMERIC; the default sizes carry no parameters."""
    if scale <= 9 and precision - scale <= 29:
        if (precision, scale) == (38, 9) or not parameters:
            return {"type": "NUMERIC"}
        return {"type": "NUMERIC", "precision": str(precision), "scale": str(scale)}
    if (precision, scale) == (76, 38) or not parameters:
        return {"type": "BIGNUMERIC"}
    return {"type": "BIGNUMERIC", "precision": str(precision), "scale": str(scale)}
