"""Turning CSV's string columns into the target's Arrow types, one bad record at a time, and the value rules and
messages every source shares (``_coerce`` turns JSON and Avro's Python values).

CSV columns arrive as strings and are converted with Arrow compute, a whole column at once; only when a column
fails is it split in halves until the failing values are found (so a batch with k bad values costs about
2k*log2(n) vectorised casts, never a Python loop over the good rows).

Value rules follow BigQuery's loads: booleans are true/false/t/f/yes/no/y/n/1/0 in any case, a TIMESTAMP without a
zone is UTC, a JSON number for a TIMESTAMP is seconds since the epoch, BYTES are base64, an array may not hold a
null and a null array is an empty one.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from decimal import InvalidOperation
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from bqlite_app.loads._arrow import is_json

TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
_ZONE = r"(Z|z|[+-]\d{2}(:?\d{2})?)$"
CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError, TypeError,
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
        except CAST_ERRORS as exc:
            if len(chunk) == 1:
                shown = chunk[0].as_py()
                bad[offset] = f"could not parse {quote_value(shown)} as {type_name(field)} for field {field.name}"
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
    truth = pc.is_in(lowered, value_set=pa.array(TRUE_WORDS))
    falsity = pc.is_in(lowered, value_set=pa.array(FALSE_WORDS))
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


def _null_indices(array: pa.Array) -> list[int]:
    return pc.indices_nonzero(pc.is_null(array)).to_pylist()


def type_name(field: pa.Field) -> str:
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


def quote_value(value: Any) -> str:
    """A value for a message: strings quoted, JSON values as JSON, long ones cut."""
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
