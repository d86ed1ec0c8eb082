"""One JSON parameter value of a ``BqType`` -> the Python value the engines bind (never SQL text).

Values arrive as BigQuery's REST API sends them: scalars as strings (floats may be JSON numbers), BYTES as base64,
arrays as lists, structs as objects, NULL as null. A bad one raises ``ValidationFailed`` naming the parameter.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from bqlite_app.errors import ValidationFailed
from bqlite_app.jobs.param_types import BqType

_INT64 = (-(2**63), 2**63 - 1)
# Integer and fraction digits of NUMERIC (38, 9) and BIGNUMERIC (76.76, 38).
_DECIMALS = {"NUMERIC": (29, 9), "BIGNUMERIC": (38, 38)}
_DATE = r"\d{4}-\d{1,2}-\d{1,2}"
_TIME = r"\d{1,2}:\d{1,2}:\d{1,2}(?:\.\d{1,9})?"
_DATE_RE = re.compile(_DATE)
_TIME_RE = re.compile(_TIME)
_DATETIME_RE = re.compile(rf"({_DATE})(?:[ Tt]({_TIME}))?")
_TIMESTAMP_RE = re.compile(rf"({_DATE})(?:[ Tt]({_TIME}))?\s*(Z|z|[+-]\d{{1,2}}(?::?\d{{2}})?| ?UTC)?")


def decode_value(typ: BqType, value: Any, where: str) -> Any:
    """One JSON value of ``typ`` -> the Python value the engines bind. A NULL ARRAY is empty, as in BigQuery's
    results (and ClickHouse has no NULL array)."""
    if value is None:
        return [] if typ.kind == "ARRAY" else None
    if typ.kind == "ARRAY":
        if not isinstance(value, list):
            raise ValidationFailed(f"{where}: an ARRAY value must be a list")
        assert typ.item is not None
        items = [decode_value(typ.item, item, f"{where}[{i}]") for i, item in enumerate(value)]
        if any(item is None for item in items):
            raise ValidationFailed(f"{where}: an ARRAY cannot hold NULL")
        return items
    if typ.kind == "STRUCT":
        if not isinstance(value, Mapping):
            raise ValidationFailed(f"{where}: a STRUCT value must be an object")
        names = {name.lower(): name for name, _ in typ.fields}
        unknown = [key for key in value if not isinstance(key, str) or key.lower() not in names]
        if unknown:
            raise ValidationFailed(f"{where}: the STRUCT has no field {unknown[0]!r}")
        given = {key.lower(): item for key, item in value.items()}
        return {name: decode_value(field, given.get(name.lower()), f"{where}.{name}") for name, field in typ.fields}
    return _SCALAR_DECODERS[typ.kind](value, where)


def _int64(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValidationFailed(f"{where}: INT64 expects an integer string")
    if isinstance(value, str):
        if not re.fullmatch(r"\s*[+-]?\d{1,19}\s*", value):
            raise ValidationFailed(f"{where}: {_show(value)} is not an INT64")
        value = int(value)
    if not _INT64[0] <= value <= _INT64[1]:
        raise ValidationFailed(f"{where}: {value} is out of range for INT64")
    return value


def _float64(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValidationFailed(f"{where}: FLOAT64 expects a number")
    if isinstance(value, str):
        text = value.strip()
        special = {"nan": math.nan, "inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf,
                   "+infinity": math.inf, "-infinity": -math.inf}
        if text.lower() in special:
            return special[text.lower()]
        if not re.fullmatch(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", text):
            raise ValidationFailed(f"{where}: {_show(value)} is not a FLOAT64")
    try:
        number = float(value)
    except OverflowError:   # an integer beyond any double
        raise ValidationFailed(f"{where}: {_show(str(value))} is out of range for FLOAT64") from None
    if math.isinf(number) and not (isinstance(value, float) and math.isinf(value)):
        raise ValidationFailed(f"{where}: {_show(str(value))} is out of range for FLOAT64")
    return number


def _decimal(kind: str) -> Any:
    whole_digits, scale = _DECIMALS[kind]

    def decode(value: Any, where: str) -> decimal.Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValidationFailed(f"{where}: {kind} expects a decimal string")
        text = str(value).strip()
        if not re.fullmatch(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,4})?", text):
            raise ValidationFailed(f"{where}: {_show(text)} is not a {kind}")
        number = decimal.Decimal(text)
        if number.adjusted() >= whole_digits:   # checked before rounding, which needs the digits to fit
            raise ValidationFailed(f"{where}: {_show(text)} is out of range for {kind}")
        with decimal.localcontext() as ctx:
            ctx.prec = 200
            # BigQuery rounds extra fraction digits half away from zero.
            number = number.quantize(decimal.Decimal(1).scaleb(-scale), rounding=decimal.ROUND_HALF_UP)
            if abs(number) >= decimal.Decimal(10) ** whole_digits:
                raise ValidationFailed(f"{where}: {_show(text)} is out of range for {kind}")
            # Plain digits (no exponent), trailing zeros dropped: the engines read the text form.
            return decimal.Decimal(format(number.normalize(), "f"))

    return decode


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValidationFailed(f"{where}: BOOL expects true or false")


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(f"{where}: STRING expects a string")
    return _valid_unicode(value, where)


def _valid_unicode(value: str, where: str) -> str:
    """A lone surrogate (JSON can carry one as an escape) is no text either engine can hold."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationFailed(f"{where}: the value is not valid Unicode (a lone surrogate)") from None
    return value


