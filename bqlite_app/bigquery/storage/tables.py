"""What a read session on an ordinary table runs: ``SELECT <selected_fields> FROM <table> WHERE <row_restriction>``
in the engine's dialect, built with sqlglot so that no client string is ever pasted into SQL.

``row_restriction`` is BigQuery's SQL predicate text. Only simple predicates are accepted: columns of the table,
literals, comparisons, AND/OR/NOT, IN, BETWEEN, IS NULL, LIKE, arithmetic and CAST. Anything else (subqueries,
function calls, other tables) is refused, so the restriction can never read more than the table itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from bqlite_app.errors import ValidationFailed
from engines.base import Engine

# Each engine's database for the dataset ``default``.
_DATASET = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,1023}")
_TABLE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,1023}")
_MAX_RESTRICTION_CHARS = 10_000

_ALLOWED_NODES: tuple[type[exp.Expression], ...] = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Tuple,
    exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.In, exp.Between,
    exp.Like, exp.ILike, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg, exp.Cast, exp.TryCast,
    exp.DataType, exp.DataTypeParam, exp.Var,
)


@dataclass(frozen=True)
class TableRead:
    engine: str
    database: str
    table: str
    sql: str


def check_names(dataset: str, table: str) -> None:
    if not _DATASET.fullmatch(dataset):
        raise ValidationFailed(f"invalid dataset id {dataset[:100]!r}")
    if not _TABLE.fullmatch(table):
        raise ValidationFailed(f"invalid table id {table[:100]!r}")


def find_columns(engine: Engine, database: str, table: str) -> list[str] | None:
    """The table's (or view's) column names, or None when it does not exist in ``engine``."""
    for entry in engine.catalog():
        if entry.database == database and entry.name == table:
            return [column.name for column in entry.columns]
    return None


def plan_read(engine_name: str, database: str, table: str, columns: list[str], selected: list[str],
              restriction: str) -> TableRead:
    """The SELECT that reads ``selected`` (all columns when empty) of rows passing ``restriction``."""
    known = set(columns)
    unknown = [name for name in selected if name not in known]
    if unknown:
        raise ValidationFailed(f"selected_fields: no column {unknown[0][:100]!r} in table {table}"
                               + (" (nested field paths are not supported)" if "." in unknown[0] else ""))
    if len(set(selected)) != len(selected):
        raise ValidationFailed("selected_fields: a column is named twice")
    names = selected or columns
    query = exp.select(*[exp.column(name, quoted=True) for name in names]).from_(
        exp.table_(table, db=database, quoted=True))
    if restriction.strip():
        query = query.where(_condition(restriction, known))
    return TableRead(engine=engine_name, database=database, table=table, sql=query.sql(dialect=engine_name))


def _condition(restriction: str, columns: set[str]) -> exp.Expression:
    if len(restriction) > _MAX_RESTRICTION_CHARS:
        raise ValidationFailed(f"row_restriction: longer than {_MAX_RESTRICTION_CHARS:,} characters")
    try:
        parsed = sqlglot.parse(restriction, read="bigquery")
    except SqlglotError as exc:
        raise ValidationFailed(f"row_restriction: does not parse: {_first_line(exc)}") from None
    if len(parsed) != 1 or parsed[0] is None:
        raise ValidationFailed("row_restriction: must be one predicate")
    condition = parsed[0]
    for node in condition.walk():
        if not isinstance(node, _ALLOWED_NODES):
            raise ValidationFailed(
                f"row_restriction: {node.key.upper()} is not supported; use columns, literals, comparisons, "
                "AND/OR/NOT, IN, BETWEEN, IS NULL, LIKE, arithmetic and CAST")
        if isinstance(node, exp.Column):
            if node.table or node.name not in columns:
                raise ValidationFailed(f"row_restriction: no column {node.sql(dialect='bigquery')[:100]!r}")
            node.this.set("quoted", True)
    return condition


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
