"""Typed query parameters, in BigQuery's vocabulary.

A job keeps its parameters as JSON: ``[{"name": str, "type": TYPE, "value": VALUE}]``. ``TYPE`` is a BigQuery type
name (INT64, FLOAT64, NUMERIC, BIGNUMERIC, BOOL, STRING, BYTES, DATE, DATETIME, TIME, TIMESTAMP, JSON), or
``ARRAY<T>`` / ``STRUCT<name T, ...>``. ``VALUE`` is what BigQuery's REST API sends: scalars as strings (floats may be
JSON numbers), BYTES as base64, arrays as lists, structs as objects, NULL as null.

``from_bigquery`` turns the REST ``queryParameters`` into that list, ``decode_parameters`` turns the list into the
Python values the engines bind (never into SQL text). Every client string is checked here: a bad one raises
``ValidationFailed`` naming the parameter, so a user's mistake is a 4xx and never an engine error.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bqlite_app.errors import ValidationFailed

SCALARS = ("INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC", "BOOL", "STRING", "BYTES", "DATE", "DATETIME", "TIME",
           "TIMESTAMP", "JSON")
# The older names the client and the REST API also use.
_ALIASES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "DECIMAL": "NUMERIC",
            "BIGDECIMAL": "BIGNUMERIC", "RECORD": "STRUCT"}
MAX_PARAMETERS = 10_000
MAX_DEPTH = 15               # BigQuery's own limit on nested types
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_INT64 = (-(2**63), 2**63 - 1)
# Integer and fraction digits of NUMERIC (38, 9) and BIGNUMERIC (76.76, 38).
_DECIMALS = {"NUMERIC": (29, 9), "BIGNUMERIC": (38, 38)}
_DATE = r"\d{4}-\d{1,2}-\d{1,2}"
_TIME = r"\d{1,2}:\d{1,2}:\d{1,2}(?:\.\d{1,9})?"
_DATE_RE = re.compile(_DATE)
_TIME_RE = re.compile(_TIME)
_DATETIME_RE = re.compile(rf"({_DATE})(?:[ Tt]({_TIME}))?")
_TIMESTAMP_RE = re.compile(rf"({_DATE})(?:[ Tt]({_TIME}))?\s*(Z|z|[+-]\d{{1,2}}(?::?\d{{2}})?| ?UTC)?")


@dataclass(frozen=True)
class BqType:
    """A parsed TYPE: a scalar ``kind``, an ARRAY of ``item``, or a STRUCT of named ``fields``."""

    kind: str
    item: BqType | None = None
    fields: tuple[tuple[str, BqType], ...] = ()

    def __str__(self) -> str:
        if self.kind == "ARRAY":
            return f"ARRAY<{self.item}>"
        if self.kind == "STRUCT":
            return "STRUCT<" + ", ".join(f"{name} {typ}" for name, typ in self.fields) + ">"
        return self.kind


def parse_type(text: str, *, where: str = "parameter") -> BqType:
    """``INT64``, ``ARRAY<STRING>``, ``STRUCT<a INT64, b ARRAY<DATE>>`` -> ``BqType``."""
    if not isinstance(text, str) or len(text) > 10_000:
        raise ValidationFailed(f"{where}: the type must be a BigQuery type name")
    tokens = re.findall(r"[A-Za-z_][A-Za-z0-9_]*|<|>|,|\S", text)
    parsed, rest = _parse_type_tokens(tokens, where, 0)
    if rest:
        raise ValidationFailed(f"{where}: unexpected {' '.join(rest[:3])!r} in type {text!r}")
    return parsed


def _parse_type_tokens(tokens: list[str], where: str, depth: int) -> tuple[BqType, list[str]]:
    if depth > MAX_DEPTH:
        raise ValidationFailed(f"{where}: types nest deeper than {MAX_DEPTH} levels")
    if not tokens:
        raise ValidationFailed(f"{where}: a type is missing")
    kind = _canonical(tokens[0], where)
    rest = tokens[1:]
    if kind == "ARRAY":
        rest = _expect(rest, "<", where)
        item, rest = _parse_type_tokens(rest, where, depth + 1)
        if item.kind == "ARRAY":
            raise ValidationFailed(f"{where}: BigQuery has no ARRAY of ARRAY")
        return BqType("ARRAY", item=item), _expect(rest, ">", where)
    if kind == "STRUCT":
        rest = _expect(rest, "<", where)
        fields: list[tuple[str, BqType]] = []
        while True:
            if not rest or not _NAME.fullmatch(rest[0]):
                raise ValidationFailed(f"{where}: a STRUCT field needs a name and a type")
            name = rest[0]
            field, rest = _parse_type_tokens(rest[1:], f"{where}.{name}", depth + 1)
            fields.append((name, field))
            if rest[:1] == [","]:
                rest = rest[1:]
                continue
            break
        _check_unique([name for name, _ in fields], where)
        return BqType("STRUCT", fields=tuple(fields)), _expect(rest, ">", where)
    return BqType(kind), rest


def _canonical(word: str, where: str) -> str:
    kind = _ALIASES.get(word.upper(), word.upper())
    if kind not in SCALARS and kind not in ("ARRAY", "STRUCT"):
        raise ValidationFailed(f"{where}: unsupported parameter type {word!r}")
    return kind


def _expect(tokens: list[str], token: str, where: str) -> list[str]:
    if tokens[:1] != [token]:
        raise ValidationFailed(f"{where}: expected {token!r} in the type")
    return tokens[1:]


def _check_unique(names: Sequence[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            raise ValidationFailed(f"{where}: the name {name!r} appears twice")
        seen.add(name.lower())


# -- values ----------------------------------------------------------------------------------------------------


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
    number = float(value)
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


# -- the stored list -------------------------------------------------------------------------------------------


def check_parameters(parameters: Any) -> list[dict]:
    """Validate the stored form (a list of ``{"name", "type", "value"}``) and return it with canonical type names."""
    if parameters is None:
        return []
    if not isinstance(parameters, (list, tuple)):
        raise ValidationFailed("parameters must be a list of {name, type, value}")
    if len(parameters) > MAX_PARAMETERS:
        raise ValidationFailed(f"at most {MAX_PARAMETERS} query parameters are allowed")
    checked = []
    for index, parameter in enumerate(parameters):
        if not isinstance(parameter, Mapping) or set(parameter) - {"name", "type", "value"}:
            raise ValidationFailed(f"parameter {index + 1} must be an object with name, type and value")
        name = parameter.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValidationFailed(f"parameter {index + 1}: the name must be an identifier (letters, digits, _)")
        typ = parse_type(parameter.get("type"), where=f"parameter @{name}")
        decode_value(typ, parameter.get("value"), f"parameter @{name}")
        checked.append({"name": name, "type": str(typ), "value": parameter.get("value")})
    _check_unique([p["name"] for p in checked], "parameters")
    return checked


def decode_parameters(parameters: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    """The stored list -> ``{name: Python value}`` for ``Engine.execute(parameters=...)``."""
    values: dict[str, Any] = {}
    for parameter in check_parameters(list(parameters or ())):
        name = parameter["name"]
        values[name] = decode_value(parse_type(parameter["type"]), parameter["value"], f"parameter @{name}")
    return values


# -- BigQuery's REST shape -------------------------------------------------------------------------------------


def from_bigquery(query_parameters: Any, parameter_mode: str | None = None) -> list[dict]:
    """BigQuery's REST ``queryParameters`` (with ``parameterMode``) -> the stored list.

    ``{"name", "parameterType": {"type", "arrayType", "structTypes"}, "parameterValue": {"value", "arrayValues",
    "structValues"}}``; positional parameters (mode POSITIONAL, or no names) are named ``p1, p2, ...``.
    """
    if query_parameters is None:
        return []
    if not isinstance(query_parameters, list):
        raise ValidationFailed("queryParameters must be a list")
    if len(query_parameters) > MAX_PARAMETERS:
        raise ValidationFailed(f"at most {MAX_PARAMETERS} query parameters are allowed")
    mode = parameter_mode.upper() if isinstance(parameter_mode, str) else parameter_mode
    if mode not in (None, "", "NAMED", "POSITIONAL"):
        raise ValidationFailed("parameterMode must be NAMED or POSITIONAL")
    if not mode:
        named = [isinstance(p, Mapping) and bool(p.get("name")) for p in query_parameters]
        mode = "NAMED" if all(named) and named else "POSITIONAL"
    out: list[dict] = []
    for index, parameter in enumerate(query_parameters):
        if not isinstance(parameter, Mapping):
            raise ValidationFailed(f"query parameter {index + 1} must be an object")
        if mode == "NAMED":
            name = parameter.get("name")
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise ValidationFailed(f"query parameter {index + 1}: a named parameter needs a name made of "
                                       "letters, digits and _")
        else:
            if parameter.get("name"):
                raise ValidationFailed(f"query parameter {index + 1}: positional parameters have no name")
            name = f"p{index + 1}"
        where = f"query parameter @{name}" if mode == "NAMED" else f"query parameter {index + 1}"
        typ = _type_from_rest(parameter.get("parameterType"), where, 0)
        value = _value_from_rest(typ, parameter.get("parameterValue"), where)
        decode_value(typ, value, where)
        out.append({"name": name, "type": str(typ), "value": value})
    _check_unique([p["name"] for p in out], "queryParameters")
    return out


def _type_from_rest(shape: Any, where: str, depth: int) -> BqType:
    if depth > MAX_DEPTH:
        raise ValidationFailed(f"{where}: types nest deeper than {MAX_DEPTH} levels")
    if not isinstance(shape, Mapping) or not isinstance(shape.get("type"), str):
        raise ValidationFailed(f"{where}: parameterType.type is required")
    kind = _canonical(shape["type"], where)
    if kind == "ARRAY":
        item = _type_from_rest(shape.get("arrayType"), f"{where}[]", depth + 1)
        if item.kind == "ARRAY":
            raise ValidationFailed(f"{where}: BigQuery has no ARRAY of ARRAY")
        return BqType("ARRAY", item=item)
    if kind == "STRUCT":
        fields = shape.get("structTypes")
        if not isinstance(fields, list) or not fields:
            raise ValidationFailed(f"{where}: a STRUCT parameter needs structTypes")
        parsed = []
        for position, field in enumerate(fields):
            if not isinstance(field, Mapping):
                raise ValidationFailed(f"{where}: structTypes[{position}] must be an object")
            name = field.get("name") or f"_field_{position + 1}"
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise ValidationFailed(f"{where}: the STRUCT field name {name!r} is not an identifier")
            parsed.append((name, _type_from_rest(field.get("type"), f"{where}.{name}", depth + 1)))
        _check_unique([name for name, _ in parsed], where)
        return BqType("STRUCT", fields=tuple(parsed))
    return BqType(kind)


def _value_from_rest(typ: BqType, shape: Any, where: str) -> Any:
    """``parameterValue`` -> the stored JSON value (a missing value or ``{}`` is NULL)."""
    if shape is None:
        return None
    if not isinstance(shape, Mapping):
        raise ValidationFailed(f"{where}: parameterValue must be an object")
    if typ.kind == "ARRAY":
        items = shape.get("arrayValues")
        if items is None:
            return None if "value" in shape and shape["value"] is None else []
        if not isinstance(items, list):
            raise ValidationFailed(f"{where}: arrayValues must be a list")
        assert typ.item is not None
        return [_value_from_rest(typ.item, item, f"{where}[{i}]") for i, item in enumerate(items)]
    if typ.kind == "STRUCT":
        values = shape.get("structValues")
        if values is None:
            return None
        if not isinstance(values, Mapping):
            raise ValidationFailed(f"{where}: structValues must be an object")
        fields = dict(typ.fields)
        lowered = {name.lower(): name for name in fields}
        unknown = [key for key in values if not isinstance(key, str) or key.lower() not in lowered]
        if unknown:
            raise ValidationFailed(f"{where}: the STRUCT has no field {unknown[0]!r}")
        return {lowered[key.lower()]: _value_from_rest(fields[lowered[key.lower()]], item, f"{where}.{key}")
                for key, item in values.items()}
    value = shape.get("value")
    if isinstance(value, (Mapping, list)):
        raise ValidationFailed(f"{where}: a {typ.kind} value must be a scalar")
    return value
