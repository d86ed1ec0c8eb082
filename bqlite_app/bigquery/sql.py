"""GoogleSQL -> the job engine's SQL, with sqlglot.

``translate`` parses BigQuery's dialect, resolves table names to our datasets, turns ``@name`` and ``?`` into the
engine's own typed placeholders (values are bound by the engine, never pasted here), rewrites the constructs sqlglot
renders wrongly or not at all for the engine, and generates the engine's dialect. Anything that cannot be translated
raises ``InvalidQuery`` naming the construct, so it never fails somewhere random inside the engine.

Name resolution: ``project.dataset.table`` and ``dataset.table`` name our dataset (the project is dropped). Dataset
``default`` is where the sample lives: DuckDB's schema ``main``, ClickHouse's database ``default``; any other dataset
has the same name on both engines. An unqualified table takes ``default_dataset`` when one is given (a CTE name is
left alone), else the engine's own default, where ``nyc_taxi`` lives.

Types follow BigQuery's: TIMESTAMP is an instant (DuckDB TIMESTAMPTZ, ClickHouse ``DateTime64(6, 'UTC')``), DATETIME
a wall-clock time (DuckDB TIMESTAMP; ClickHouse ``DateTime64(6, 'UTC')`` as stored tables keep it), NUMERIC is
``DECIMAL(38, 9)`` and BIGNUMERIC ``Decimal(76, 38)`` (``DECIMAL(38, 19)`` on DuckDB, which stops at 38 digits).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlglot
from sqlglot import ErrorLevel, exp
from sqlglot.dialects.clickhouse import ClickHouse
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from bqlite_app.datasets import engine_database
from bqlite_app.errors import InvalidQuery
from bqlite_app.jobs.params import BqType, parse_type

ENGINES = ("duckdb", "clickhouse")
# Queries, DML and DDL; scripting (DECLARE, SET, BEGIN...), EXPORT DATA, CALL and the like are not translated.
_STATEMENTS = (exp.Query, exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter,
               exp.TruncateTable)

# -- parameter placeholder types ---------------------------------------------------------------------------------

_DUCKDB_TYPES = {
    "INT64": "BIGINT", "FLOAT64": "DOUBLE", "NUMERIC": "DECIMAL(38, 9)", "BIGNUMERIC": "DECIMAL(38, 19)",
    "BOOL": "BOOLEAN", "STRING": "VARCHAR", "BYTES": "BLOB", "DATE": "DATE", "DATETIME": "TIMESTAMP", "TIME": "TIME",
    "TIMESTAMP": "TIMESTAMPTZ", "JSON": "JSON",
}
_CLICKHOUSE_TYPES = {
    "INT64": "Int64", "FLOAT64": "Float64", "NUMERIC": "Decimal(38, 9)", "BIGNUMERIC": "Decimal(76, 38)",
    "BOOL": "Bool", "STRING": "String", "BYTES": "String", "DATE": "Date32", "DATETIME": "DateTime64(6, 'UTC')",
    "TIME": "Time64(6)", "TIMESTAMP": "DateTime64(6, 'UTC')", "JSON": "String",
}


def duckdb_type(typ: BqType) -> str:
    if typ.kind == "ARRAY":
        assert typ.item is not None
        return f"{duckdb_type(typ.item)}[]"
    if typ.kind == "STRUCT":
        return "STRUCT(" + ", ".join(f'"{name}" {duckdb_type(field)}' for name, field in typ.fields) + ")"
    return _DUCKDB_TYPES[typ.kind]


def clickhouse_type(typ: BqType, *, nullable: bool = True) -> str:
    """Scalars and structs are Nullable (a parameter may be NULL); arrays cannot be, nor can what they hold in
    BigQuery."""
    if typ.kind == "ARRAY":
        assert typ.item is not None
        return f"Array({clickhouse_type(typ.item, nullable=False)})"
    if typ.kind == "STRUCT":
        inner = "Tuple(" + ", ".join(f"{name} {clickhouse_type(field)}" for name, field in typ.fields) + ")"
    else:
        inner = _CLICKHOUSE_TYPES[typ.kind]
    return f"Nullable({inner})" if nullable else inner


# -- the entry point -------------------------------------------------------------------------------------------


def translate(sql: str, *, engine: str, parameters: Sequence[Mapping[str, Any]] = (),
              default_dataset: str | None = None) -> str:
    """GoogleSQL ``sql`` -> SQL for ``engine`` ("duckdb" | "clickhouse").

    ``parameters`` is the job's stored list (``[{"name", "type", "value"}]``, see ``bqlite_app.jobs.params``);
    positional ``?`` are ``p1, p2, ...`` in order. Raises ``InvalidQuery`` naming what cannot be translated.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}")
    declared = {str(p["name"]).lower(): (str(p["name"]), parse_type(p["type"], where=f"parameter @{p['name']}"))
                for p in parameters}
    try:
        trees = [tree for tree in sqlglot.parse(_number_positional(sql), read="bigquery") if tree is not None]
    except (ParseError, TokenError) as exc:
        raise InvalidQuery(f"Syntax error: {_first_error(exc)}") from None
    if not trees:
        raise InvalidQuery("The query is empty")
    return ";\n".join(_translate_one(tree, engine, declared, default_dataset) for tree in trees)


