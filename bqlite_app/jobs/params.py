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

from collections.abc import Mapping, Sequence
from typing import Any

from bqlite_app.errors import ValidationFailed
from bqlite_app.jobs.param_types import MAX_DEPTH, NAME, BqType, canonical_kind, check_unique, parse_type
from bqlite_app.jobs.param_values import decode_value

MAX_PARAMETERS = 10_000


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
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ValidationFailed(f"parameter {index + 1}: the name must be an identifier (letters, digits, _)")
        typ = parse_type(parameter.get("type"), where=f"parameter @{name}")
        decode_value(typ, parameter.get("value"), f"parameter @{name}")
        checked.append({"name": name, "type": str(typ), "value": parameter.get("value")})
    check_unique([p["name"] for p in checked], "parameters")
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
            if not isinstance(name, str) or not NAME.fullmatch(name):
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
    check_unique([p["name"] for p in out], "queryParameters")
    return out


def _type_from_rest(shape: Any, where: str, depth: int) -> BqType:
    if depth > MAX_DEPTH:
        raise ValidationFailed(f"{where}: types nest deeper than {MAX_DEPTH} levels")
    if not isinstance(shape, Mapping) or not isinstance(shape.get("type"), str):
        raise ValidationFailed(f"{where}: parameterType.type is required")
    kind = canonical_kind(shape["type"], where)
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
            if not isinstance(name, str) or not NAME.fullmatch(name):
                raise ValidationFailed(f"{where}: the STRUCT field name {name!r} is not an identifier")
            parsed.append((name, _type_from_rest(field.get("type"), f"{where}.{name}", depth + 1)))
        check_unique([name for name, _ in parsed], where)
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
