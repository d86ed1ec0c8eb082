"""Turning source values into the target's Arrow types, one bad record at a time.

CSV columns arrive as strings and are converted with Arrow compute, a whole column at once; only when a column
fails is it split in halves until the failing values are found (so a batch with k bad values costs about
2k*log2(n) vectorised casts, never a Python loop over the good rows). JSON (and Avro) rows arrive as Python
values and are coerced by a function built once per schema, then built into a batch.

Value rules follow BigQuery's loads: booleans are true/false/t/f/yes/no/y/n/1/0 in any case, a TIMESTAMP without a
zone is UTC, a JSON number for a TIMESTAMP is seconds since the epoch, BYTES are base64, an array may not hold a
null and a null array is an empty one.
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
import pyarrow.compute as pc

from bqlite_app.loads._arrow import is_json

_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_ZONE = r"(Z|z|[+-]\d{2}(:?\d{2})?)$"
_CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError, TypeError,
                OverflowError, InvalidOperation, binascii.Error)


class BadValue(ValueError):
    """One value does not fit its field; the message names the field and says why."""


# -- CSV: string columns -----------------------------------------------------------------------------------------

def convert_strings(values: pa.Array, field: pa.Field) -> tuple[pa.Array, dict[int, str]]:
    """``values`` (strings, nulls already decided) as ``field``'s type, with the bad ones as nulls.

    Returns the converted array and {row index: reason} for the values that did not convert.
    """
    convert = _string_converter(field)
    bad: dict[int, str] = {}

    def attempt(chunk: pa.Array, offset: int) -> pa.Array:
        try:
            return convert(chunk)
        except _CAST_ERRORS as exc:
            if len(chunk) == 1:
                shown = chunk[0].as_py()
                bad[offset] = f"could not parse {_quote(shown)} as {_type_name(field)} for field {field.name}"
                if not isinstance(exc, BadValue | pa.ArrowInvalid):
                    bad[offset] += f" ({exc})"
                return pa.nulls(1, field.type)
            middle = len(chunk) // 2
            return pa.concat_arrays([attempt(chunk.slice(0, middle), offset),
                                     attempt(chunk.slice(middle), offset + middle)])

    result = attempt(values, 0)
    if not field.nullable and result.null_count:
        for index in _null_indices(result):
            bad.setdefault(index, f"missing required field {field.name}")
    return result, bad


def _string_converter(field: pa.Field) -> Callable[[pa.Array], pa.Array]:
    t = field.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return lambda a: a.cast(t)
    if pa.types.is_boolean(t):
        return _to_bool
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return lambda a: pc.cast(pc.utf8_trim_whitespace(a), t)
    if pa.types.is_date(t):
        return lambda a: pc.cast(pc.utf8_trim_whitespace(a), t)
    if pa.types.is_timestamp(t):
        return (lambda a: _to_timestamp(a, t)) if t.tz else (lambda a: _to_datetime(a, t))
    if pa.types.is_time(t):
        return lambda a: _to_time(a, t)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return lambda a: pa.array([None if v is None else base64.b64decode(v, validate=True)
                                   for v in a.to_pylist()], t)
    raise BadValue(f"field {field.name}: {t} cannot be loaded from CSV")


def _to_bool(values: pa.Array) -> pa.Array:
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    truth = pc.is_in(lowered, value_set=pa.array(_TRUE))
    falsity = pc.is_in(lowered, value_set=pa.array(_FALSE))
    if pc.any(pc.and_(pc.is_valid(lowered), pc.invert(pc.or_(truth, falsity)))).as_py():
        raise BadValue("not a boolean")
    return pc.if_else(pc.is_valid(lowered), truth, pa.nulls(len(values), pa.bool_()))


def _to_timestamp(values: pa.Array, t: pa.DataType) -> pa.Array:
    """ISO 8601 with a zone, or without one (UTC), ``T`` or a space, a trailing ``UTC``, or a date alone."""
    text = pc.utf8_trim_whitespace(values)
    text = pc.replace_substring_regex(text, r"\s*UTC$", "Z")
    text = pc.replace_substring_regex(text, r"^(\d{4}-\d{2}-\d{2})$", r"\1T00:00:00")
    text = pc.replace_substring_regex(text, r"([+-]\d{2})$", r"\1:00")
    has_zone = pc.match_substring_regex(text, _ZONE)
    with_zone = pc.if_else(has_zone, text, pc.binary_join_element_wise(text, "Z", ""))
    return pc.cast(with_zone, pa.timestamp("us", tz="UTC")).cast(t)


def _to_datetime(values: pa.Array, t: pa.DataType) -> pa.Array:
    text = pc.utf8_trim_whitespace(values)
    text = pc.replace_substring_regex(text, r"^(\d{4}-\d{2}-\d{2})$", r"\1T00:00:00")
    if pc.any(pc.match_substring_regex(text, _ZONE)).as_py():
        raise BadValue("a DATETIME has no time zone")
    return pc.cast(text, pa.timestamp("us")).cast(t)


def _to_time(values: pa.Array, t: pa.DataType) -> pa.Array:
    text = pc.binary_join_element_wise("1970-01-01T", pc.utf8_trim_whitespace(values), "")
    return pc.cast(pc.cast(text, pa.timestamp("us")), t)


# -- JSON and Avro: Python values --------------------------------------------------------------------------------

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
        return BadValue(f"field {path}: cannot convert {_quote(value)} to {_type_name(field)}")

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
            if isinstance(v, str) and v.strip().lower() in _TRUE + _FALSE:
                return v.strip().lower() in _TRUE
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
                try:
                    return int(v.strip())
                except ValueError:
                    raise bad(v) from None
            raise bad(v)
        return to_int
    if pa.types.is_floating(t):
        def to_float(v: Any) -> float:
            if isinstance(v, bool):
                raise bad(v)
            if isinstance(v, int | float | Decimal):
                return float(v)
            if isinstance(v, str):
                try:
                    return float(v.strip())
                except ValueError:
                    raise bad(v) from None
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
                try:
                    return date.fromisoformat(v.strip())
                except ValueError:
                    raise bad(v) from None
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
                try:
                    return time.fromisoformat(v.strip())
                except ValueError:
                    raise bad(v) from None
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
                raise BadValue(f"field {path}: expected an array, got {_quote(v)}")
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
        except _CAST_ERRORS as exc:
            if len(chunk) == 1:
                bad[offset] = " ".join(str(exc).split())
                return []
            middle = len(chunk) // 2
            return attempt(chunk[:middle], offset) + attempt(chunk[middle:], offset + middle)

    parts = attempt(rows, 0) if rows else []
    batch = pa.concat_batches(parts) if parts else pa.RecordBatch.from_pylist([], schema=schema)
    return batch, bad


def _null_indices(array: pa.Array) -> list[int]:
    return pc.indices_nonzero(pc.is_null(array)).to_pylist()


def _type_name(field: pa.Field) -> str:
    t = field.type
    if is_json(field):
        return "JSON"
    if pa.types.is_boolean(t):
        return "BOOL"
    if pa.types.is_integer(t):
        return "INT64"
    if pa.types.is_floating(t):
        return "FLOAT64"
    if pa.types.is_decimal(t):
        return "NUMERIC" if t.precision <= 38 else "BIGNUMERIC"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP" if t.tz else "DATETIME"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_time(t):
        return "TIME"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "BYTES"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "STRING"
    return str(t)


def _quote(value: Any) -> str:
    """A value for a message: strings quoted, JSON values as JSON, long ones cut."""
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
