"""The ClickHouse dialect ``sql.translate`` generates with: how each BigQuery construct that sqlglot renders wrongly
or not at all for ClickHouse is written (functions, TRY_CAST, STRUCT, ordered aggregates, UPDATE...). Constructs
with no ClickHouse form raise ``InvalidQuery`` naming them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from sqlglot import exp
from sqlglot.dialects.clickhouse import ClickHouse

from bqlite_app.bigquery.sql_common import literal_string
from bqlite_app.errors import InvalidQuery

# Python strftime (sqlglot's neutral format) -> ClickHouse formatDateTime.
_CH_FORMAT = {
    "%Y": "%Y", "%m": "%m", "%d": "%d", "%H": "%H", "%M": "%i", "%S": "%S", "%f": "%f", "%y": "%y", "%b": "%b",
    "%B": "%M", "%a": "%a", "%A": "%W", "%j": "%j", "%p": "%p", "%I": "%I", "%e": "%e", "%F": "%F", "%T": "%T",
    "%D": "%D", "%R": "%R", "%u": "%u", "%w": "%w", "%z": "%z", "%Z": "%Z", "%%": "%%", "%n": "%n", "%t": "%t",
    "%h": "%h", "%C": "%C", "%G": "%G", "%V": "%V", "%k": "%k", "%l": "%l", "%Q": "%Q",
}
_CH_EXTRACT = {
    "YEAR": "toYear({})", "MONTH": "toMonth({})", "DAY": "toDayOfMonth({})", "HOUR": "toHour({})",
    "MINUTE": "toMinute({})", "SECOND": "toSecond({})", "DAYOFWEEK": "toDayOfWeek({}, 3)",
    "DAYOFYEAR": "toDayOfYear({})", "QUARTER": "toQuarter({})", "WEEK": "toWeek({}, 0)",
    "ISOWEEK": "toISOWeek({})", "ISOYEAR": "toISOYear({})", "DATE": "toDate32({})",
    "MILLISECOND": "toMillisecond({})", "MICROSECOND": "(toUnixTimestamp64Micro(toDateTime64({}, 6)) % 1000000)",
}
_CH_TRUNC_UNITS = {"YEAR", "QUARTER", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"}


def _ch_ident(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _ch_try_cast(self: Any, expression: exp.TryCast) -> str:
    to = expression.args["to"].copy()
    to.set("nullable", False)
    type_sql = self.sql(to)
    return f"accurateCastOrNull({self.sql(expression, 'this')}, {self.sql(exp.Literal.string(type_sql))})"


def _ch_struct(self: Any, expression: exp.Struct) -> str:
    items = []
    for item in expression.expressions:
        if isinstance(item, (exp.PropertyEQ, exp.Alias)) and (item.alias or item.name):
            name = item.alias if isinstance(item, exp.Alias) else item.this.name
            value = item.this if isinstance(item, exp.Alias) else item.expression
            items.append(f"{self.sql(value)} AS {_ch_ident(name)}")
        else:
            items.append(self.sql(item))
    return f"tuple({', '.join(items)})"


def _ch_generate_series(self: Any, expression: exp.GenerateSeries) -> str:
    start, end = self.sql(expression, "start"), self.sql(expression, "end")
    step = expression.args.get("step")
    if expression.args.get("is_end_exclusive"):
        bound = end
    else:
        bound = f"({end}) + (if(({self.sql(step)}) < 0, -1, 1))" if step is not None else f"({end}) + 1"
    args = [start, bound] + ([self.sql(step)] if step is not None else [])
    return f"range({', '.join(args)})"


def _ch_date_from_parts(self: Any, expression: exp.DateFromParts) -> str:
    parts = [self.sql(expression, key) for key in ("year", "month", "day")]
    return f"makeDate32({', '.join(parts)})"


def _ch_date(self: Any, expression: exp.Date) -> str:
    if expression.expressions:
        raise InvalidQuery("DATE() with more than two arguments is not supported on ClickHouse")
    value, zone = _value_and_zone(self, expression)
    return f"toDate32(toTimeZone({value}, {zone}))" if zone is not None else f"toDate32({value})"


def _ch_timestamp(self: Any, expression: exp.Timestamp) -> str:
    value, zone = _value_and_zone(self, expression)
    if zone is not None:
        return f"toTimeZone(toDateTime64({value}, 6, {zone}), 'UTC')"
    return f"toDateTime64({value}, 6, 'UTC')"


def _value_and_zone(self: Any, expression: exp.Expr) -> tuple[str, str | None]:
    """The SQL of ``DATE(value[, zone])`` / ``TIMESTAMP(value[, zone])``'s value, and of its zone when given."""
    zone = expression.args.get("zone")
    return self.sql(expression, "this"), (self.sql(zone) if zone is not None else None)


def _ch_extract(self: Any, expression: exp.Extract) -> str:
    part = expression.this.name.upper()
    if part not in _CH_EXTRACT:
        raise InvalidQuery(f"EXTRACT({part} ...) is not supported on ClickHouse")
    return _CH_EXTRACT[part].format(self.sql(expression, "expression"))


def _ch_format_time(self: Any, expression: exp.TimeToStr) -> str:
    fmt = literal_string(expression.args.get("format"), "The format of FORMAT_TIMESTAMP")
    out = []
    for piece in re.split(r"(%.)", fmt):
        if piece.startswith("%") and len(piece) == 2:
            if piece not in _CH_FORMAT:
                raise InvalidQuery(f"Format element {piece} is not supported on ClickHouse")
            out.append(_CH_FORMAT[piece])
        else:
            out.append(piece.replace("%", "%%"))
    value = expression.this
    if isinstance(value, (exp.TsOrDsToTimestamp, exp.TsOrDsToDate, exp.TsOrDsToDatetime)):
        value = value.this
    zone = expression.args.get("zone")
    args = [self.sql(value), self.sql(exp.Literal.string("".join(out)))] + ([self.sql(zone)] if zone else [])
    return f"formatDateTime({', '.join(args)})"