def _translate_one(tree: exp.Expr, engine: str, declared: Mapping[str, tuple[str, BqType]],
                   default_dataset: str | None) -> str:
    if not isinstance(tree, _STATEMENTS):
        what = tree.name.upper() if isinstance(tree, exp.Command) else tree.key.upper()
        raise InvalidQuery(f"{what or 'This'} statements are not supported")
    _resolve_tables(tree, engine, default_dataset)
    _bind_parameters(tree, engine, declared)
    if engine == "clickhouse":
        _clickhouse_rewrites(tree)
        dialect: sqlglot.Dialect = _BqClickHouse()
    else:
        _duckdb_rewrites(tree)
        dialect = _BqDuckDB()
    generator = dialect.generator(unsupported_level=ErrorLevel.IGNORE)
    try:
        text = generator.generate(tree, copy=False)
    except InvalidQuery:
        raise
    except Exception as exc:  # sqlglot raising mid-generation is still a construct it cannot render
        raise InvalidQuery(f"Cannot translate this query for {engine}: {exc}") from None
    problems = [m for m in generator.unsupported_messages if not _tolerated(engine, m)]
    if problems:
        raise InvalidQuery(f"Not supported on {engine}: {problems[0]}")
    return text


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        first = errors[0]
        where = f" at [{first.get('line')}:{first.get('col')}]" if first.get("line") else ""
        return f"{first.get('description')}{where}"
    return str(exc).splitlines()[0]


def _tolerated(engine: str, message: str) -> bool:
    # DuckDB's TIMESTAMPTZ follows the session's zone for EXTRACT and friends; the engine runs on UTC.
    return engine == "duckdb" and "timezone" in message.lower()


def _number_positional(sql: str) -> str:
    """Each ``?`` placeholder becomes ``@p1``, ``@p2``... in text order (tokens, so nothing quoted is touched)."""
    try:
        tokens = sqlglot.Dialect.get_or_raise("bigquery").tokenize(sql)
    except TokenError as exc:
        raise InvalidQuery(f"Syntax error: {exc}") from None
    marks = [t for t in tokens if t.token_type == TokenType.PLACEHOLDER and t.text == "?"]
    if not marks:
        return sql
    if any(t.token_type == TokenType.PARAMETER for t in tokens):
        raise InvalidQuery("Query parameters cannot mix named (@name) and positional (?) forms")
    out, last = [], 0
    for index, token in enumerate(marks, start=1):
        out += [sql[last:token.start], f"@p{index}"]
        last = token.end + 1
    return "".join(out) + sql[last:]


# -- names -----------------------------------------------------------------------------------------------------


