"""A .proto message -> the BigQuery schema (``TableFieldSchema`` JSON) of the table registered from it.

``message_to_fields`` follows protoc-gen-bq-schema (integers INTEGER, double/float FLOAT, bool BOOLEAN, messages
RECORD, Timestamp TIMESTAMP, Duration INTERVAL, wrappers their scalar, modes from the label: repeated REPEATED, proto2
required REQUIRED, everything else NULLABLE), with one difference: enums are STRING (the generator's
``enum-as-string`` option) because the tables store labels, not numbers. Fields that our tables store as JSON text
(dynamic WKTs, messages past the depth cap) are JSON, and a real oneof's ``<oneof>_case`` column is a NULLABLE
STRING. Maps are a REPEATED RECORD of ``key`` and ``value``, as in ``schema.columns_to_fields``.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from bqlite_app.schemas.translate import DEFAULT_MAX_DEPTH, slots
from engines.types import Column, ListOf, MapOf, Scalar, Struct

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


def message_to_fields(message: Descriptor, *, max_depth: int | None = None) -> list[dict[str, Any]]:
    """The BigQuery schema of a table registered from ``message``, as protoc-gen-bq-schema writes it (see the module
    notes), shaped exactly like the table's columns (same depth cap, oneof case columns included)."""
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