def _ch_trunc(self: Any, expression: exp.Expr) -> str:
    unit = expression.args.get("unit")
    name = unit.name.upper() if unit is not None else ""
    if name not in _CH_TRUNC_UNITS:
        raise InvalidQuery(f"Truncating to {name or 'this unit'} is not supported on ClickHouse")
    zone = expression.args.get("zone")
    args = [self.sql(exp.Literal.string(name.lower())), self.sql(expression, "this")]
    return f"dateTrunc({', '.join(args + ([self.sql(zone)] if zone else []))})"


def _ordered_aggregate(self: Any, expression: exp.Expr, what: str) -> tuple[str, bool]:
    """(array expression, distinct) for ARRAY_AGG / STRING_AGG with optional DISTINCT and ORDER BY: ClickHouse has
    no ORDER BY inside an aggregate, so the pairs are collected and sorted afterwards."""
    node = expression.this
    if isinstance(node, exp.Limit):
        raise InvalidQuery(f"{what} with LIMIT is not supported on ClickHouse")
    order = node if isinstance(node, exp.Order) else None
    value = order.this if order is not None else node
    distinct = isinstance(value, exp.Distinct)
    if distinct:
        if len(value.expressions) != 1:
            raise InvalidQuery(f"{what}(DISTINCT ...) of several values is not supported")
        value = value.expressions[0]
    if isinstance(value, exp.IgnoreNulls):
        value = value.this
    item = self.sql(value)
    if order is None:
        return (f"groupUniqArray({item})" if distinct else f"groupArray({item})"), distinct
    keys = order.expressions
    directions = {bool(k.args.get("desc")) for k in keys}
    if len(directions) > 1:
        raise InvalidQuery(f"{what} ordered in mixed directions is not supported on ClickHouse")
    key = ", ".join(self.sql(k, "this") for k in keys)
    sort = "arrayReverseSort" if directions == {True} else "arraySort"
    if distinct and len(keys) == 1 and keys[0].this == value:
        return f"{sort}(groupUniqArray({item}))", distinct
    if distinct:
        raise InvalidQuery(f"{what}(DISTINCT ...) ordered by another value is not supported on ClickHouse")
    return f"arrayMap(__p -> __p.1, {sort}(__p -> __p.2, groupArray(tuple({item}, tuple({key})))))", distinct


def _ch_array_agg(self: Any, expression: exp.ArrayAgg) -> str:
    return _ordered_aggregate(self, expression, "ARRAY_AGG")[0]


def _ch_string_agg(self: Any, expression: exp.GroupConcat) -> str:
    array, _ = _ordered_aggregate(self, expression, "STRING_AGG")
    separator = expression.args.get("separator")
    return f"arrayStringConcat({array}, {self.sql(separator) if separator is not None else repr(',')})"


def _ch_lag_lead(self: Any, expression: exp.Expr) -> str:
    """ClickHouse's lag/lead give the type's default (0, '') past the edge; BigQuery gives NULL."""
    args = [f"toNullable({self.sql(expression, 'this')})"]
    for key in ("offset", "default"):
        if expression.args.get(key) is not None:
            args.append(self.sql(expression, key))
    return f"{'lag' if isinstance(expression, exp.Lag) else 'lead'}({', '.join(args)})"


def _ch_update(self: Any, expression: exp.Update) -> str:
    """UPDATE -> ALTER TABLE ... UPDATE, run as a synchronous mutation."""
    if expression.args.get("from_") or expression.args.get("from"):
        raise InvalidQuery("UPDATE ... FROM is not supported on ClickHouse")
    assignments = ", ".join(self.sql(item) for item in expression.expressions)
    where = expression.args.get("where")
    condition = self.sql(where.this) if where is not None else "1"
    return (f"ALTER TABLE {self.sql(expression, 'this')} UPDATE {assignments} WHERE {condition} "
            "SETTINGS mutations_sync = 2")


def _ch_unsupported(what: str) -> Callable[..., str]:
    def refuse(self: Any, expression: exp.Expr) -> str:
        raise InvalidQuery(f"{what} is not supported on ClickHouse")

    return refuse


def _transforms(extra: Mapping[type, Callable[..., str]]) -> dict:
    return {**ClickHouse.Generator.TRANSFORMS, **extra}


class BqClickHouse(ClickHouse):
    class Generator(ClickHouse.Generator):
        TRANSFORMS = _transforms({
            exp.TryCast: _ch_try_cast, exp.Struct: _ch_struct,
            exp.GenerateSeries: _ch_generate_series, exp.DateFromParts: _ch_date_from_parts, exp.Date: _ch_date,
            exp.Timestamp: _ch_timestamp, exp.Extract: _ch_extract, exp.TimeToStr: _ch_format_time,
            exp.DateTrunc: _ch_trunc, exp.TimestampTrunc: _ch_trunc, exp.DatetimeTrunc: _ch_trunc,
            exp.ArrayAgg: _ch_array_agg, exp.GroupConcat: _ch_string_agg, exp.Lag: _ch_lag_lead,
            exp.Lead: _ch_lag_lead, exp.Update: _ch_update, exp.Merge: _ch_unsupported("MERGE"),
        })