def _resolve_tables(tree: exp.Expr, engine: str, default_dataset: str | None) -> None:
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in list(tree.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier):
            continue                        # a table function (UNNEST is its own node)
        if isinstance(table.args.get("catalog"), exp.Dot) or isinstance(table.args.get("db"), exp.Dot):
            raise InvalidQuery(f"Table name {table.sql('bigquery')} has too many parts")
        db = table.args.get("db")
        if db is not None:
            dataset = db.name
        elif default_dataset and table.name.lower() not in ctes:
            dataset = default_dataset
        else:
            continue
        if dataset.upper() == "INFORMATION_SCHEMA" or table.name.upper() == "INFORMATION_SCHEMA":
            raise InvalidQuery("INFORMATION_SCHEMA views are not supported")
        table.set("db", exp.to_identifier(engine_database(engine, dataset), quoted=True))
        table.set("catalog", None)


# -- parameters ------------------------------------------------------------------------------------------------


def _bind_parameters(tree: exp.Expr, engine: str, declared: Mapping[str, tuple[str, BqType]]) -> None:
    for node in list(tree.find_all(exp.Parameter)):
        if isinstance(node.this, exp.Parameter) or not isinstance(node.this, (exp.Var, exp.Identifier)):
            raise InvalidQuery(f"System variable {node.sql('bigquery')} is not supported")
        name = node.this.name
        if name.lower() not in declared:
            raise InvalidQuery(f"Query parameter '{name}' not found")
        stored, typ = declared[name.lower()]
        if engine == "clickhouse":
            node.replace(exp.Placeholder(this=stored, kind=exp.Var(this=clickhouse_type(typ))))
        else:
            to = exp.DataType.build(duckdb_type(typ), dialect="duckdb")
            node.replace(exp.Cast(this=exp.Placeholder(this=stored), to=to))
    for node in tree.find_all(exp.Placeholder):
        if not node.name and node.args.get("kind") is None:
            raise InvalidQuery("Positional query parameters are not supported here")


# -- shared type fixes -----------------------------------------------------------------------------------------


def _fix_types(tree: exp.Expr, mapping: Mapping[exp.DType, str], dialect: str) -> None:
    """BigQuery's type names (NUMERIC, BIGNUMERIC, TIMESTAMP...) -> the engine's exact type."""
    for node in list(tree.find_all(exp.DataType)):
        if node.this in mapping and not node.expressions:
            built = exp.DataType.build(mapping[node.this], dialect=dialect)
            if node.args.get("nullable") is not None:
                built.set("nullable", node.args.get("nullable"))
            node.replace(built)


def _literal_string(node: exp.Expr | None, what: str) -> str:
    if not isinstance(node, exp.Literal) or not node.is_string:
        raise InvalidQuery(f"{what} must be a string literal")
    return node.this


# -- DuckDB ----------------------------------------------------------------------------------------------------

_DUCKDB_FIXES = {exp.DType.DECIMAL: "DECIMAL(38, 9)", exp.DType.BIGDECIMAL: "DECIMAL(38, 19)"}


def _duckdb_rewrites(tree: exp.Expr) -> None:
    _fix_types(tree, _DUCKDB_FIXES, "duckdb")
    for trunc in list(tree.find_all(exp.DateTrunc, exp.TimestampTrunc, exp.DatetimeTrunc)):
        if _week_trunc(trunc, "duckdb"):
            continue
        if type(trunc) is exp.DateTrunc:
            # BigQuery's DATE_TRUNC of a DATE is a DATE; DuckDB's is a TIMESTAMP.
            trunc.replace(exp.Cast(this=trunc.copy(), to=exp.DataType.build("DATE")))
    for unnest in list(tree.find_all(exp.Unnest)):
        if unnest.args.get("offset"):
            _duckdb_unnest_offset(unnest)


def _duckdb_unnest_offset(unnest: exp.Unnest) -> None:
    """``UNNEST(a) AS x WITH OFFSET AS o``: BigQuery's offset counts from 0 (sqlglot's WITH ORDINALITY from 1)."""
    if len(unnest.expressions) != 1:
        raise InvalidQuery("UNNEST of several arrays is not supported")
    alias = unnest.args.get("alias")
    columns = alias.columns if isinstance(alias, exp.TableAlias) else []
    name = columns[0].name if columns else "f0_"
    offset = unnest.args["offset"]
    offset_name = offset.name if isinstance(offset, exp.Identifier) and offset.name else "offset"
    select = sqlglot.parse_one("SELECT UNNEST(__arr) AS x, GENERATE_SUBSCRIPTS(__arr, 1) - 1 AS o", read="duckdb")
    for column in list(select.find_all(exp.Column)):
        if column.name == "__arr":
            column.replace(unnest.expressions[0].copy())
    select.expressions[0].set("alias", exp.to_identifier(name, quoted=True))
    select.expressions[1].set("alias", exp.to_identifier(offset_name, quoted=True))
    unnest.replace(exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier("__unnest"))))


