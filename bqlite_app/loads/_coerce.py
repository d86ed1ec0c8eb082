"""Turning JSON (and Avro) rows, parsed into Python values, into rows of the target schema, then into batches.

A coercer is built once per schema (one closure per field), so each row costs only the checks its fields need; a
value that does not fit raises ``BadValue``, naming the field. The value rules are ``_convert``'s (BigQuery's).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from bqlite_app.loads._arrow import is_json
from bqlite_app.loads._convert import CAST_ERRORS, FALSE_WORDS, TRUE_WORDS, BadValue, quote_value, type_name

# -- rows --------------------------------------------------------------------------------

Coerce = Callable[[Any], Any]


def row_coercer(schema: pa.Schema, *, ignore_unknown: bool) -> Callable[[Any], dict[str, Any]]:
    """A function turning one parsed JSON object into a row of ``schema`` (raises ``BadValue``)."""
    return _struct_coercer(list(schema), "", ignore_unknown, top=True)


def _struct_coercer(fields: list[pa.Field], prefix: str, ignore_unknown: bool, *, top: bool = False) -> Coerce:
    names = [f.name for f in fields]
    # BigQuery's field names are case-insensitive: {"ID": 1} fills the field "id".
    lookup = {name.lower(): name for name in names}
    coercers = {f.name: _field_coercer(f, f"{prefix}{f.name}", ignore_unknown) for f in fields}

    def coerce(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise BadValue("the row is not a JSON object" if top else f"field {prefix.rstrip('.')}: not an object")
        out: dict[str, Any] = dict.fromkeys(names)
        for key, item in value.items():
            name = key if key in coercers else lookup.get(str(key).lower())
            if name is None:
                if ignore_unknown:
                    continue
                raise BadValue(f"no such field: {prefix}{key}")
            out[name] = item
        for name, field_coerce in coercers.items():
            out[name] = field_coerce(out[name])
        return out

    return coerce


def _field_coercer(field: pa.Field, path: str, ignore_unknown: bool) -> Coerce:
    value_coerce = _value_coercer(field, path, ignore_unknown)
    t = field.type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return value_coerce     # a null array is an empty one

    def coerce(value: Any) -> Any:
        if value is None:
            if not field.nullable:
                raise BadValue(f"missing required field {path}")
            return None
        return value_coerce(value)

    return coerce


def _value_coercer(field: pa.Field, path: str, ignore_unknown: bool) -> Coerce:  # noqa: C901 - one branch a type
    t = field.type

    def bad(value: Any) -> BadValue:
        return BadValue(f"field {path}: cannot convert {quote_value(value)} to {type_name(field)}")

    def parse_text(parse: Callable[[str], Any], v: str) -> Any:
        try:
            return parse(v.strip())
        except ValueError:
            raise bad(v) from None

    if is_json(field):
        return lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        def to_string(v: Any) -> str:
            if isinstance(v, str):
                return v
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, int | float | Decimal):
                return str(v)
            raise bad(v)
        return to_string
    if pa.types.is_boolean(t):
        def to_bool(v: Any) -> bool:
            if isinstance(v, bool):
                return v
            if isinstance(v, str) and v.strip().lower() in TRUE_WORDS + FALSE_WORDS:
                return v.strip().lower() in TRUE_WORDS
            raise bad(v)
        return to_bool
    if pa.types.is_integer(t):
        def to_int(v: Any) -> int:
            if isinstance(v, bool):
                raise bad(v)
            if isinstance(v, int):
                return v
            if isinstance(v, float) and v.is_integer():
                return int(v)
            if isinstance(v, str):
                return parse_text(int, v)
            raise bad(v)
        return to_int
    if pa.types.is_floating(t):
        def to_float(v: Any) -> float:
            if isinstance(v, bool):
                raise bad(v)
            if isinstance(v, int | float | Decimal):
                return float(v)
            if isinstance(v, str):
                return parse_text(float, v)
            raise bad(v)
        return to_float
    if pa.types.is_decimal(t):
        quantum = Decimal(1).scaleb(-t.scale)

        def to_decimal(v: Any) -> Decimal:
            if isinstance(v, bool) or not isinstance(v, int | float | str | Decimal):
                raise bad(v)
            try:
                number = v if isinstance(v, Decimal) else Decimal(str(v).strip())
                if not number.is_finite():
                    raise bad(v)
                return number.quantize(quantum)
            except InvalidOperation:
                raise bad(v) from None
        return to_decimal
    if pa.types.is_date(t):
        def to_date(v: Any) -> date:
            if isinstance(v, datetime):
                return v.date()
            if isinstance(v, date):
                return v
            if isinstance(v, str):
                return parse_text(date.fromisoformat, v)
            raise bad(v)
        return to_date
    if pa.types.is_timestamp(t):
        aware = t.tz is not None

        def to_timestamp(v: Any) -> datetime:
            try:
                return _timestamp(v, aware)
            except (ValueError, OverflowError, OSError):
                raise bad(v) from None
        return to_timestamp
    if pa.types.is_time(t):
        def to_time(v: Any) -> time:
            if isinstance(v, time):
                return v
            if isinstance(v, str):
                return parse_text(time.fromisoformat, v)
            raise bad(v)
        return to_time
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        def to_bytes(v: Any) -> bytes:
            if isinstance(v, bytes):
                return v
            if isinstance(v, str):
                try:
                    return base64.b64decode(v, validate=True)
                except binascii.Error:
                    raise bad(v) from None
            raise bad(v)
        return to_bytes
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        item_field = t.value_field
        item = _value_coercer(item_field, path, ignore_unknown)

        def to_list(v: Any) -> list[Any]:
            if v is None:
                return []
            if not isinstance(v, list):
                raise BadValue(f"field {path}: expected an array, got {quote_value(v)}")
            if any(x is None for x in v):
                raise BadValue(f"field {path}: an array may not contain null")
            return [item(x) for x in v]
        return to_list
    if pa.types.is_map(t):
        key = _value_coercer(pa.field("key", t.key_type), f"{path}.key", ignore_unknown)
        value = _field_coercer(t.item_field, f"{path}.value", ignore_unknown)

        def to_map(v: Any) -> list[tuple[Any, Any]]:
            if isinstance(v, dict):
                return [(key(k), value(x)) for k, x in v.items()]
            if isinstance(v, list):     # Avro maps arrive as dicts; key/value records are accepted too
                try:
                    return [(key(e["key"]), value(e.get("value"))) for e in v]
                except (TypeError, KeyError, AttributeError):
                    raise bad(v) from None
            raise bad(v)
        return to_map
    if pa.types.is_struct(t):
        return _struct_coercer([t.field(i) for i in range(t.num_fields)], f"{path}.", ignore_unknown)
    if pa.types.is_duration(t):
        def to_duration(v: Any) -> int:
            if isinstance(v, int) and not isinstance(v, bool):
                return v
            raise bad(v)
        return to_duration
    raise BadValue(f"field {path}: {t} cannot be loaded")


def _timestamp(v: Any, aware: bool) -> datetime:
    if isinstance(v, datetime):
        parsed = v
    elif isinstance(v, bool):
        raise ValueError("a boolean is no timestamp")
    elif isinstance(v, int | float):
        if not aware or not math.isfinite(v):
            raise ValueError("a number is no DATETIME")
        return datetime.fromtimestamp(v, UTC)
    elif isinstance(v, str):
        text = v.strip()
        if text.endswith(" UTC"):
            text = text[:-4] + "+00:00"
        parsed = datetime.fromisoformat(text)
    else:
        raise ValueError("not a timestamp")
    if aware:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if parsed.tzinfo is not None:
        raise ValueError("a DATETIME has no time zone")
    return parsed


# -- building batches --------------------------------------------------------------------------------------------

def build_batch(rows: Sequence[dict[str, Any]], schema: pa.Schema) -> tuple[pa.RecordBatch, dict[int, str]]:
    """Coerced rows as one batch; a row Arrow still refuses (an int64 overflow) is found by halving and dropped."""
    bad: dict[int, str] = {}

    def attempt(chunk: Sequence[dict[str, Any]], offset: int) -> list[pa.RecordBatch]:
        try:
            return [pa.RecordBatch.from_pylist(list(chunk), schema=schema)]
        except CAST_ERRORS as exc:
            if len(chunk) == 1:
                bad[offset] = " ".join(str(exc).split())
                return []
            middle = len(chunk) // 2
            return attempt(chunk[:middle], offset) + attempt(chunk[middle:], offset + middle)

    parts = attempt(rows, 0) if rows else []
    batch = pa.concat_batches(parts) if parts else pa.RecordBatch.from_pylist([], schema=schema)
    return batch, bad
