"""One JSON value of an insertAll / NDJSON row -> the Python value pyarrow stores for its column.

Accepts what BigQuery accepts: numbers as JSON numbers or strings, BYTES as base64, TIMESTAMP as
``YYYY-MM-DD[ T]HH:MM:SS[.f][zone]`` or epoch seconds. NUMERIC values with more fraction digits than the column keeps
are rounded half away from zero, as BigQuery's CAST does; too many integer digits is an error. A value that does not
fit raises ``BadValue``; ``json_rows`` names the field.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import json
import math
import re
from collections.abc import Callable
from typing import Any

import pyarrow as pa

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class BadValue(Exception):
    """One value that does not fit its field; the message names the field."""


def shown(value: Any) -> str:
    """``value`` as an error message quotes it: JSON (or a quoted string), cut to 60 characters."""
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def scalar_parser(arrow: pa.DataType, marked: str) -> Callable[[Any], Any]:
    """The reader of one scalar value for a column of ``arrow``; ``marked`` is the column's ``TYPE_KEY`` mark
    (JSON and GEOGRAPHY are Arrow strings with their own rules)."""
    if pa.types.is_boolean(arrow):
        return _bool
    if pa.types.is_integer(arrow):
        info = _int_range(arrow)
        return lambda value: _integer(value, *info)
    if pa.types.is_floating(arrow):
        return _float
    if pa.types.is_decimal(arrow):
        return lambda value: _decimal(value, arrow.precision, arrow.scale)
    if pa.types.is_timestamp(arrow):
        return _timestamp if arrow.tz is not None else _datetime
    if pa.types.is_date(arrow):
        return _date
    if pa.types.is_time(arrow):
        return _time
    if pa.types.is_duration(arrow):
        return _interval
    if pa.types.is_binary(arrow) or pa.types.is_large_binary(arrow) or pa.types.is_fixed_size_binary(arrow):
        return _bytes
    if marked == "JSON":
        return _json
    if marked == "GEOGRAPHY":
        return _geography
    return _string


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BadValue(f"cannot convert {shown(value)} to BOOLEAN")


def _int_range(arrow: pa.DataType) -> tuple[int, int]:
    bits = arrow.bit_width
    if pa.types.is_unsigned_integer(arrow):
        return 0, 2 ** bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


_INT_TEXT = re.compile(r"[+-]?\d{1,40}")


def _integer(value: Any, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise BadValue(f"cannot convert {shown(value)} to INTEGER")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise BadValue(f"cannot convert {shown(value)} to INTEGER")
    if not low <= number <= high:
        raise BadValue(f"{number} is out of range for this INTEGER column ({low}..{high})")
    return number


_FLOAT_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity)|nan", re.IGNORECASE)


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise BadValue(f"cannot convert {shown(value)} to FLOAT")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
        return float(value.strip())
    raise BadValue(f"cannot convert {shown(value)} to FLOAT")


_DECIMAL_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,4})?")


def _decimal(value: Any, precision: int, scale: int) -> decimal.Decimal:
    if isinstance(value, bool):
        raise BadValue(f"cannot convert {shown(value)} to NUMERIC")
    if isinstance(value, int):
        number = decimal.Decimal(value)
    elif isinstance(value, float) and math.isfinite(value):
        number = decimal.Decimal(repr(value))
    elif isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value.strip()):
        number = decimal.Decimal(value.strip())
    else:
        raise BadValue(f"cannot convert {shown(value)} to NUMERIC")
    context = decimal.Context(prec=precision + 40)
    rounded = number.quantize(decimal.Decimal(1).scaleb(-scale), rounding=decimal.ROUND_HALF_UP, context=context)
    if rounded.adjusted() >= precision - scale:
        raise BadValue(f"{shown(value)} is out of range: at most {precision - scale} digits before the point")
    return rounded


_TIMESTAMP_TEXT = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[Tt ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,12}))?)?)?"
    r"\s*(Z|z|UTC|[+-]\d{1,2}(?::?\d{2})?)?")


def _parse_datetime(text: str, *, zoned: bool) -> dt.datetime:
    match = _TIMESTAMP_TEXT.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    value = dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micros)
    if zone is None:
        return value.replace(tzinfo=dt.UTC) if zoned else value
    if not zoned:
        raise ValueError("a DATETIME has no time zone")
    if zone.upper() in ("Z", "UTC"):
        return value.replace(tzinfo=dt.UTC)
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours, minutes = (int(digits[:-2]), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
    return value.replace(tzinfo=dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes)))


def _exact_micros(value: dt.datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_MIN_MICROS = _exact_micros(dt.datetime(1, 1, 1, tzinfo=dt.UTC))
_MAX_MICROS = _exact_micros(dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC))


def _timestamp(value: Any) -> int:
    if isinstance(value, bool):
        raise BadValue(f"cannot convert {shown(value)} to TIMESTAMP")
    if isinstance(value, int | float) and math.isfinite(value):
        micros = round(value * 1_000_000)          # epoch seconds, as BigQuery takes a JSON number
    elif isinstance(value, str):
        try:
            micros = _exact_micros(_parse_datetime(value, zoned=True))
        except ValueError:
            raise BadValue(f"cannot convert {shown(value)} to TIMESTAMP (expected YYYY-MM-DD HH:MM:SS[.ffffff]"
                           "[zone] or epoch seconds)") from None
    else:
        raise BadValue(f"cannot convert {shown(value)} to TIMESTAMP")
    if not _MIN_MICROS <= micros <= _MAX_MICROS:
        raise BadValue(f"{shown(value)} is outside 0001-01-01 .. 9999-12-31")
    return micros


def _datetime(value: Any) -> int:
    if not isinstance(value, str):
        raise BadValue(f"cannot convert {shown(value)} to DATETIME")
    try:
        parsed = _parse_datetime(value, zoned=False)
    except ValueError:
        raise BadValue(f"cannot convert {shown(value)} to DATETIME (expected YYYY-MM-DD[T]HH:MM:SS[.ffffff], no "
                       "zone)") from None
    return _exact_micros(parsed.replace(tzinfo=dt.UTC))


_DATE_TEXT = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def _date(value: Any) -> dt.date:
    match = _DATE_TEXT.fullmatch(value.strip()) if isinstance(value, str) else None
    try:
        if match is None:
            raise ValueError(value)
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        raise BadValue(f"cannot convert {shown(value)} to DATE (expected YYYY-MM-DD)") from None


_TIME_TEXT = re.compile(r"(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,12}))?)?")


def _time(value: Any) -> dt.time:
    match = _TIME_TEXT.fullmatch(value.strip()) if isinstance(value, str) else None
    try:
        if match is None:
            raise ValueError(value)
        hour, minute, second, fraction = match.groups()
        return dt.time(int(hour), int(minute), int(second or 0), int((fraction or "0")[:6].ljust(6, "0")))
    except ValueError:
        raise BadValue(f"cannot convert {shown(value)} to TIME (expected HH:MM:SS[.ffffff])") from None


_INTERVAL_TEXT = re.compile(r"(-?)(\d+)-(\d+) (-?\d+) (-?)(\d+):(\d+):(\d+)(?:\.(\d{1,9}))?")


def _interval(value: Any) -> int:
    """An INTERVAL in BigQuery's canonical form, as microseconds: months cannot be stored in a duration."""
    match = _INTERVAL_TEXT.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise BadValue(f"cannot convert {shown(value)} to INTERVAL (expected Y-M D H:M:S[.F])")
    _, years, months, days, sign, hours, minutes, seconds, fraction = match.groups()
    if int(years) or int(months):
        raise BadValue(f"{shown(value)}: intervals with years or months cannot be stored here")
    micros = ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * 1_000_000
    micros += int((fraction or "0")[:6].ljust(6, "0"))
    return int(days) * 86_400_000_000 + (-micros if sign else micros)


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            pass
    raise BadValue(f"cannot convert {shown(value)} to BYTES (expected base64 text)")


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    raise BadValue(f"cannot convert {shown(value)} to STRING")


def _json(value: Any) -> str:
    """A JSON column takes any JSON value; a string is JSON text (the client sends ``json.dumps`` of the value)."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            raise BadValue(f"{shown(value)} is not valid JSON text") from None
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _geography(value: Any) -> str:
    if not isinstance(value, str):
        raise BadValue(f"cannot convert {shown(value)} to GEOGRAPHY (expected WKT text)")
    return value