def _week_unit(unit: exp.Expr | None) -> str | None:
    """The weekday a WEEK / WEEK(<day>) / ISOWEEK truncation starts on, else None."""
    if isinstance(unit, exp.WeekStart):
        return unit.name.upper()
    name = unit.name.upper() if unit is not None else ""
    return {"WEEK": "SUNDAY", "ISOWEEK": "MONDAY"}.get(name)


_WEEKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]


def _week_trunc(node: exp.Expr, engine: str) -> bool:
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


def _duckdb_extract(self: Any, expression: exp.Extract) -> str:
    part = expression.this.name.upper()
    value = self.sql(expression, "expression")
    if part == "DAYOFWEEK":                 # BigQuery counts Sunday as 1, DuckDB as 0
        return f"(EXTRACT(DOW FROM {value}) + 1)"
    if part == "WEEK":                      # Sunday-based week of the year, 0..53
        return f"CAST(STRFTIME({value}, '%U') AS BIGINT)"
    if part == "ISOWEEK":
        return f"EXTRACT(WEEK FROM {value})"
    if part == "DATE":
        return f"CAST({value} AS DATE)"
    if part == "TIME":
        return f"CAST({value} AS TIME)"
    return self.extract_sql(expression)


def _duckdb_countif(self: Any, expression: exp.CountIf) -> str:
    """COUNT_IF is a HUGEINT in DuckDB; BigQuery's COUNTIF is an INT64."""
    return f"CAST(COUNT_IF({self.sql(expression, 'this')}) AS BIGINT)"


class _BqDuckDB(DuckDB):
    class Generator(DuckDB.Generator):
        TRANSFORMS = {**DuckDB.Generator.TRANSFORMS, exp.Extract: _duckdb_extract,
                      exp.CountIf: _duckdb_countif}


# -- ClickHouse ------------------------------------------------------------------------------------------------

_CLICKHOUSE_FIXES = {
    exp.DType.DECIMAL: "Decimal(38, 9)", exp.DType.BIGDECIMAL: "Decimal(76, 38)",
    exp.DType.TIMESTAMPTZ: "DateTime64(6, 'UTC')", exp.DType.TIMESTAMP: "DateTime64(6, 'UTC')",
    exp.DType.DATETIME: "DateTime64(6, 'UTC')", exp.DType.DATE: "Date32", exp.DType.TIME: "Time64(6)",
    exp.DType.BINARY: "String", exp.DType.JSON: "String",
}
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


def _clickhouse_rewrites(tree: exp.Expr) -> None:
    _fix_types(tree, _CLICKHOUSE_FIXES, "clickhouse")
    _unnest_clickhouse(tree)
    _check_struct_names(tree)
    _name_struct_fields(tree)
    for trunc in list(tree.find_all(exp.DateTrunc, exp.TimestampTrunc, exp.DatetimeTrunc)):
        _week_trunc(trunc, "clickhouse")
    if isinstance(tree, exp.Create) and tree.kind == "TABLE":
        _clickhouse_table_engine(tree)


