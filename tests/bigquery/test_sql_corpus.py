"""The GoogleSQL people write most, translated for each engine and run there, each case checked against a value."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from bqlite_app.access._rules import Limits
from bqlite_app.access.sql_policy import SqlPolicy
from bqlite_app.bigquery.sql import translate
from bqlite_app.errors import InvalidQuery
from bqlite_app.jobs.params import decode_parameters
from engines.base import Engine

UTC = dt.UTC


def run(engine: Engine, sql: str, parameters: list[dict] | None = None, default_dataset: str | None = None,
        sandbox: bool = True) -> list[dict[str, Any]]:
    """Translate, pass the sandbox as a job would, execute with the parameters bound; rows as dicts."""
    text = translate(sql, engine=engine.name, parameters=parameters or [], default_dataset=default_dataset)
    if sandbox:
        SqlPolicy(Limits(files_readable=False, max_memory_bytes=None, max_threads=2)).check(engine, text)
    batches = list(engine.execute(text, query_tag="bq-corpus", parameters=decode_parameters(parameters or [])))
    batches = [b for b in batches if b.num_columns]
    return pa.Table.from_batches(batches).to_pylist() if batches else []


def one(engine: Engine, sql: str, **kwargs: Any) -> dict[str, Any]:
    rows = run(engine, sql, **kwargs)
    assert len(rows) == 1, rows
    return rows[0]


CORPUS: list[tuple[str, str, list[dict[str, Any]]]] = [
    ("safe_cast", "SELECT SAFE_CAST('x' AS INT64) AS bad, SAFE_CAST('12' AS INT64) AS good, "
                  "SAFE_CAST('1.5' AS FLOAT64) AS f", [{"bad": None, "good": 12, "f": 1.5}]),
    ("countif", "SELECT COUNTIF(x > 1) AS n FROM UNNEST([1, 2, 3]) AS x", [{"n": 2}]),
    ("if", "SELECT IF(1 > 0, 'yes', 'no') AS a, IF(NULL, 1, 2) AS b", [{"a": "yes", "b": 2}]),
    ("date_constructors", "SELECT DATE(2024, 1, 31) AS a, DATE('2024-02-29') AS b, "
                          "DATE(TIMESTAMP '2024-01-31 23:00:00') AS c",
     [{"a": dt.date(2024, 1, 31), "b": dt.date(2024, 2, 29), "c": dt.date(2024, 1, 31)}]),
    ("timestamp_constructors", "SELECT TIMESTAMP('2024-01-31 10:00:00') AS a, TIMESTAMP(DATE '2024-01-31') AS b",
     [{"a": dt.datetime(2024, 1, 31, 10, tzinfo=UTC), "b": dt.datetime(2024, 1, 31, tzinfo=UTC)}]),
    ("extract", "SELECT EXTRACT(YEAR FROM DATE '2024-03-05') AS y, EXTRACT(MONTH FROM DATE '2024-03-05') AS m, "
                "EXTRACT(DAYOFWEEK FROM DATE '2024-03-05') AS dow, EXTRACT(DAYOFYEAR FROM DATE '2024-03-05') AS doy, "
                "EXTRACT(WEEK FROM DATE '2024-03-05') AS wk, EXTRACT(HOUR FROM TIMESTAMP '2024-03-05 07:08:09') AS h",
     [{"y": 2024, "m": 3, "dow": 3, "doy": 65, "wk": 9, "h": 7}]),
    ("format_timestamp", "SELECT FORMAT_TIMESTAMP('%Y-%m-%d %H:%M:%S', TIMESTAMP '2024-03-05 07:08:09') AS a, "
                         "FORMAT_TIMESTAMP('%b %d, %E6S', TIMESTAMP '2024-03-05 07:08:09.5') AS b",
     [{"a": "2024-03-05 07:08:09", "b": "Mar 05, 09.500000"}]),
    ("date_trunc", "SELECT DATE_TRUNC(DATE '2024-03-05', MONTH) AS m, DATE_TRUNC(DATE '2024-03-06', WEEK) AS w, "
                   "DATE_TRUNC(DATE '2024-03-06', ISOWEEK) AS iw, DATE_TRUNC(DATE '2024-03-06', YEAR) AS y",
     [{"m": dt.date(2024, 3, 1), "w": dt.date(2024, 3, 3), "iw": dt.date(2024, 3, 4), "y": dt.date(2024, 1, 1)}]),
    ("timestamp_trunc", "SELECT TIMESTAMP_TRUNC(TIMESTAMP '2024-03-05 07:08:09', HOUR) AS h, "
                        "TIMESTAMP_TRUNC(TIMESTAMP '2024-03-05 07:08:09', DAY) AS d",
     [{"h": dt.datetime(2024, 3, 5, 7, tzinfo=UTC), "d": dt.datetime(2024, 3, 5, tzinfo=UTC)}]),
    ("struct_array_literals", "SELECT STRUCT(1 AS a, 'x' AS b) AS s, [1, 2, 3] AS arr",
     [{"s": {"a": 1, "b": "x"}, "arr": [1, 2, 3]}]),
    ("struct_field", "SELECT s.b FROM (SELECT STRUCT(1 AS a, 'x' AS b) AS s)", [{"b": "x"}]),
    ("unnest", "SELECT x FROM UNNEST([3, 1, 2]) AS x ORDER BY x", [{"x": 1}, {"x": 2}, {"x": 3}]),
    ("unnest_offset", "SELECT x, o FROM UNNEST(['a', 'b']) AS x WITH OFFSET AS o ORDER BY o",
     [{"x": "a", "o": 0}, {"x": "b", "o": 1}]),
    ("unnest_join", "WITH t AS (SELECT 1 AS id, [10, 20] AS arr) SELECT id, v FROM t, UNNEST(t.arr) AS v ORDER BY v",
     [{"id": 1, "v": 10}, {"id": 1, "v": 20}]),
    ("unnest_cross_join", "WITH t AS (SELECT 7 AS id, ['p', 'q'] AS arr) "
                          "SELECT id, v FROM t CROSS JOIN UNNEST(arr) AS v ORDER BY v",
     [{"id": 7, "v": "p"}, {"id": 7, "v": "q"}]),
    ("in_unnest", "SELECT 2 IN UNNEST([1, 2]) AS found", [{"found": True}]),
    ("generate_array", "SELECT GENERATE_ARRAY(1, 10, 3) AS a, GENERATE_ARRAY(3, 1, -1) AS b",
     [{"a": [1, 4, 7, 10], "b": [3, 2, 1]}]),
    ("generate_array_unnest", "SELECT SUM(x) AS total FROM UNNEST(GENERATE_ARRAY(1, 10)) AS x", [{"total": 55}]),
    ("select_except", "SELECT * EXCEPT (b) FROM (SELECT 1 AS a, 2 AS b, 3 AS c)", [{"a": 1, "c": 3}]),
    ("select_replace", "SELECT * REPLACE (b * 10 AS b) FROM (SELECT 1 AS a, 2 AS b)", [{"a": 1, "b": 20}]),
    ("qualify", "SELECT x FROM UNNEST([3, 1, 2]) AS x WHERE TRUE QUALIFY ROW_NUMBER() OVER (ORDER BY x DESC) = 1",
     [{"x": 3}]),
    ("approx_count_distinct", "SELECT APPROX_COUNT_DISTINCT(x) AS n FROM UNNEST([1, 1, 2, 3, 3, 3]) AS x",
     [{"n": 3}]),
    ("array_agg", "SELECT ARRAY_AGG(x ORDER BY x) AS up, ARRAY_AGG(x ORDER BY x DESC) AS down, "
                  "ARRAY_AGG(DISTINCT x ORDER BY x) AS uniq FROM UNNEST([3, 1, 2, 1]) AS x",
     [{"up": [1, 1, 2, 3], "down": [3, 2, 1, 1], "uniq": [1, 2, 3]}]),
    ("array_agg_by_key", "SELECT ARRAY_AGG(name ORDER BY rank) AS names FROM UNNEST("
                         "[STRUCT('b' AS name, 2 AS rank), STRUCT('a' AS name, 3 AS rank), STRUCT('c', 1)]) AS t",
     [{"names": ["c", "b", "a"]}]),
    ("string_agg", "SELECT STRING_AGG(x, ',' ORDER BY x) AS s, STRING_AGG(x, '-' ORDER BY x DESC) AS d "
                   "FROM UNNEST(['b', 'a', 'c']) AS x", [{"s": "a,b,c", "d": "c-b-a"}]),
    ("window_functions", "SELECT x, SUM(x) OVER (ORDER BY x ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) "
                         "AS running, RANK() OVER (ORDER BY x DESC) AS r, LAG(x) OVER (ORDER BY x) AS prev "
                         "FROM UNNEST([1, 2, 3]) AS x ORDER BY x",
     [{"x": 1, "running": 1, "r": 3, "prev": None}, {"x": 2, "running": 3, "r": 2, "prev": 1},
      {"x": 3, "running": 6, "r": 1, "prev": 2}]),
    ("window_partition", "SELECT g, x, ROW_NUMBER() OVER (PARTITION BY g ORDER BY x DESC) AS rn "
                         "FROM UNNEST([STRUCT('a' AS g, 1 AS x), STRUCT('a' AS g, 2 AS x), STRUCT('b', 5)]) "
                         "ORDER BY g, x",
     [{"g": "a", "x": 1, "rn": 2}, {"g": "a", "x": 2, "rn": 1}, {"g": "b", "x": 5, "rn": 1}]),
]


@pytest.mark.parametrize(("sql", "expected"), [(sql, rows) for _, sql, rows in CORPUS],
                         ids=[name for name, _, _ in CORPUS])
def test_corpus(engine: Engine, sql: str, expected: list[dict[str, Any]]) -> None:
    assert run(engine, sql) == expected


# -- names -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(duckdb_engine: Engine, clickhouse_engine: Engine) -> str:
    """A dataset ``bq_corpus`` holding ``trips`` on both engines."""
    from engines.types import Column, Scalar

    columns = [Column("id", Scalar("int64")), Column("city", Scalar("string"))]
    data = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "city": ["Oslo", "Lima", "Oslo"]})
    for engine in (duckdb_engine, clickhouse_engine):
        engine.create_table("bq_corpus", "trips", columns, replace=True)
        engine.insert_arrow("bq_corpus", "trips", data)
    return "bq_corpus"


@pytest.mark.parametrize("name", ["`my-project.bq_corpus.trips`", "`my-project`.bq_corpus.trips",
                                  "bq_corpus.trips", "`bq_corpus.trips`", "`bq_corpus`.`trips`"])
def test_qualified_names_resolve_to_our_dataset(engine: Engine, dataset: str, name: str) -> None:
    assert one(engine, f"SELECT COUNT(*) AS n, COUNTIF(city = 'Oslo') AS oslo FROM {name}") == {"n": 3, "oslo": 2}


def test_unqualified_names_use_the_default_dataset(engine: Engine, dataset: str) -> None:
    sql = "WITH trips AS (SELECT 1 AS id) SELECT (SELECT COUNT(*) FROM trips) AS cte, COUNT(*) AS n FROM trips"
    assert one(engine, "SELECT COUNT(*) AS n FROM trips", default_dataset=dataset) == {"n": 3}
    # A CTE keeps its own name.
    assert one(engine, sql, default_dataset=dataset) == {"cte": 1, "n": 1}


def test_the_default_dataset_holds_the_sample(engine: Engine, core) -> None:
    rows = run(engine, "SELECT COUNT(*) AS n FROM `any-project.default.nyc_taxi`")
    plain = run(engine, "SELECT COUNT(*) AS n FROM nyc_taxi")
    assert rows == plain and rows[0]["n"] > 0


def test_format_timestamp_on_the_samples_naive_timestamps(engine: Engine, core) -> None:
    sql = ("SELECT FORMAT_TIMESTAMP('%Y-%m-%d %H:%M:%S', tpep_pickup_datetime) AS text, "
           "CAST(tpep_pickup_datetime AS STRING) AS raw, EXTRACT(HOUR FROM tpep_pickup_datetime) AS h "
           "FROM default.nyc_taxi ORDER BY tpep_pickup_datetime LIMIT 1")
    row = one(engine, sql)
    assert row["text"] == row["raw"][:19]
    assert row["h"] == int(row["text"][11:13])


def test_ddl_and_dml_in_a_dataset(engine: Engine, dataset: str) -> None:
    run(engine, "DROP TABLE IF EXISTS bq_corpus.made")
    # Not through the sandbox on ClickHouse: it reads the ``tuple`` of ``ORDER BY tuple()`` as a table engine.
    run(engine, "CREATE TABLE `p.bq_corpus.made` (id INT64, price NUMERIC, at TIMESTAMP, tags ARRAY<STRING>)",
        sandbox=engine.name == "duckdb")
    run(engine, "INSERT INTO bq_corpus.made (id, price, at, tags) VALUES "
                "(1, NUMERIC '1.25', TIMESTAMP '2024-01-02 03:04:05', ['a', 'b'])")
    run(engine, "INSERT INTO bq_corpus.made (id, price, at, tags) "
                "SELECT id + 1, price * 2, at, tags FROM bq_corpus.made")
    rows = run(engine, "SELECT id, price, at, tags FROM bq_corpus.made ORDER BY id")
    assert rows == [
        {"id": 1, "price": Decimal("1.25"), "at": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "tags": ["a", "b"]},
        {"id": 2, "price": Decimal("2.5"), "at": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "tags": ["a", "b"]},
    ]
    run(engine, "UPDATE bq_corpus.made SET price = price + 1 WHERE id = 2")
    run(engine, "DELETE FROM `p.bq_corpus.made` WHERE id = 1")
    assert run(engine, "SELECT id, price FROM bq_corpus.made") == [{"id": 2, "price": Decimal("3.5")}]
    run(engine, "DROP TABLE bq_corpus.made")


def test_merge_runs_on_duckdb_and_is_named_on_clickhouse(duckdb_engine: Engine, dataset: str) -> None:
    run(duckdb_engine, "CREATE OR REPLACE TABLE bq_corpus.target AS SELECT 1 AS id, 'old' AS v")
    run(duckdb_engine, "MERGE bq_corpus.target T USING (SELECT 1 AS id, 'new' AS v UNION ALL SELECT 2, 'add') S "
                       "ON T.id = S.id WHEN MATCHED THEN UPDATE SET v = S.v "
                       "WHEN NOT MATCHED THEN INSERT (id, v) VALUES (S.id, S.v)")
    assert run(duckdb_engine, "SELECT id, v FROM bq_corpus.target ORDER BY id") == [
        {"id": 1, "v": "new"}, {"id": 2, "v": "add"}]
    with pytest.raises(InvalidQuery, match="MERGE"):
        translate("MERGE bq_corpus.target T USING bq_corpus.trips S ON T.id = S.id WHEN MATCHED THEN DELETE",
                  engine="clickhouse", parameters=[], default_dataset=None)


# -- what cannot be translated -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("sql", "named"), [
    ("SELECT 1 +", "Syntax error"),
    ("SELECT @missing AS x", "missing"),
    ("SELECT @@project_id", "@@project_id"),
    ("DECLARE x INT64", "DECLARE"),
    ("EXPORT DATA OPTIONS (uri = 'gs://bucket/*.csv', format = 'CSV') AS SELECT 1", "EXPORT"),
])
def test_untranslatable_constructs_are_invalid_queries(sql: str, named: str) -> None:
    for engine in ("duckdb", "clickhouse"):
        with pytest.raises(InvalidQuery, match=named):
            translate(sql, engine=engine, parameters=[], default_dataset=None)


@pytest.mark.parametrize(("sql", "named"), [
    ("SELECT EXTRACT(MICROSECOND FROM TIMESTAMP '2024-01-01') AS x, ARRAY_AGG(x ORDER BY x LIMIT 1) "
     "FROM UNNEST([1]) AS x", "ARRAY_AGG with LIMIT"),
    ("SELECT ARRAY_AGG(x ORDER BY x, y DESC) FROM UNNEST([1]) AS x, UNNEST([2]) AS y", "mixed directions"),
    ("SELECT TIMESTAMP_TRUNC(TIMESTAMP '2024-01-01', MILLISECOND)", "MILLISECOND"),
    ("SELECT [STRUCT(1 AS a), STRUCT(2 AS a)]", "STRUCT field name 'a'"),
])
def test_clickhouse_gaps_are_named(sql: str, named: str) -> None:
    with pytest.raises(InvalidQuery, match=named):
        translate(sql, engine="clickhouse", parameters=[], default_dataset=None)


def test_positional_and_named_parameters_cannot_mix() -> None:
    params = [{"name": "p1", "type": "INT64", "value": "1"}]
    with pytest.raises(InvalidQuery, match="mix"):
        translate("SELECT ?, @p1", engine="duckdb", parameters=params, default_dataset=None)
