"""Facts about descriptors that the WIRE_JSON rules in ``compat.py`` need: type groups, cardinality, reserved ranges.

The groups are Buf's (bufbuild/buf, ``bufbreakingcheck/util.go`` and ``cardinality.go``); see ``compat.py`` for the
table and the reasons.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor, OneofDescriptor

FD = FieldDescriptor

SCALAR_NAMES: dict[int, str] = {
    FD.TYPE_DOUBLE: "double",
    FD.TYPE_FLOAT: "float",
    FD.TYPE_INT64: "int64",
    FD.TYPE_UINT64: "uint64",
    FD.TYPE_INT32: "int32",
    FD.TYPE_FIXED64: "fixed64",
    FD.TYPE_FIXED32: "fixed32",
    FD.TYPE_BOOL: "bool",
    FD.TYPE_STRING: "string",
    FD.TYPE_BYTES: "bytes",
    FD.TYPE_UINT32: "uint32",
    FD.TYPE_SFIXED32: "sfixed32",
    FD.TYPE_SFIXED64: "sfixed64",
    FD.TYPE_SINT32: "sint32",
    FD.TYPE_SINT64: "sint64",
}

# FIELD_WIRE_JSON_COMPATIBLE_TYPE: types in one group are both wire- and JSON-compatible (the intersection of the
# two). Every type not listed in a shared group is alone in its group.
WIRE_JSON_TYPE_GROUP: dict[int, int] = {
    FD.TYPE_INT32: 1,
    FD.TYPE_UINT32: 1,
    FD.TYPE_INT64: 2,  # 64-bit integers are JSON strings, so they cannot mix with the 32-bit ones
    FD.TYPE_UINT64: 2,
    FD.TYPE_FIXED32: 3,
    FD.TYPE_SFIXED32: 3,
    FD.TYPE_FIXED64: 4,
    FD.TYPE_SFIXED64: 4,
    FD.TYPE_BOOL: 5,  # wire-compatible with int32 & co, but JSON writes true/false
    FD.TYPE_SINT32: 6,  # zigzag: wire-compatible with sint64, JSON not (number vs string)
    FD.TYPE_SINT64: 7,
    FD.TYPE_STRING: 8,  # wire-compatible with bytes, JSON not (text vs base64)
    FD.TYPE_BYTES: 9,
    FD.TYPE_DOUBLE: 10,
    FD.TYPE_FLOAT: 11,
    FD.TYPE_GROUP: 12,  # delimited encoding is not length-prefixed: never compatible with message
    FD.TYPE_MESSAGE: 13,
    FD.TYPE_ENUM: 14,  # wire-compatible with int32 & co, but JSON writes enum names
}

# FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY: explicit and implicit presence share a group (same encoding); maps and
# repeated fields do not (JSON objects vs arrays); required is alone (MESSAGE_SAME_REQUIRED_FIELDS covers it too).
OPTIONAL_EXPLICIT = "optional (explicit presence)"
OPTIONAL_IMPLICIT = "optional (implicit presence)"
REQUIRED = "required"
REPEATED = "repeated"
MAP = "map"
CARDINALITY_GROUP: dict[str, int] = {OPTIONAL_EXPLICIT: 1, OPTIONAL_IMPLICIT: 1, REQUIRED: 2, REPEATED: 3, MAP: 4}

JSON_FORMAT_ALLOW = descriptor_pb2.FeatureSet.ALLOW


def is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def cardinality(field: FieldDescriptor) -> str:
    if is_map(field):
        return MAP
    if field.is_repeated:
        return REPEATED
    if field.is_required:
        return REQUIRED
    return OPTIONAL_EXPLICIT if field.has_presence else OPTIONAL_IMPLICIT


def type_name(field: FieldDescriptor) -> str:
    """How a field's type reads in a sentence: ``double``, ``trip.v1.Place``, ``map<string, int64>``."""
    if is_map(field):
        entry = field.message_type
        return f"map<{type_name(entry.fields_by_number[1])}, {type_name(entry.fields_by_number[2])}>"
    if field.type == FD.TYPE_ENUM:
        return field.enum_type.full_name
    if field.type == FD.TYPE_MESSAGE:
        return field.message_type.full_name
    if field.type == FD.TYPE_GROUP:
        return f"{field.message_type.full_name} (delimited encoding)"  # a proto2 group, or editions DELIMITED
    return SCALAR_NAMES[field.type]