def _unnest_clickhouse(tree: exp.Expr) -> None:
    """``FROM UNNEST(a) AS x`` -> a subquery over ``arrayJoin``; ``FROM t, UNNEST(t.a) AS x`` (or CROSS / LEFT JOIN)
    -> ``ARRAY JOIN`` / ``LEFT ARRAY JOIN``. ClickHouse has no UNNEST."""
    for unnest in list(tree.find_all(exp.Unnest)):
        parent = unnest.parent
        if len(unnest.expressions) != 1:
            raise InvalidQuery("UNNEST of several arrays is not supported on ClickHouse")
        array = unnest.expressions[0].copy()
        alias = unnest.args.get("alias")
        columns = alias.columns if isinstance(alias, exp.TableAlias) else []
        name = columns[0].name if columns else (alias.name if alias is not None and alias.name else "f0_")
        offset = unnest.args.get("offset") or None
        if isinstance(parent, exp.From):
            unnest.replace(exp.Subquery(this=_array_join_select(array, name, offset),
                                        alias=exp.TableAlias(this=exp.to_identifier("__unnest"))))
        elif isinstance(parent, exp.Join):
            if offset is not None:
                raise InvalidQuery("UNNEST ... WITH OFFSET in a join is not supported on ClickHouse")
            side = (parent.side or "").upper()
            if parent.args.get("on") is not None and side != "LEFT":
                raise InvalidQuery("UNNEST joined ON a condition is not supported on ClickHouse")
            parent.set("side", None)
            parent.set("kind", "LEFT ARRAY" if side == "LEFT" else "ARRAY")
            parent.set("on", None)
            parent.set("this", exp.alias_(array, _ch_ident_node(name)))
        elif isinstance(parent, exp.In) or parent is None:
            # x IN UNNEST(a) -> has(a, x)
            if isinstance(parent, exp.In):
                parent.replace(exp.Anonymous(this="has", expressions=[array, parent.this.copy()]))
            else:
                raise InvalidQuery("UNNEST outside FROM is not supported on ClickHouse")
        else:
            raise InvalidQuery("UNNEST outside FROM is not supported on ClickHouse")


def _array_join_select(array: exp.Expr, name: str, offset: exp.Expr | None) -> exp.Select:
    """SELECT arrayJoin(a) AS name, or with an offset, both from arrayZip(a, range(length(a))). An array literal
    of STRUCTs also gives each field as a column, as BigQuery does."""
    fields = _literal_struct_fields(array) if offset is None else []
    if fields:
        # The literal's tuples lose their names (ClickHouse aliases inside tuple() are visible to the whole query,
        # so a second STRUCT('a' AS name) would clash); the fields come back as columns by position.
        for struct in array.expressions:
            struct.set("expressions", [item.this if isinstance(item, exp.Alias) else
                                       item.expression if isinstance(item, exp.PropertyEQ) else item
                                       for item in struct.expressions])
        inner = exp.select(exp.alias_(exp.Anonymous(this="arrayJoin", expressions=[array]), "__e"))
        select = exp.select(exp.alias_(exp.column("__e"), _ch_ident_node(name))).from_(exp.Subquery(this=inner))
        for index, field in enumerate(fields, start=1):
            element = exp.Anonymous(this="tupleElement", expressions=[exp.column("__e"), exp.Literal.number(index)])
            select = select.select(exp.alias_(element, _ch_ident_node(field)))
        return select
    if offset is None:
        return exp.select(exp.alias_(exp.Anonymous(this="arrayJoin", expressions=[array]), _ch_ident_node(name)))
    pairs = exp.Anonymous(this="arrayJoin", expressions=[exp.Anonymous(this="arrayZip", expressions=[
        array, exp.Anonymous(this="range", expressions=[
            exp.Anonymous(this="length", expressions=[array.copy()])])])])
    inner = exp.select(exp.alias_(pairs, "__pair"))
    offset_name = offset.name if isinstance(offset, exp.Identifier) and offset.name else "offset"
    return exp.select(
        exp.alias_(_element(1), _ch_ident_node(name)), exp.alias_(_element(2), _ch_ident_node(offset_name)),
    ).from_(exp.Subquery(this=inner))


def _check_struct_names(tree: exp.Expr) -> None:
    """A STRUCT literal becomes ``tuple(v AS name)``, and a ClickHouse alias is visible to the whole query: the same
    field name bound twice is refused by ClickHouse, so name it here instead."""
    seen: dict[str, str] = {}
    for struct in tree.find_all(exp.Struct):
        for item in struct.expressions:
            if isinstance(item, exp.Alias):
                name, value = item.alias.lower(), item.this.sql("bigquery")
            elif isinstance(item, exp.PropertyEQ):
                name, value = item.this.name.lower(), item.expression.sql("bigquery")
            else:
                continue
            if seen.setdefault(name, value) != value:
                raise InvalidQuery(f"STRUCT field name '{name}' given to different values in one query is not "
                                   "supported on ClickHouse")


