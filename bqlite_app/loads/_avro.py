"""An Avro file's writer schema as Arrow (BigQuery's Avro mapping, logical types honoured), and fastavro's values
as the row coercers take them."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa

from bqlite_app.errors import ValidationFailed
from bqlite_app.loads._sources import arrow_message

_AVRO_PRIMITIVES = {
    "boolean": pa.bool_(), "int": pa.int64(), "long": pa.int64(), "float": pa.float64(), "double": pa.float64(),
    "bytes": pa.binary(), "string": pa.string(),
}
_AVRO_LOGICAL = {
    "date": pa.date32(), "time-millis": pa.time64("us"), "time-micros": pa.time64("us"),
    "timestamp-millis": pa.timestamp("us", tz="UTC"), "timestamp-micros": pa.timestamp("us", tz="UTC"),
    "local-timestamp-millis": pa.timestamp("us"), "local-timestamp-micros": pa.timestamp("us"),
    "uuid": pa.string(),
}
MAX_AVRO_DEPTH = 15


def avro_arrow_schema(path: Path) -> pa.Schema:
    """The Arrow schema of an Avro file's writer schema."""
    with path.open("rb") as raw:
        try:
            schema = fastavro.reader(raw).writer_schema
        except Exception as exc:        # whatever fastavro raises on a corrupt file is the file's fault
            raise ValidationFailed(f"Error while reading Avro data: {arrow_message(exc)}") from None
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise ValidationFailed("Avro: the file's schema must be a record")
    named: dict[str, Any] = {}
    fields = [_avro_field(f["name"], f["type"], named, 0) for f in schema.get("fields", [])]
    return pa.schema(fields)


def _avro_field(name: str, avro: Any, named: dict[str, Any], depth: int) -> pa.Field:
    nullable = False
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        nullable = len(branches) < len(avro)
        if len(branches) != 1:
            raise ValidationFailed(f"Avro: field {name}: a union of several types is not supported")
        avro = branches[0]
    data_type = _avro_type(name, avro, named, depth)
    if pa.types.is_list(data_type):
        nullable = False
    return pa.field(name, data_type, nullable=nullable)


def _avro_type(name: str, avro: Any, named: dict[str, Any], depth: int) -> pa.DataType:  # noqa: PLR0911
    if depth > MAX_AVRO_DEPTH:
        raise ValidationFailed(f"Avro: field {name} nests deeper than {MAX_AVRO_DEPTH} levels")
    if isinstance(avro, str):
        if avro in _AVRO_PRIMITIVES:
            return _AVRO_PRIMITIVES[avro]
        if avro in named:
            return _avro_type(name, named[avro], named, depth + 1)
        raise ValidationFailed(f"Avro: field {name}: unsupported type {avro!r}")
    if isinstance(avro, list):
        return _avro_field(name, avro, named, depth).type
    kind, logical = avro.get("type"), avro.get("logicalType")
    if "name" in avro and kind in ("record", "enum", "fixed"):
        named[avro["name"]] = avro
        if avro.get("namespace"):
            named[f"{avro['namespace']}.{avro['name']}"] = avro
    if logical == "decimal" and kind in ("bytes", "fixed"):
        precision, scale = int(avro.get("precision", 38)), int(avro.get("scale", 0))
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    if logical in _AVRO_LOGICAL:
        return _AVRO_LOGICAL[logical]
    if kind == "record":
        fields = [_avro_field(f["name"], f["type"], named, depth + 1) for f in avro.get("fields", [])]
        if not fields:
            raise ValidationFailed(f"Avro: record field {name} has no fields")
        return pa.struct(fields)
    if kind == "enum":
        return pa.string()
    if kind == "fixed":
        return pa.binary()
    if kind == "array":
        item = _avro_field("item", avro["items"], named, depth + 1)
        return pa.list_(pa.field("item", item.type, nullable=False))
    if kind == "map":
        value = _avro_field("value", avro["values"], named, depth + 1)
        return pa.map_(pa.string(), pa.field("value", value.type, nullable=False))
    if isinstance(kind, str | list | dict):
        return _avro_type(name, kind, named, depth + 1)
    raise ValidationFailed(f"Avro: field {name}: unsupported type {avro!r}")


def avro_plain(value: Any) -> Any:
    """fastavro's values as the coercers take them (a UUID as its text; the rest already fit)."""
    if isinstance(value, dict):
        return {k: avro_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [avro_plain(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