def _bytes(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise ValidationFailed(f"{where}: BYTES expects a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed(f"{where}: BYTES expects base64") from None


def _date(value: Any, where: str) -> dt.date:
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value.strip()):
        raise ValidationFailed(f"{where}: DATE expects YYYY-MM-DD")
    try:
        return dt.date(*(int(part) for part in value.strip().split("-")))
    except ValueError:
        raise ValidationFailed(f"{where}: {_show(value)} is not a valid DATE") from None


def _time_of(text: str, where: str) -> dt.time:
    hours, minutes, seconds = text.split(":")
    whole, _, fraction = seconds.partition(".")
    try:
        return dt.time(int(hours), int(minutes), int(whole), int((fraction + "000000")[:6]))
    except ValueError:
        raise ValidationFailed(f"{where}: {_show(text)} is not a valid time of day") from None


def _time(value: Any, where: str) -> dt.time:
    if not isinstance(value, str) or not _TIME_RE.fullmatch(value.strip()):
        raise ValidationFailed(f"{where}: TIME expects HH:MM:SS[.ffffff]")
    return _time_of(value.strip(), where)


def _datetime(value: Any, where: str) -> dt.datetime:
    match = _DATETIME_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValidationFailed(f"{where}: DATETIME expects YYYY-MM-DD[ HH:MM:SS[.ffffff]]")
    day = _date(match.group(1), where)
    return dt.datetime.combine(day, _time_of(match.group(2), where) if match.group(2) else dt.time())


def _timestamp(value: Any, where: str) -> dt.datetime:
    match = _TIMESTAMP_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValidationFailed(f"{where}: TIMESTAMP expects YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM]")
    day = _date(match.group(1), where)
    moment = dt.datetime.combine(day, _time_of(match.group(2), where) if match.group(2) else dt.time())
    zone = (match.group(3) or "").strip()
    offset = dt.timedelta()
    if zone and zone.upper() not in ("Z", "UTC"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:]
        if ":" in digits:
            hours, minutes = (int(part) for part in digits.split(":"))
        else:
            hours, minutes = (int(digits[:-2]), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
        if hours > 14 or minutes > 59:
            raise ValidationFailed(f"{where}: {_show(value)} has an invalid UTC offset")
        offset = sign * dt.timedelta(hours=hours, minutes=minutes)
    try:
        return (moment - offset).replace(tzinfo=dt.UTC)
    except OverflowError:
        raise ValidationFailed(f"{where}: {_show(value)} is out of range for TIMESTAMP") from None


def _json(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(f"{where}: JSON expects the JSON text as a string")
    _valid_unicode(value, where)
    try:
        json.loads(value)
    except ValueError:
        raise ValidationFailed(f"{where}: the value is not valid JSON") from None
    return value


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


_SCALAR_DECODERS = {
    "INT64": _int64, "FLOAT64": _float64, "NUMERIC": _decimal("NUMERIC"), "BIGNUMERIC": _decimal("BIGNUMERIC"),
    "BOOL": _bool, "STRING": _string, "BYTES": _bytes, "DATE": _date, "DATETIME": _datetime, "TIME": _time,
    "TIMESTAMP": _timestamp, "JSON": _json,
}