def json_format_allowed(descriptor: Descriptor | EnumDescriptor) -> bool:
    """Resolved ``features.json_format`` (editions); proto2/proto3 always resolve to ALLOW."""
    get = getattr(descriptor, "_GetFeatures", None)  # private in the Python API, but the only way to resolve features
    if get is None:
        return True
    return get().json_format == JSON_FORMAT_ALLOW


def message_proto(message: Descriptor) -> descriptor_pb2.DescriptorProto:
    proto = descriptor_pb2.DescriptorProto()
    message.CopyToProto(proto)
    return proto


def enum_proto(enum: EnumDescriptor) -> descriptor_pb2.EnumDescriptorProto:
    proto = descriptor_pb2.EnumDescriptorProto()
    enum.CopyToProto(proto)
    return proto


def file_syntax(descriptor: Descriptor) -> str:
    """``proto2``, ``proto3`` or ``editions 2023``; the Python descriptors no longer expose it directly."""
    proto = descriptor_pb2.FileDescriptorProto.FromString(descriptor.file.serialized_pb)
    if proto.syntax == "editions":
        name = descriptor_pb2.Edition.Name(proto.edition)
        return "editions " + name.removeprefix("EDITION_")
    return proto.syntax or "proto2"


def message_reserved(proto: descriptor_pb2.DescriptorProto) -> list[tuple[int, int]]:
    """Reserved field numbers as inclusive ranges (DescriptorProto ends are exclusive)."""
    return [(r.start, r.end - 1) for r in proto.reserved_range]


def enum_reserved(proto: descriptor_pb2.EnumDescriptorProto) -> list[tuple[int, int]]:
    """Reserved enum numbers as inclusive ranges (EnumDescriptorProto ends are already inclusive)."""
    return [(r.start, r.end) for r in proto.reserved_range]


def in_ranges(number: int, ranges: Iterable[tuple[int, int]]) -> bool:
    return any(start <= number <= end for start, end in ranges)


def uncovered(old: Iterable[tuple[int, int]], new: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Parts of the ``old`` inclusive ranges that no ``new`` range covers (RESERVED_*_NO_DELETE)."""
    merged: list[list[int]] = []
    for start, end in sorted(new):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    gaps: list[tuple[int, int]] = []
    for start, end in sorted(old):
        cursor = start
        for m_start, m_end in merged:
            if m_end < cursor or m_start > end:
                continue
            if m_start > cursor:
                gaps.append((cursor, m_start - 1))
            cursor = max(cursor, m_end + 1)
            if cursor > end:
                break
        if cursor <= end:
            gaps.append((cursor, end))
    return gaps


def range_text(start: int, end: int) -> str:
    return str(start) if start == end else f"{start} to {end}"


def defaults_equal(old: object, new: object) -> bool:
    if isinstance(old, float) and isinstance(new, float) and math.isnan(old) and math.isnan(new):
        return True
    return old == new


def default_text(field: FieldDescriptor) -> str:
    value = field.default_value
    if field.type == FD.TYPE_ENUM and field.enum_type is not None:
        by_number = field.enum_type.values_by_number
        return by_number[value].name if value in by_number else str(value)
    if isinstance(value, bytes):
        return repr(value)
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def names_by_number(enum: EnumDescriptor) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for value in enum.values:  # values_by_number keeps one name per number; aliases matter for JSON
        out.setdefault(value.number, []).append(value.name)
    return out


def enum_is_subset(old: EnumDescriptor, new: EnumDescriptor) -> bool:
    new_values = names_by_number(new)
    return all(set(names) <= set(new_values.get(number, ())) for number, names in names_by_number(old).items())


def is_synthetic(oneof: OneofDescriptor, proto: descriptor_pb2.DescriptorProto) -> bool:
    """A proto3 ``optional`` field's generated oneof: not a real oneof for FIELD_SAME_ONEOF."""
    fields = list(oneof.fields)
    return len(fields) == 1 and proto.field[fields[0].index].proto3_optional


def real_oneof(fd: FieldDescriptor) -> str | None:
    oneof = fd.containing_oneof
    if oneof is None:
        return None
    if is_synthetic(oneof, message_proto(fd.containing_type)):
        return None
    return oneof.name
