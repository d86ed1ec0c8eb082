"""``@name`` parameters in native SQL: found where each engine's lexer would see them, and bound by the engine."""

from __future__ import annotations

import pytest

from bqlite_app.access.principal import LOCAL
from bqlite_app.errors import ValidationFailed
from bqlite_app.jobs.param_sql import bind_sql, find_parameters, parameter_names
from bqlite_app.jobs.service import QuerySpec

INT = {"name": "n", "type": "INT64", "value": "3"}


def names(sql: str, engine: str = "duckdb") -> list[str]:
    return [use.name for use in find_parameters(sql, engine)]


# -- the scanner -----------------------------------------------------------------------------------------------


def test_parameters_are_found_in_order_with_their_offsets():
    uses = find_parameters("SELECT @a, @b_2 + @a", "duckdb")
    assert [(u.name, u.start, u.end) for u in uses] == [("a", 7, 9), ("b_2", 11, 15), ("a", 18, 20)]
    assert parameter_names("SELECT @Region, @region, @x", "duckdb") == ["Region", "x"]


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
@pytest.mark.parametrize("sql", [
    "SELECT 'a@b', 'it''s @x'",
    'SELECT "col@x", "a""@y"',
    "SELECT 1 -- @x\n",
    "SELECT /* @x /* nested @y */ still @z */ 1",
    "SELECT $$ @x $$, $tag$ @y $tag$",
    "SELECT @ x, @-5, @1",
    "SELECT [1] <@ arr, 'abc' ^@ s, arr @> [1], a@b",
])
def test_no_parameter_inside_text_comments_or_operators(engine, sql):
    assert names(sql, engine) == []


def test_each_engine_reads_its_own_escapes():
    # ClickHouse: backslash escapes in strings and identifiers, backtick identifiers and # comments.
    assert names(r"SELECT 'a\'@x', `b@y`, 1 # @z", "clickhouse") == []
    # DuckDB: a backslash is plain text in '...', so the string ends after it; E'...' has escapes.
    assert names(r"SELECT 'a\', @x", "duckdb") == ["x"]
    assert names(r"SELECT E'a\'@x', @y", "duckdb") == ["y"]
    # DuckDB has no backtick identifiers and no # comments ("#1" is a column position).
    assert names("SELECT #1 FROM t WHERE x = @p", "duckdb") == ["p"]


def test_an_unterminated_string_or_comment_hides_the_rest():
    assert names("SELECT 'abc @x") == [] and names("SELECT /* @x") == [] and names("SELECT $$ @x") == []


# -- the rewrite -----------------------------------------------------------------------------------------------


def test_duckdb_gets_a_typed_dollar_placeholder_and_clickhouse_a_braced_one():
    params = [INT, {"name": "s", "type": "STRING", "value": None}]
    assert bind_sql("SELECT @n, @S", "duckdb", params).text == \
        "SELECT (CAST($n AS BIGINT)), (CAST($s AS VARCHAR))"
    assert bind_sql("SELECT @n, @S", "clickhouse", params).text == "SELECT {n:Int64}, {s:Nullable(String)}"


def test_sql_without_parameters_and_native_placeholders_pass_unchanged():
    assert bind_sql("SELECT $n, '@x'", "duckdb", [INT]).text == "SELECT $n, '@x'"
    assert bind_sql("SELECT {n:Int64}", "clickhouse", [INT]).text == "SELECT {n:Int64}"


def test_an_undeclared_parameter_is_a_validation_error_naming_it_and_where():
    with pytest.raises(ValidationFailed, match=r"Query parameter 'zone' not found at \[2:7\]"):
        bind_sql("SELECT\n  1 + @zone", "duckdb", [INT])


def test_engine_positions_map_back_onto_the_users_text():
    sql = "SELECT @n, bogus"
    bound = bind_sql(sql, "duckdb", [INT])
    engine_at = bound.text.index("bogus") + 1
    assert bound.user_position(engine_at) == sql.index("bogus") + 1
    assert bound.user_position(bound.text.index("CAST") + 1) == sql.index("@n") + 1
    assert bound.user_position(3) == 3 and bound.user_position(None) is None


# -- bound by the engine, on both ----------------------------------------------------------------------------


