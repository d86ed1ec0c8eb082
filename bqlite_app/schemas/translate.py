"""Protobuf descriptor -> neutral column types (DESIGN.md "Protobuf -> columns"; docs/protobuf-mapping.md).

One walk over the descriptor (``slots``) decides every column, and both ``columns_for`` and the Arrow batch builder
(``_arrow_build``) read it, so the table's DDL and the ingested batches cannot disagree.

Depth: top-level fields sit at struct level 0; a message field at level ``d`` becomes a struct only when ``d + 1 <=
max_depth``, otherwise a JSON string. Lists of messages and message-valued maps count as a level too. So
``max_depth`` is the deepest struct nesting a table gets, and a recursive message is unrolled that far.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from engines.types import Column, ColumnType, Enum, Interval, ListOf, MapOf, Scalar, Struct, Timestamp

DEFAULT_MAX_DEPTH = 6

TIMESTAMP = "google.protobuf.Timestamp"
DURATION = "google.protobuf.Duration"
# Wrappers carry presence for a scalar: the field is a nullable scalar, not a one-member struct.
WRAPPERS: dict[str, str] = {
    "google.protobuf.DoubleValue": "float64", "google.protobuf.FloatValue": "float32",
    "google.protobuf.Int64Value": "int64", "google.protobuf.UInt64Value": "uint64",
    "google.protobuf.Int32Value": "int32", "google.protobuf.UInt32Value": "uint32",
    "google.protobuf.BoolValue": "bool", "google.protobuf.StringValue": "string",
    "google.protobuf.BytesValue": "binary",
}
# Dynamic shapes with no fixed columns: stored as their canonical protobuf JSON.
JSON_TYPES = frozenset({
    "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue", "google.protobuf.Any",
})

_T = FieldDescriptor
_SCALAR_KINDS: dict[int, str] = {
    _T.TYPE_DOUBLE: "float64", _T.TYPE_FLOAT: "float32",
    _T.TYPE_INT32: "int32", _T.TYPE_SINT32: "int32", _T.TYPE_SFIXED32: "int32",
    _T.TYPE_INT64: "int64", _T.TYPE_SINT64: "int64", _T.TYPE_SFIXED64: "int64",
    _T.TYPE_UINT32: "uint32", _T.TYPE_FIXED32: "uint32",
    _T.TYPE_UINT64: "uint64", _T.TYPE_FIXED64: "uint64",
    _T.TYPE_BOOL: "bool", _T.TYPE_STRING: "string", _T.TYPE_BYTES: "binary",
}
PROTO_TYPE_NAMES: dict[int, str] = {
    _T.TYPE_DOUBLE: "double", _T.TYPE_FLOAT: "float", _T.TYPE_INT32: "int32", _T.TYPE_SINT32: "sint32",
    _T.TYPE_SFIXED32: "sfixed32", _T.TYPE_INT64: "int64", _T.TYPE_SINT64: "sint64", _T.TYPE_SFIXED64: "sfixed64",
    _T.TYPE_UINT32: "uint32", _T.TYPE_FIXED32: "fixed32", _T.TYPE_UINT64: "uint64", _T.TYPE_FIXED64: "fixed64",
    _T.TYPE_BOOL: "bool", _T.TYPE_STRING: "string", _T.TYPE_BYTES: "bytes",
}
_ARROW_SCALARS: dict[str, pa.DataType] = {
    "bool": pa.bool_(), "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
    "uint8": pa.uint8(), "uint16": pa.uint16(), "uint32": pa.uint32(), "uint64": pa.uint64(),
    "float32": pa.float32(), "float64": pa.float64(), "string": pa.string(), "binary": pa.binary(),
    "date": pa.date32(), "json": pa.string(),
}


@dataclass(frozen=True)
class Slot:
    """One column of a message: a field, or the ``<oneof>_case`` column of a real oneof (``field`` is None)."""

    column: Column
    field: FieldDescriptor | None
    oneof: str | None = None
    depth: int = 0          # struct level of this column (0 = top-level)


def columns_for(message: Descriptor, *, max_depth: int = DEFAULT_MAX_DEPTH) -> list[Column]:
    return [slot.column for slot in slots(message, max_depth=max_depth)]


def slots(message: Descriptor, *, max_depth: int = DEFAULT_MAX_DEPTH, depth: int = 0) -> list[Slot]:
    """The columns of ``message`` whose fields sit at struct level ``depth``, in declaration order.

    A real oneof's case column follows the oneof's last member.
    """
    real_oneofs = _real_oneofs(message)
    last_member = {oneof.fields[-1].number: oneof.name for oneof in message.oneofs if oneof.name in real_oneofs}
    taken = {f.name for f in message.fields}
    result: list[Slot] = []
    for field in message.fields:
        column = Column(field.name, field_type(field, max_depth=max_depth, depth=depth), nullable=_nullable(field))
        result.append(Slot(column, field, depth=depth))
        oneof = last_member.get(field.number)
        if oneof is not None:
            name = f"{oneof}_case"
            while name in taken:   # a field already has that name: keep both, never shadow a field
                name += "_"
            taken.add(name)
            result.append(Slot(Column(name, Scalar("string"), nullable=True), None, oneof=oneof, depth=depth))
    return result


def field_type(field: FieldDescriptor, *, max_depth: int, depth: int) -> ColumnType:
    """The column type of ``field`` at struct level ``depth`` (repeated and map included)."""
    if is_map(field):
        entry = field.message_type
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        return MapOf(_single_type(key, max_depth, depth), _single_type(value, max_depth, depth))
    item = _single_type(field, max_depth, depth)
    return ListOf(item) if field.is_repeated else item


def _single_type(field: FieldDescriptor, max_depth: int, depth: int) -> ColumnType:
    if field.type == _T.TYPE_ENUM:
        return Enum(tuple((value.name, value.number) for value in field.enum_type.values))
    if field.message_type is None:
        return Scalar(_SCALAR_KINDS[field.type])  # type: ignore[arg-type]
    name = field.message_type.full_name
    if name == TIMESTAMP:
        return Timestamp()
    if name == DURATION:
        return Interval()
    if name in WRAPPERS:
        return Scalar(WRAPPERS[name])  # type: ignore[arg-type]
    if name in JSON_TYPES or depth + 1 > max_depth or not field.message_type.fields:
        # No fixed columns (dynamic WKTs), past the depth cap, or an empty message (a struct needs a field).
        return Scalar("json")
    return Struct(tuple(s.column for s in slots(field.message_type, max_depth=max_depth, depth=depth + 1)))


def _nullable(field: FieldDescriptor) -> bool:
    """Presence decides: fields that can be unset are nullable; required and implicit-presence ones are not."""
    if field.is_repeated or field.is_required:
        return False
    return bool(field.has_presence)


def is_map(field: FieldDescriptor) -> bool:
    message = field.message_type
    return bool(field.is_repeated and message is not None and message.GetOptions().map_entry)


def _real_oneofs(message: Descriptor) -> frozenset[str]:
    """Oneofs the user wrote; proto3 ``optional`` makes a synthetic one-member oneof that is not a choice."""
    if not message.oneofs:
        return frozenset()
    proto = descriptor_pb2.DescriptorProto()
    message.CopyToProto(proto)
    synthetic = {f.oneof_index for f in proto.field if f.proto3_optional}
    return frozenset(o.name for i, o in enumerate(message.oneofs) if i not in synthetic)


def arrow_type(column_type: ColumnType) -> pa.DataType:
    if isinstance(column_type, Scalar):
        return _ARROW_SCALARS[column_type.kind]
    if isinstance(column_type, Timestamp):
        return pa.timestamp(column_type.unit, tz=column_type.tz)
    if isinstance(column_type, Interval):
        return pa.duration("us")
    if isinstance(column_type, Enum):
        return pa.string()
    if isinstance(column_type, ListOf):
        return pa.list_(pa.field("item", arrow_type(column_type.item), nullable=False))
    if isinstance(column_type, MapOf):
        return pa.map_(arrow_type(column_type.key), pa.field("value", arrow_type(column_type.value), nullable=False))
    if isinstance(column_type, Struct):
        return pa.struct([arrow_field(f) for f in column_type.fields])
    raise TypeError(f"unsupported column type {column_type!r}")


def arrow_field(column: Column) -> pa.Field:
    return pa.field(column.name, arrow_type(column.type), nullable=column.nullable)


def arrow_schema(columns: list[Column]) -> pa.Schema:
    """The Arrow schema of ingested batches; engines' insert accepts it for tables made from ``columns``.

    Enums are strings (label, or the decimal number when unknown), JSON is a string, durations are ``duration[us]``
    (ClickHouse's insert turns them into its Int64 microseconds). List items and map values are never null.
    """
    return pa.schema([arrow_field(c) for c in columns])


def field_tree(message: Descriptor, *, max_depth: int = DEFAULT_MAX_DEPTH) -> list[dict[str, Any]]:
    """docs/api.md's ``fields``: ``{"name", "number", "proto_type", "mode": NULLABLE|REQUIRED|REPEATED, "fields"}``.

    ``mode`` describes the column: REPEATED for lists and maps, REQUIRED when the column is never null (proto2
    ``required`` and proto3 implicit-presence scalars), else NULLABLE. ``fields`` nests exactly as far as the
    columns do; a field stored as JSON has none. Maps list their ``key`` and ``value``.
    """
    return [_field_node(s.field, s.column, max_depth) for s in slots(message, max_depth=max_depth)
            if s.field is not None]


def _field_node(field: FieldDescriptor, column: Column, max_depth: int) -> dict[str, Any]:
    mode = "REPEATED" if field.is_repeated else ("NULLABLE" if column.nullable else "REQUIRED")
    children: list[dict[str, Any]] = []
    column_type = column.type
    if isinstance(column_type, MapOf):
        entry = field.message_type
        children = [
            _field_node(entry.fields_by_name["key"], Column("key", column_type.key, nullable=False), max_depth),
            _field_node(entry.fields_by_name["value"], Column("value", column_type.value, nullable=False), max_depth),
        ]
    else:
        if isinstance(column_type, ListOf):
            column_type = column_type.item
        if isinstance(column_type, Struct):
            by_name = {c.name: c for c in column_type.fields}
            children = [_field_node(f, by_name[f.name], max_depth) for f in field.message_type.fields]
    return {"name": field.name, "number": field.number, "proto_type": proto_type(field), "mode": mode,
            "fields": children}


def proto_type(field: FieldDescriptor) -> str:
    """How the .proto spells the type: ``int64``, ``enum a.B``, ``message a.C``, ``map<string, int64>``, WKT names."""
    if is_map(field):
        entry = field.message_type
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        return f"map<{proto_type(key)}, {_bare_type(value)}>"
    if field.type == _T.TYPE_ENUM:
        return f"enum {field.enum_type.full_name}"
    return _bare_type(field) if field.message_type is None else _message_type_name(field)


def _bare_type(field: FieldDescriptor) -> str:
    """A map value's type as the .proto writes it (no ``enum``/``message`` prefix)."""
    if field.type == _T.TYPE_ENUM:
        return field.enum_type.full_name
    if field.message_type is not None:
        return field.message_type.full_name
    return PROTO_TYPE_NAMES[field.type]


def _message_type_name(field: FieldDescriptor) -> str:
    name = field.message_type.full_name
    if name in (TIMESTAMP, DURATION) or name in WRAPPERS or name in JSON_TYPES:
        return name
    return f"message {name}"


def top_level_field_count(message: Descriptor) -> int:
    """docs/api.md's ``field_count``: the message's top-level fields. A oneof's ``<oneof>_case`` column and struct
    members do not count, so it differs from ``len(columns_for(message))``."""
    return len(message.fields)
