"""``Engine.execute(parameters=...)``: values bound by the engine's own mechanism, never pasted into the text."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from engines.base import Engine
from engines.errors import EngineQueryError

UTC = dt.UTC
# Each engine's own placeholder syntax.
PLACEHOLDERS = {
    "duckdb": {"i": "CAST($i AS BIGINT)", "s": "CAST($s AS VARCHAR)", "d": "CAST($d AS DECIMAL(38, 9))",
               "ts": "CAST($ts AS TIMESTAMPTZ)", "day": "CAST($day AS DATE)", "arr": "CAST($arr AS BIGINT[])",
               "rec": 'CAST($rec AS STRUCT("a" BIGINT, "b" VARCHAR))', "n": "CAST($n AS BIGINT)"},
    "clickhouse": {"i": "{i:Int64}", "s": "{s:String}", "d": "{d:Decimal(38, 9)}", "ts": "{ts:DateTime64(6, 'UTC')}",
                   "day": "{day:Date32}", "arr": "{arr:Array(Int64)}", "rec": "{rec:Tuple(a Int64, b String)}",
                   "n": "{n:Nullable(Int64)}"},
}
VALUES: dict[str, Any] = {
    "i": 42, "s": "it's \\ {x:String} $1 %s", "d": Decimal("1234.5"), "ts": dt.datetime(2024, 5, 6, 7, 8, 9, 10, UTC),
    "day": dt.date(2024, 2, 29), "arr": [3, 1, 2], "rec": {"a": 1, "b": "x"}, "n": None,
}


def rows(engine: Engine, sql: str, parameters: dict[str, Any] | None) -> list[dict]:
    batches = [b for b in engine.execute(sql, query_tag="params", parameters=parameters) if b.num_columns]
    return pa.Table.from_batches(batches).to_pylist()


def test_every_kind_of_value_binds(engine: Engine) -> None:
    marks = PLACEHOLDERS[engine.name]
    sql = "SELECT " + ", ".join(f"{mark} AS {name}" for name, mark in marks.items())
    (row,) = rows(engine, sql, VALUES)
    assert row == VALUES


def test_unused_parameters_are_ignored_and_text_is_untouched(engine: Engine) -> None:
    # No placeholder at all: nothing may be formatted into the text ('%Y' stays as written).
    assert rows(engine, "SELECT '%Y %s' AS t", {"unused": 1}) == [{"t": "%Y %s"}]
    mark = PLACEHOLDERS[engine.name]["i"]
    assert rows(engine, f"SELECT {mark} + 1 AS v, '%d' AS t", {"i": 1, "other": "x"}) == [{"v": 2, "t": "%d"}]


def test_a_missing_value_is_an_engine_query_error(engine: Engine) -> None:
    with pytest.raises(EngineQueryError):
        rows(engine, f"SELECT {PLACEHOLDERS[engine.name]['i']} AS v", None)


def test_bound_values_filter_a_table(engine: Engine) -> None:
    mark = PLACEHOLDERS[engine.name]["s"]
    sql = f"SELECT count(*) AS n FROM (SELECT 'a' AS k UNION ALL SELECT 'b') WHERE k = {mark}"
    assert [int(r["n"]) for r in rows(engine, sql, {"s": "a"})] == [1]
    assert [int(r["n"]) for r in rows(engine, sql, {"s": "a' OR '1'='1"})] == [0]


def test_estimate_explain_and_parse_accept_parameterised_sql(engine: Engine) -> None:
    mark = PLACEHOLDERS[engine.name]["i"]
    sql = f"SELECT {mark} + 1 AS v"
    estimate = engine.estimate(sql, parameters={"i": 1})
    assert estimate.valid, estimate.error
    assert engine.explain(sql, parameters={"i": 1})
    # The sandbox parses the text alone; a placeholder must not stop it.
    (statement,) = engine.parse(sql)
    assert statement.reads_only


def test_stats_are_filled_for_parameterised_queries(engine: Engine) -> None:
    from engines.base import QueryStats

    mark = PLACEHOLDERS[engine.name]["i"]
    stats = QueryStats()
    list(engine.execute(f"SELECT {mark} AS v", query_tag="params-stats", parameters={"i": 5}, stats=stats))
    assert stats.bytes_processed >= 0
