"""Decoded protobuf messages -> Arrow columns, column by column.

Every field becomes one pass over the batch (``attrgetter``/``methodcaller`` maps and flat list comprehensions), then
one ``pa.array`` call with the column's exact type, so the per-value Python work is a C-level attribute read. The
columns follow ``translate.slots``, the same walk that makes the DDL.

Strictness the upb runtime does not give us, checked here (``BuildError`` names the field):
- a known field number that arrived with another wire type: upb keeps it as an unknown field, which would silently
  turn the value into NULL or a default;
- invalid UTF-8 in a proto2 string (upb only validates proto3 strings; Arrow's string conversion rejects it);
- proto2 ``required`` fields that are missing;
- Timestamp and Duration values outside their documented ranges.
Unknown numbers of closed (proto2) enums also live in the unknown fields; they are recovered so they are kept as
their decimal string, like unknown numbers of open enums.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from itertools import chain, compress
from operator import attrgetter, methodcaller
from typing import Any

import numpy as np
import pyarrow as pa
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.protobuf.unknown_fields import UnknownFieldSet

from bqlite_app.schemas import _wire
from bqlite_app.schemas.translate import (
    DURATION,
    JSON_TYPES,
    TIMESTAMP,
    WRAPPERS,
    Slot,
    arrow_field,
    arrow_type,
    is_map,
    proto_type,
    slots,
)
from engines.types import ColumnType, Enum, Interval, ListOf, MapOf, Scalar, Struct, Timestamp

# Documented ranges of the well-known types (0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z; +-10,000 years).
_TS_MIN, _TS_MAX = -62_135_596_800, 253_402_300_799
_DUR_MAX = 315_576_000_000
_NANOS_MAX = 999_999_999

Mask = np.ndarray | None                            # True where the value is null
Convert = Callable[[list[Any], Mask], pa.Array]     # values (one per row, placeholders where masked) -> array
Extras = dict[int, dict[int, list[Any]]]            # row -> field number -> values recovered from unknown fields


class BuildError(ValueError):
    """A message the schema cannot accept; the reason names the field."""


class MessageBuilder:
    """Builds the columns of one message type at one struct level."""

    def __init__(self, message: Descriptor, *, max_depth: int, depth: int = 0, path: str = "") -> None:
        self.message = message
        self.slots = slots(message, max_depth=max_depth, depth=depth)
        self.fields = [arrow_field(s.column) for s in self.slots]
        self._max_depth = max_depth
        self._depth = depth
        self._path = path
        self._known = {f.number: f for f in message.fields}
        self._closed = {f.number for f in message.fields if _closed_enum(f) is not None}
        self._extract = [self._extractor(slot) for slot in self.slots]

    def arrays(self, messages: list[Message]) -> list[pa.Array]:
        extras = self._scan_unknown(messages)
        return [extract(messages, extras) for extract in self._extract]

    def struct(self, messages: list[Message], mask: Mask) -> pa.Array:
        arrow_mask = pa.array(mask, pa.bool_()) if mask is not None and mask.any() else None
        return pa.StructArray.from_arrays(self.arrays(messages), fields=self.fields, mask=arrow_mask)

    # -- unknown fields: wrong wire types and closed-enum values ------------------------------------------------

    def _scan_unknown(self, messages: list[Message]) -> Extras:
        extras: Extras = {}
        for row, unknown in enumerate(map(UnknownFieldSet, messages)):
            if not len(unknown):
                continue
            for item in unknown:
                field = self._known.get(item.field_number)
                if field is None:
                    continue   # a field this schema does not know (a newer producer): ignored, as protobuf does
                recovered = self._closed_enum_values(field, item.wire_type, item.data)
                if recovered is None:
                    raise BuildError(
                        f"field {self._path}{field.name} (number {field.number}, {proto_type(field)}) arrived with "
                        f"wire type {item.wire_type}, expected {_wire.expected_wire_types(field)}")
                extras.setdefault(row, {}).setdefault(field.number, []).extend(recovered)
        return extras

    def _closed_enum_values(self, field: FieldDescriptor, wire_type: int, data: Any) -> list[Any] | None:
        if field.number not in self._closed:
            return None
        if is_map(field):
            if wire_type != _wire.LEN:
                return None
            key_field = field.message_type.fields_by_name["key"]
            try:
                return [_wire.map_entry(data, key_field)]
            except (UnicodeDecodeError, _wire.WireError) as exc:
                raise BuildError(f"field {self._path}{field.name}: bad map entry: {exc}") from exc
        if wire_type == _wire.VARINT:
            return [_wire.as_int32(data)]
        if wire_type == _wire.LEN and field.is_repeated:
            return [_wire.as_int32(v) for v in _wire.packed_varints(data)]
        return None

    # -- one extractor per slot ---------------------------------------------------------------------------------

    def _extractor(self, slot: Slot) -> Callable[[list[Message], Extras], pa.Array]:
        column, field = slot.column, slot.field
        if field is None:
            which = methodcaller("WhichOneof", slot.oneof)
            return lambda messages, extras: pa.array(list(map(which, messages)), pa.string())
        path = self._path + field.name
        get = attrgetter(field.name)
        number = field.number
        if isinstance(column.type, MapOf):
            return self._map_extractor(field, column.type, path)
        if isinstance(column.type, ListOf):
            convert = self._convert(field, column.type.item, path)
            list_type = arrow_type(column.type)

            def extract_list(messages: list[Message], extras: Extras) -> pa.Array:
                containers: list[Any] = list(map(get, messages))
                for row, values in extras.items():
                    if number in values:   # recovered closed-enum numbers go after the known ones
                        containers[row] = [*containers[row], *values[number]]
                offsets = _offsets(containers)
                items = convert(list(chain.from_iterable(containers)), None)
                return pa.ListArray.from_arrays(offsets, items, type=list_type)

            return extract_list

        convert = self._convert(field, column.type, path)
        if not column.nullable:
            return lambda messages, extras: convert(_patched(list(map(get, messages)), None, extras, number)[0], None)
        has = methodcaller("HasField", field.name)
        if field.message_type is not None:
            return _sparse(convert, get, has, GetMessageClass(field.message_type)(), arrow_type(column.type))

        def extract_nullable(messages: list[Message], extras: Extras) -> pa.Array:
            mask = np.fromiter(map(has, messages), dtype=bool, count=len(messages))
            np.logical_not(mask, out=mask)
            values, mask = _patched(list(map(get, messages)), mask, extras, number)
            return convert(values, mask if mask.any() else None)

        return extract_nullable

    def _map_extractor(self, field: FieldDescriptor, column_type: MapOf, path: str
                       ) -> Callable[[list[Message], Extras], pa.Array]:
        entry = field.message_type
        convert_key = self._convert(entry.fields_by_name["key"], column_type.key, path + ".key")
        convert_value = self._convert(entry.fields_by_name["value"], column_type.value, path + ".value")
        map_type = arrow_type(column_type)
        get, number = attrgetter(field.name), field.number

        def extract_map(messages: list[Message], extras: Extras) -> pa.Array:
            containers: list[Any] = list(map(get, messages))
            for row, values in extras.items():
                if number in values:   # entries whose closed-enum value upb could not store
                    containers[row] = {**containers[row], **dict(values[number])}
            offsets = _offsets(containers)
            try:
                # Two passes over an unchanged map see the same order; per-entry getitem beats items() 4x.
                keys = list(chain.from_iterable(containers))
                values = [c[k] for c in containers for k in c]
            except UnicodeDecodeError as exc:   # upb decodes proto2 string keys late, and without mercy
                raise BuildError(f"field {path}.key: string is not valid UTF-8") from exc
            return pa.MapArray.from_arrays(offsets, convert_key(keys, None), convert_value(values, None),
                                           type=map_type)

        return extract_map

    def _convert(self, field: FieldDescriptor, column_type: ColumnType, path: str) -> Convert:
        """The converter for one (non-repeated) value of ``field`` stored as ``column_type``."""
        target = arrow_type(column_type)
        if isinstance(column_type, Enum):
            return _enum_converter(field)
        message = field.message_type
        if message is None:
            return _scalar_converter(target, path)
        name = message.full_name
        if isinstance(column_type, Timestamp) and name == TIMESTAMP:
            return _time_converter(target, path, timestamp=True)
        if isinstance(column_type, Interval) and name == DURATION:
            return _time_converter(target, path, timestamp=False)
        if name in WRAPPERS:
            scalar = _scalar_converter(target, path)
            value = attrgetter("value")
            return lambda values, mask: scalar(list(map(value, values)), mask)
        if isinstance(column_type, Struct):
            child = MessageBuilder(message, max_depth=self._max_depth, depth=self._depth + 1, path=path + ".")
            return child.struct
        if isinstance(column_type, Scalar) and column_type.kind == "json":
            return _json_converter(path, is_wkt=name in JSON_TYPES)
        raise TypeError(f"no converter for {path}: {column_type!r}")


def _sparse(convert: Convert, get: Callable[[Message], Any], has: Callable[[Message], bool],
            placeholder: Message, target: pa.DataType) -> Callable[[list[Message], Extras], pa.Array]:
    """A nullable message field: convert only the rows that set it, then spread them out with nulls between.

    Reading an unset message field makes upb build an empty message object, and a struct would then build all its
    columns for rows that are null anyway; optional sub-messages are often sparse, so skip both. A null struct
    still needs valid children (ClickHouse rejects a null in a non-nullable member even under a null parent), so
    structs take an all-default placeholder row where they are null and get their validity afterwards.
    """
    struct_fields = list(target) if pa.types.is_struct(target) else None

    def extract(messages: list[Message], extras: Extras) -> pa.Array:
        present = np.fromiter(map(has, messages), dtype=bool, count=len(messages))
        if present.all():
            return convert(list(map(get, messages)), None)
        chosen = list(map(get, compress(messages, present)))
        positions = np.cumsum(present) - 1     # row -> index among the present rows
        if struct_fields is None:
            values = convert(chosen or [placeholder], None)
            return values.take(pa.array(positions, pa.int64(), mask=~present))
        values = convert([*chosen, placeholder], None)
        positions[~present] = len(chosen)
        spread = values.take(pa.array(positions, pa.int64()))
        return pa.StructArray.from_arrays(spread.flatten(), fields=struct_fields, mask=pa.array(~present))

    return extract


def _patched(values: list[Any], mask: Mask, extras: Extras, number: int) -> tuple[list[Any], Mask]:
    """Put recovered closed-enum numbers into rows where the known field stayed unset."""
    for row, found in extras.items():
        if number in found and (mask is None or mask[row]):
            values[row] = found[number][-1]   # the last occurrence wins, as for any singular field
            if mask is not None:
                mask[row] = False
    return values, mask


def _offsets(containers: list[Any]) -> pa.Array:
    offsets = np.zeros(len(containers) + 1, dtype=np.int32)
    np.cumsum(np.fromiter(map(len, containers), dtype=np.int64, count=len(containers)), out=offsets[1:])
    return pa.array(offsets)


def _scalar_converter(target: pa.DataType, path: str) -> Convert:
    if not pa.types.is_string(target):
        return lambda values, mask: pa.array(values, target, mask=mask)

    def convert_string(values: list[Any], mask: Mask) -> pa.Array:
        try:
            return pa.array(values, target, mask=mask)
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeError) as exc:
            # proto2 strings are not validated by upb and come back as bytes; Arrow rejects bad UTF-8 here.
            raise BuildError(f"field {path}: string is not valid UTF-8") from exc

    return convert_string


def _enum_converter(field: FieldDescriptor) -> Convert:
    labels: dict[int, str] = {}
    for value in field.enum_type.values:
        labels.setdefault(value.number, value.name)   # with allow_alias, the first label names the number
    label = labels.get

    def convert(values: list[Any], mask: Mask) -> pa.Array:
        # An unknown number is kept as its decimal string: the engines store enums as strings.
        return pa.array([label(v) or str(v) for v in values], pa.string(), mask=mask)

    return convert


def _time_converter(target: pa.DataType, path: str, *, timestamp: bool) -> Convert:
    seconds_of, nanos_of = attrgetter("seconds"), attrgetter("nanos")

    def convert(values: list[Any], mask: Mask) -> pa.Array:
        count = len(values)
        seconds = np.fromiter(map(seconds_of, values), dtype=np.int64, count=count)
        nanos = np.fromiter(map(nanos_of, values), dtype=np.int64, count=count)
        if count:
            _check_range(seconds, nanos, path, timestamp)
        if timestamp:
            micros = seconds * 1_000_000 + nanos // 1000          # floor: an instant never moves forward
        else:
            micros = seconds * 1_000_000 + np.sign(nanos) * (np.abs(nanos) // 1000)   # toward zero, as protobuf
        return pa.array(micros, target, mask=mask)

    return convert


def _check_range(seconds: np.ndarray, nanos: np.ndarray, path: str, timestamp: bool) -> None:
    if timestamp:
        bad = (seconds < _TS_MIN) | (seconds > _TS_MAX) | (nanos < 0) | (nanos > _NANOS_MAX)
        what = "google.protobuf.Timestamp outside 0001-01-01..9999-12-31 or nanos outside 0..999999999"
    else:
        bad = ((np.abs(seconds) > _DUR_MAX) | (np.abs(nanos) > _NANOS_MAX)
               | ((seconds > 0) & (nanos < 0)) | ((seconds < 0) & (nanos > 0)))
        what = "google.protobuf.Duration outside +-10000 years or with seconds and nanos of opposite signs"
    if bad.any():
        row = int(np.argmax(bad))
        raise BuildError(f"field {path}: {what} (seconds={int(seconds[row])}, nanos={int(nanos[row])})")


def _json_converter(path: str, *, is_wkt: bool) -> Convert:
    def convert(values: list[Any], mask: Mask) -> pa.Array:
        if mask is None:
            texts = [to_json(v, path) for v in values]
        else:
            texts = [None if null else to_json(v, path) for v, null in zip(values, mask.tolist())]
        return pa.array(texts, pa.string())

    return convert


def to_json(message: Message, path: str = "") -> str:
    """Canonical protobuf JSON with .proto field names, compact (Struct/Value/Any, and messages past the cap)."""
    try:
        data = json_format.MessageToDict(message, preserving_proto_field_name=True,
                                         descriptor_pool=message.DESCRIPTOR.file.pool)
    except TypeError:
        if message.DESCRIPTOR.full_name != "google.protobuf.Any":
            raise
        # An Any whose type is not in the schema cannot be expanded; keep it whole rather than drop it.
        data = {"@type": message.type_url, "value": base64.b64encode(message.value).decode("ascii")}
    except ValueError as exc:
        raise BuildError(f"field {path}: cannot be written as JSON: {exc}") from exc
    try:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BuildError(f"field {path}: cannot be written as JSON: {exc}") from exc


def _closed_enum(field: FieldDescriptor) -> Any:
    """The closed enum a field (or a map field's value) holds, if any."""
    target = field
    if is_map(field):
        target = field.message_type.fields_by_name["value"]
    enum = target.enum_type
    return enum if enum is not None and enum.is_closed else None


def required_anywhere(message: Descriptor, seen: frozenset[str] = frozenset()) -> bool:
    """Whether ``IsInitialized`` can fail for this message type (a proto2 ``required`` field at any depth)."""
    if message.full_name in seen:
        return False
    seen = seen | {message.full_name}
    return any(f.is_required or (f.message_type is not None and required_anywhere(f.message_type, seen))
               for f in message.fields)
