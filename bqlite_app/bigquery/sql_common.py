"""Rewrites of a parsed GoogleSQL tree that both engines' translations share (``sql_duckdb``, ``sql_clickhouse``).

BigQuery's type names become the engine's exact types, and WEEK truncation starts on Sunday (or the named day) where
both engines start weeks on Monday.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from bqlite_app.errors import InvalidQuery


def fix_types(tree: exp.Expr, mapping: Mapping[exp.DType, str], dialect: str) -> None:
    """BigQuery's type names (NUMERIC, BIGNUMERIC, TIMESTAMP...) -> the engine's exact type."""
    for node in list(tree.find_all(exp.DataType)):
        if node.this in mapping and not node.expressions:
            built = exp.DataType.build(mapping[node.this], dialect=dialect)
            if node.args.get("nullable") is not None:
                built.set("nullable", node.args.get("nullable"))
            node.replace(built)


def literal_string(node: exp.Expr | None, what: str) -> str:
    """The text of a string literal argument (a format, say); anything computed is refused, naming ``what``."""
    if not isinstance(node, exp.Literal) or not node.is_string:
        raise InvalidQuery(f"{what} must be a string literal")
    return node.this


def _week_unit(unit: exp.Expr | None) -> str | None:
    """The weekday a WEEK / WEEK(<day>) / ISOWEEK truncation starts on, else None."""
    if isinstance(unit, exp.WeekStart):
        return unit.name.upper()
    name = unit.name.upper() if unit is not None else ""
    return {"WEEK": "SUNDAY", "ISOWEEK": "MONDAY"}.get(name)


_WEEKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]


def week_trunc(node: exp.Expr, engine: str) -> bool:
    """WEEK truncation starts on Sunday in BigQuery (or the named day); the engines start weeks on Monday, so the
    value is moved back by the start's distance from Monday, truncated, and moved forward again."""
    start = _week_unit(node.args.get("unit"))
    if start is None:
        return False
    if start not in _WEEKDAYS:
        raise InvalidQuery(f"WEEK({start}) is not a day of the week")
    shift = _WEEKDAYS.index(start)         # days after Monday the week starts
    value = node.this.copy()
    if shift:
        value = exp.Sub(this=exp.paren(value), expression=_days(shift))
    if engine == "duckdb":
        truncated: exp.Expr = exp.Anonymous(this="DATE_TRUNC", expressions=[exp.Literal.string("WEEK"), value])
    else:
        truncated = exp.Anonymous(this="toStartOfWeek", expressions=[value, exp.Literal.number(1)])
    if shift:
        truncated = exp.Add(this=truncated, expression=_days(shift))
    if engine == "duckdb" and not isinstance(node, (exp.TimestampTrunc, exp.DatetimeTrunc)):
        truncated = exp.Cast(this=truncated, to=exp.DataType.build("DATE"))
    node.replace(truncated)
    return True


def _days(count: int) -> exp.Interval:
    return exp.Interval(this=exp.Literal.number(count), unit=exp.var("DAY"))