def run(core, sql: str, engine: str, parameters) -> list[tuple]:
    job = core.queries.submit(QuerySpec(sql=sql, engine=engine, parameters=tuple(parameters)), user=LOCAL)
    job = core.queries.wait(job.job_id, 60, user=LOCAL)
    assert job.status == "completed", job.error
    page = core.queries.page(job, offset=0, limit=100, user=LOCAL)
    return [tuple(row.values()) for row in page.table.to_pylist()]


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_typed_parameters_are_bound_by_the_engine(core, engine):
    params = [{"name": "n", "type": "INT64", "value": "4"}, {"name": "f", "type": "FLOAT64", "value": 1.5},
              {"name": "s", "type": "STRING", "value": "it's; DROP TABLE x --"},
              {"name": "d", "type": "DATE", "value": "2024-02-29"}, {"name": "b", "type": "BOOL", "value": "true"},
              {"name": "t", "type": "TIMESTAMP", "value": "2024-01-02 03:04:05+01:00"}]
    rows = run(core, "SELECT @n * 2 AS n, @f AS f, @s AS s, CAST(@d AS VARCHAR) AS d, @b AS b, "
                     "@t < @t + INTERVAL 1 SECOND AS later", engine, params)
    assert rows == [(8, 1.5, "it's; DROP TABLE x --", "2024-02-29", True, True)]
    # The job keeps the SQL as written, and its parameters.
    job = core.queries.list(user=LOCAL, limit=1)[0][0]
    assert "@n * 2" in job.sql and job.parameters[0] == {"name": "n", "type": "INT64", "value": "4"}


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_parameters_filter_a_table_and_size_a_limit(core, engine):
    params = [{"name": "kind", "type": "INT64", "value": "1"}, {"name": "n", "type": "INT64", "value": "2"}]
    rows = run(core, "SELECT payment_type FROM nyc_taxi WHERE payment_type = @kind LIMIT @n", engine, params)
    assert rows == [(1,), (1,)]


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_a_null_parameter_is_null(core, engine):
    assert run(core, "SELECT @x IS NULL AS missing", engine, [{"name": "x", "type": "INT64", "value": None}]) == \
        [(True,)]


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_submit_and_dry_run_refuse_an_undeclared_parameter(core, engine):
    with pytest.raises(ValidationFailed, match="Query parameter 'x' not found"):
        core.queries.submit(QuerySpec(sql="SELECT @x", engine=engine), user=LOCAL)
    with pytest.raises(ValidationFailed, match="Query parameter 'x' not found"):
        core.queries.dry_run(QuerySpec(sql="SELECT @x", engine=engine), user=LOCAL)


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_dry_run_with_parameters_is_valid_and_an_engine_error_points_into_the_users_text(core, engine):
    spec = QuerySpec(sql="SELECT @n + fare_amount FROM nyc_taxi", engine=engine, parameters=(INT,))
    answer = core.queries.dry_run(spec, user=LOCAL)
    assert answer["valid"] is True and answer["estimated_bytes_processed"] > 0
    sql = "SELECT @n, no_such_column FROM nyc_taxi"
    answer = core.queries.dry_run(QuerySpec(sql=sql, engine=engine, parameters=(INT,)), user=LOCAL)
    assert answer["valid"] is False
    if answer.get("error_position"):
        assert answer["error_position"] <= len(sql)


def test_a_bad_value_is_refused_before_a_job_exists(core):
    with pytest.raises(ValidationFailed, match="'abc' is not an INT64"):
        core.queries.submit(QuerySpec(sql="SELECT @n", parameters=({"name": "n", "type": "INT64",
                                                                    "value": "abc"},)), user=LOCAL)
    with pytest.raises(ValidationFailed, match="unsupported parameter type"):
        core.queries.submit(QuerySpec(sql="SELECT @n", parameters=({"name": "n", "type": "INT128",
                                                                    "value": "1"},)), user=LOCAL)


def test_the_plan_of_a_parameterized_job_binds_its_parameters(core):
    job = core.queries.submit(QuerySpec(sql="SELECT @n AS n", parameters=(INT,)), user=LOCAL)
    job = core.queries.wait(job.job_id, 60, user=LOCAL)
    assert core.queries.explain(job, user=LOCAL)