def _literal_struct_fields(array: exp.Expr) -> list[str]:
    """Field names of an ``[STRUCT(...), ...]`` literal, from its first element."""
    if not isinstance(array, exp.Array) or not array.expressions or not isinstance(array.expressions[0], exp.Struct):
        return []
    names = []
    for item in array.expressions[0].expressions:
        if isinstance(item, exp.Alias):
            names.append(item.alias)
        elif isinstance(item, exp.PropertyEQ):
            names.append(item.this.name)
        else:
            return []
    return names


def _element(index: int) -> exp.Anonymous:
    return exp.Anonymous(this="tupleElement", expressions=[exp.column("__pair"), exp.Literal.number(index)])


def _name_struct_fields(tree: exp.Expr) -> None:
    """BigQuery names ``s.field`` and ``t.col`` by their last part; ClickHouse would call the first ``s.field``.
    Give each such select item that name as its alias, unless another item has it."""
    for select in tree.find_all(exp.Select):
        names = [item.alias_or_name.lower() for item in select.expressions]
        for item in list(select.expressions):
            if isinstance(item, (exp.Column, exp.Dot)) and item.parts and len(item.parts) > 1:
                name = item.parts[-1].name
                if names.count(name.lower()) == 1 and name:
                    item.replace(exp.alias_(item.copy(), _ch_ident_node(name)))


def _ch_ident(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _ch_ident_node(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _clickhouse_table_engine(tree: exp.Create) -> None:
    """A CREATE TABLE without an engine gets a MergeTree with no sort key, as our own DDL does."""
    properties = tree.args.get("properties")
    if properties is not None and properties.find(exp.EngineProperty) is not None:
        return
    added = sqlglot.parse_one("CREATE TABLE t (a Int64) ENGINE = MergeTree ORDER BY tuple()",
                              read="clickhouse").args["properties"].expressions
    if properties is None:
        tree.set("properties", exp.Properties(expressions=added))
    else:
        for prop in added:
            properties.append("expressions", prop)


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
    value = self.sql(expression, "this")
    zone = expression.args.get("zone")
    if zone is not None:
        return f"toDate32(toTimeZone({value}, {self.sql(zone)}))"
    return f"toDate32({value})"


def _ch_timestamp(self: Any, expression: exp.Timestamp) -> str:
    value = self.sql(expression, "this")
    zone = expression.args.get("zone")
    if zone is not None:
        return f"toTimeZone(toDateTime64({value}, 6, {self.sql(zone)}), 'UTC')"
    return f"toDateTime64({value}, 6, 'UTC')"


def _ch_extract(self: Any, expression: exp.Extract) -> str:
    part = expression.this.name.upper()
    if part not in _CH_EXTRACT:
        raise InvalidQuery(f"EXTRACT({part} ...) is not supported on ClickHouse")
    return _CH_EXTRACT[part].format(self.sql(expression, "expression"))


def _ch_format_time(self: Any, expression: exp.TimeToStr) -> str:
    fmt = _literal_string(expression.args.get("format"), "The format of FORMAT_TIMESTAMP")
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


class _BqClickHouse(ClickHouse):
    class Generator(ClickHouse.Generator):
        TRANSFORMS = _transforms({
            exp.TryCast: _ch_try_cast, exp.Struct: _ch_struct,
            exp.GenerateSeries: _ch_generate_series, exp.DateFromParts: _ch_date_from_parts, exp.Date: _ch_date,
            exp.Timestamp: _ch_timestamp, exp.Extract: _ch_extract, exp.TimeToStr: _ch_format_time,
            exp.DateTrunc: _ch_trunc, exp.TimestampTrunc: _ch_trunc, exp.DatetimeTrunc: _ch_trunc,
            exp.ArrayAgg: _ch_array_agg, exp.GroupConcat: _ch_string_agg, exp.Lag: _ch_lag_lead,
            exp.Lead: _ch_lag_lead, exp.Update: _ch_update, exp.Merge: _ch_unsupported("MERGE"),
        })
