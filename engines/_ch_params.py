"""Query parameters for ClickHouse: bound server-side as ``{name:Type}`` placeholders, never pasted into SQL."""

from __future__ import annotations

import decimal
import re
from collections.abc import Mapping
from typing import Any

from clickhouse_connect.driver.binding import external_bind_re

_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.|'')*'")


def bind(sql: str, parameters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The parameters ``sql`` has ``{name:Type}`` placeholders for, as clickhouse-connect binds them server-side.

    Only those: given a name the text does not use, or none at all, the driver would fall back to formatting
    values into the text (``%`` style), which is never what we want.
    """
    if not parameters:
        return None
    used = {name for name, _ in external_bind_re.findall(sql)}
    return {name: _ch_value(value) for name, value in parameters.items() if name in used} or None


def _ch_value(value: Any) -> Any:
    """Python values as clickhouse-connect formats them for ClickHouse: a struct (dict) is a Tuple, so its values
    in field order; decimals in plain digits (ClickHouse does not read an exponent)."""
    if isinstance(value, dict):
        return tuple(_ch_value(item) for item in value.values())
    if isinstance(value, list):
        return [_ch_value(item) for item in value]
    if isinstance(value, decimal.Decimal):
        return decimal.Decimal(format(value, "f"))
    return value


def placeholder_defaults(client: Any, sql: str) -> dict[str, Any] | None:
    """Stand-in values for the ``{name:Type}`` placeholders of a statement being parsed: ClickHouse substitutes
    parameters before it shows a syntax tree, and refuses one that is not set. Each gets its type's default
    value (as ClickHouse's own text), which changes nothing the sandbox judges."""
    placeholders = dict(external_bind_re.findall(_STRING_LITERAL.sub("''", sql)))
    if not placeholders:
        return None
    values = {}
    for name, type_name in placeholders.items():
        rows = client.query("SELECT toString(defaultValueOfTypeName({t:String}))",
                            parameters={"t": type_name.strip()}).result_rows
        values[name] = rows[0][0]
    return values
