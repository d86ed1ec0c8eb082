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

from collections.abc import Mapping, Sequence
from typing import Any

import sqlglot
from sqlglot import ErrorLevel, exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from bqlite_app.bigquery.sql_clickhouse import clickhouse_rewrites
from bqlite_app.bigquery.sql_clickhouse_dialect import BqClickHouse
from bqlite_app.bigquery.sql_duckdb import BqDuckDB, duckdb_rewrites
from bqlite_app.datasets import engine_database
from bqlite_app.errors import InvalidQuery
from bqlite_app.jobs.param_types import BqType, clickhouse_type, duckdb_type, parse_type

ENGINES = ("duckdb", "clickhouse")
# Queries, DML and DDL; scripting (DECLARE, SET, BEGIN...), EXPORT DATA, CALL and the like are not translated.
_STATEMENTS = (exp.Query, exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter,
               exp.TruncateTable)


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
        clickhouse_rewrites(tree)
        dialect: sqlglot.Dialect = BqClickHouse()
    else:
        duckdb_rewrites(tree)
        dialect = BqDuckDB()
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
