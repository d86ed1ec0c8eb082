"""The DuckDB side of ``sql.translate``: tree rewrites and the generator's own renderings of BigQuery constructs."""

from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB

from bqlite_app.bigquery.sql_common import fix_types, week_trunc
from bqlite_app.errors import InvalidQuery

_DUCKDB_FIXES = {exp.DType.DECIMAL: "DECIMAL(38, 9)", exp.DType.BIGDECIMAL: "DECIMAL(38, 19)"}


def duckdb_rewrites(tree: exp.Expr) -> None:
    """Rewrite ``tree`` in place where DuckDB's meaning differs from BigQuery's (types, DATE_TRUNC, WITH OFFSET)."""
    fix_types(tree, _DUCKDB_FIXES, "duckdb")
    for trunc in list(tree.find_all(exp.DateTrunc, exp.TimestampTrunc, exp.DatetimeTrunc)):
        if week_trunc(trunc, "duckdb"):
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


class BqDuckDB(DuckDB):
    class Generator(DuckDB.Generator):
        TRANSFORMS = {**DuckDB.Generator.TRANSFORMS, exp.Extract: _duckdb_extract,
                      exp.CountIf: _duckdb_countif}
