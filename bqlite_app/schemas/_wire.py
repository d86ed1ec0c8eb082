"""The little of the protobuf wire format that upb leaves to us: varint length prefixes, and the raw bytes of
unknown fields (closed-enum values upb could not store, and wrong wire types to describe)."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
MAX_VARINT_BYTES = 10

_T = FieldDescriptor
_WIRE_OF_TYPE = {
    _T.TYPE_DOUBLE: I64, _T.TYPE_FIXED64: I64, _T.TYPE_SFIXED64: I64,
    _T.TYPE_FLOAT: I32, _T.TYPE_FIXED32: I32, _T.TYPE_SFIXED32: I32,
    _T.TYPE_STRING: LEN, _T.TYPE_BYTES: LEN, _T.TYPE_MESSAGE: LEN, _T.TYPE_GROUP: SGROUP,
}
_NAMES = {VARINT: "0 (varint)", I64: "1 (64-bit)", LEN: "2 (length-delimited)", SGROUP: "3 (group)",
          EGROUP: "4 (end group)", I32: "5 (32-bit)"}


class WireError(ValueError):
    pass


def expected_wire_types(field: FieldDescriptor) -> str:
    wire = _WIRE_OF_TYPE.get(field.type, VARINT)
    names = [_NAMES[wire]]
    if field.is_repeated and wire in (VARINT, I32, I64):
        names.append(_NAMES[LEN] + " when packed")
    return " or ".join(names)


def read_varint(data: bytes | bytearray | memoryview, pos: int, end: int) -> tuple[int, int]:
    """(value, next position). Raises WireError for a varint longer than 10 bytes or one cut by ``end``."""
    result = shift = 0
    for i in range(pos, min(end, pos + MAX_VARINT_BYTES)):
        byte = data[i]
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i + 1
        shift += 7
    if end - pos >= MAX_VARINT_BYTES:
        raise WireError("invalid varint: longer than 10 bytes")
    raise WireError("truncated varint")


def as_int32(value: int) -> int:
    """An enum number from its varint (negative numbers are sign-extended to 64 bits)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def packed_varints(data: bytes) -> list[int]:
    values, pos = [], 0
    while pos < len(data):
        value, pos = read_varint(data, pos, len(data))
        values.append(value)
    return values


def map_entry(data: bytes, key_field: FieldDescriptor) -> tuple[Any, int]:
    """(key, enum number) of a map entry that upb kept as unknown because its closed-enum value was unknown."""
    key: Any = key_field.default_value
    value = 0
    pos = 0
    while pos < len(data):
        tag, pos = read_varint(data, pos, len(data))
        number, wire = tag >> 3, tag & 7
        if wire == VARINT:
            raw, pos = read_varint(data, pos, len(data))
        elif wire == LEN:
            size, pos = read_varint(data, pos, len(data))
            raw, pos = bytes(data[pos:pos + size]), pos + size
        elif wire in (I32, I64):
            width = 4 if wire == I32 else 8
            raw, pos = int.from_bytes(data[pos:pos + width], "little"), pos + width
        else:
            raise WireError(f"unexpected wire type {wire} in a map entry")
        if number == 1:
            key = _map_key(raw, key_field)
        elif number == 2:
            value = as_int32(raw)
    return key, value


def _map_key(raw: Any, field: FieldDescriptor) -> Any:
    kind = field.type
    if kind == _T.TYPE_STRING:
        return raw.decode("utf-8")
    if kind == _T.TYPE_BOOL:
        return bool(raw)
    if kind in (_T.TYPE_SINT32, _T.TYPE_SINT64):
        return (raw >> 1) ^ -(raw & 1)
    bits = 32 if kind in (_T.TYPE_INT32, _T.TYPE_SFIXED32, _T.TYPE_UINT32, _T.TYPE_FIXED32) else 64
    raw &= (1 << bits) - 1
    if kind in (_T.TYPE_INT32, _T.TYPE_SFIXED32, _T.TYPE_INT64, _T.TYPE_SFIXED64) and raw >= 1 << (bits - 1):
        raw -= 1 << bits
    return raw



def diagnose(payload: bytes, message: Any) -> str | None:
    """Why upb rejected ``payload`` as ``message`` (a Descriptor), in words; None when no structural fault is found.

    Runs only after a parse failed, so plain Python is fine. Walks the fields, descending into known message fields
    (a fault inside an unknown or bytes field is not upb's business either).
    """
    try:
        _walk(payload, 0, len(payload), message, 0, None)
    except WireError as exc:
        return str(exc)
    return None


def _walk(data: bytes, pos: int, end: int, message: Any, depth: int, group: int | None) -> int:
    """Checks fields from ``pos`` up to ``end`` (or up to the end tag of ``group``); returns the position after."""
    fields = message.fields_by_number if message is not None else {}
    while pos < end:
        start = pos
        try:
            tag, pos = read_varint(data, pos, end)
        except WireError as exc:
            raise WireError(f"{exc} in a field tag at payload byte {start}") from None
        number, wire = tag >> 3, tag & 7
        field = fields.get(number)
        label = f"field {number}" + (f" ({field.name})" if field is not None else "")
        if number == 0:
            raise WireError(f"invalid field number 0 at payload byte {start}")
        if wire in (6, 7):
            raise WireError(f"{label} has invalid wire type {wire} at payload byte {start}")
        if wire == VARINT:
            try:
                _, pos = read_varint(data, pos, end)
            except WireError as exc:
                raise WireError(f"{label}: {exc} at payload byte {pos}") from None
        elif wire in (I64, I32):
            width = 8 if wire == I64 else 4
            if pos + width > end:
                raise WireError(f"{label}: truncated, needs {width} bytes but {end - pos} remain")
            pos += width
        elif wire == LEN:
            try:
                size, pos = read_varint(data, pos, end)
            except WireError as exc:
                raise WireError(f"{label}: {exc} in its length at payload byte {pos}") from None
            if pos + size > end:
                raise WireError(f"{label}: truncated, declares {size} bytes but {end - pos} remain")
            if field is not None and field.type == _T.TYPE_MESSAGE and depth < 100:
                try:
                    _walk(data, pos, pos + size, field.message_type, depth + 1, None)
                except WireError as exc:
                    raise WireError(f"{label}: {exc}") from None
            pos += size
        elif wire == SGROUP:
            inner = field.message_type if field is not None and field.type == _T.TYPE_GROUP else None
            pos = _walk(data, pos, end, inner, depth + 1, number)
        elif group == number:   # EGROUP closing the group we are in
            return pos
        else:
            raise WireError(f"{label}: unexpected end-group tag at payload byte {start}")
    if group is not None:
        raise WireError(f"field {group}: group not closed before the end of the data")
    return pos
