"""Query parameters in BigQuery's vocabulary: validated from the REST shape, bound by each engine, never pasted."""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from bqlite_app.errors import InvalidQuery, ValidationFailed
from bqlite_app.jobs.params import decode_parameters, from_bigquery
from engines.base import Engine
from tests.bigquery.test_sql_corpus import one, run

UTC = dt.UTC


def scalar(name: str | None, type_: str, value: Any) -> dict:
    """A parameter as google-cloud-bigquery sends it."""
    parameter: dict = {"parameterType": {"type": type_}, "parameterValue": {"value": value}}
    if name is not None:
        parameter["name"] = name
    return parameter


SCALARS = [
    ("INT64", "-9223372036854775808", -9223372036854775808),
    ("FLOAT64", 1.5, 1.5),
    ("NUMERIC", "12345678901234567890.123456789", Decimal("12345678901234567890.123456789")),
    ("BIGNUMERIC", "1234567890.0123456789", Decimal("1234567890.0123456789")),
    ("BOOL", "true", True),
    ("STRING", "héllo", "héllo"),
    ("DATE", "2024-02-29", dt.date(2024, 2, 29)),
    ("DATETIME", "2024-02-29T10:11:12.123456", dt.datetime(2024, 2, 29, 10, 11, 12, 123456)),
    ("TIMESTAMP", "2024-02-29 10:11:12.123456+00:00", dt.datetime(2024, 2, 29, 10, 11, 12, 123456, tzinfo=UTC)),
]


@pytest.mark.parametrize(("type_", "sent", "expected"), SCALARS, ids=[t for t, _, _ in SCALARS])
def test_scalar_parameters_round_trip(engine: Engine, type_: str, sent: Any, expected: Any) -> None:
    parameters = from_bigquery([scalar("v", type_, sent)], "NAMED")
    row = one(engine, "SELECT @v AS v, @v IS NULL AS missing", parameters=parameters)
    value = row["v"]
    if type_ == "DATETIME" and isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.replace(tzinfo=None)     # ClickHouse keeps DATETIME as a UTC DateTime64 (see sql.py)
    assert value == expected
    assert not row["missing"]


def test_bytes_time_and_json_parameters(engine: Engine) -> None:
    parameters = from_bigquery([
        scalar("b", "BYTES", base64.b64encode(b"\x00\x01abc").decode()),
        scalar("t", "TIME", "10:11:12.5"),
        scalar("j", "JSON", '{"a": [1, 2]}'),
    ], "NAMED")
    row = one(engine, "SELECT TO_HEX(@b) AS hex, LENGTH(@b) AS n, CAST(@t AS STRING) AS t, "
                      "CAST(@j AS STRING) AS j", parameters=parameters)
    assert row["hex"].lower() == "0001616263" and row["n"] == 5
    assert row["t"].startswith("10:11:12.5")
    assert row["j"].replace(" ", "") == '{"a":[1,2]}'


def test_null_parameters(engine: Engine) -> None:
    parameters = from_bigquery([{"name": "n", "parameterType": {"type": "INT64"}, "parameterValue": {}},
                                scalar("s", "STRING", None)], "NAMED")
    assert one(engine, "SELECT @n IS NULL AS a, @s IS NULL AS b, COALESCE(@n, 7) AS c", parameters=parameters) \
        in ({"a": True, "b": True, "c": 7}, {"a": 1, "b": 1, "c": 7})


def test_array_and_struct_parameters(engine: Engine) -> None:
    parameters = from_bigquery([
        {"name": "ids", "parameterType": {"type": "ARRAY", "arrayType": {"type": "INT64"}},
         "parameterValue": {"arrayValues": [{"value": "3"}, {"value": "1"}, {"value": "2"}]}},
        {"name": "who", "parameterType": {"type": "STRUCT", "structTypes": [
            {"name": "name", "type": {"type": "STRING"}},
            {"name": "tags", "type": {"type": "ARRAY", "arrayType": {"type": "STRING"}}}]},
         "parameterValue": {"structValues": {"name": {"value": "Ada"},
                                             "tags": {"arrayValues": [{"value": "x"}, {"value": "y"}]}}}},
        {"name": "people", "parameterType": {"type": "ARRAY", "arrayType": {"type": "STRUCT", "structTypes": [
            {"name": "id", "type": {"type": "INT64"}}, {"name": "born", "type": {"type": "DATE"}}]}},
         "parameterValue": {"arrayValues": [
             {"structValues": {"id": {"value": "1"}, "born": {"value": "1815-12-10"}}},
             {"structValues": {"id": {"value": "2"}, "born": {"value": "1906-12-09"}}}]}},
    ], "NAMED")
    row = one(engine, "SELECT ARRAY_LENGTH(@ids) AS n, 2 IN UNNEST(@ids) AS has_two, @who.name AS name, "
                      "ARRAY_LENGTH(@who.tags) AS tags, (SELECT SUM(x) FROM UNNEST(@ids) AS x) AS total, "
                      "@people AS people", parameters=parameters)
    assert row["n"] == 3 and row["has_two"] in (True, 1) and row["name"] == "Ada" and row["tags"] == 2
    assert row["total"] == 6
    assert row["people"] == [{"id": 1, "born": dt.date(1815, 12, 10)}, {"id": 2, "born": dt.date(1906, 12, 9)}]


def test_positional_parameters(engine: Engine) -> None:
    parameters = from_bigquery([scalar(None, "INT64", "40"), scalar(None, "STRING", "?")], "POSITIONAL")
    assert [p["name"] for p in parameters] == ["p1", "p2"]
    assert one(engine, "SELECT ? + 2 AS answer, ? AS mark, '?' AS literal", parameters=parameters) == \
        {"answer": 42, "mark": "?", "literal": "?"}


def test_named_parameters_match_case_insensitively(engine: Engine) -> None:
    parameters = from_bigquery([scalar("Limit", "INT64", "2")], "NAMED")
    assert run(engine, "SELECT x FROM UNNEST([1, 2, 3]) AS x WHERE x <= @limit ORDER BY x",
               parameters=parameters) == [{"x": 1}, {"x": 2}]


INJECTIONS = ["x' OR '1'='1", "'; DROP TABLE nyc_taxi; --", "\\'); SELECT 1; --", "{p:String}", "$1 \\N %s %(x)s",
              "line\nbreak\ttab \x00nul"]


@pytest.mark.parametrize("attempt", INJECTIONS)
def test_an_injection_in_a_string_parameter_stays_data(engine: Engine, core, attempt: str) -> None:
    parameters = from_bigquery([scalar("s", "STRING", attempt)], "NAMED")
    row = one(engine, "SELECT @s AS s, LENGTH(@s) AS n, (SELECT COUNT(*) FROM nyc_taxi WHERE store_and_fwd_flag = @s)"
                      " AS matched", parameters=parameters)
    assert row == {"s": attempt, "n": len(attempt), "matched": 0}
    assert one(engine, "SELECT COUNT(*) > 0 AS still_there FROM nyc_taxi")["still_there"] in (True, 1)


def test_dry_runs_and_plans_take_parameters(engine: Engine, core) -> None:
    from bqlite_app.bigquery.sql import translate

    parameters = from_bigquery([scalar("n", "INT64", "3")], "NAMED")
    text = translate("SELECT fare_amount FROM nyc_taxi WHERE passenger_count = @n", engine=engine.name,
                     parameters=parameters, default_dataset=None)
    estimate = engine.estimate(text, parameters=decode_parameters(parameters))
    assert estimate.valid, estimate.error
    assert estimate.estimated_bytes_processed > 0
    assert engine.explain(text, parameters=decode_parameters(parameters))


# -- bad input is a 4xx naming the parameter ---------------------------------------------------------------------


@pytest.mark.parametrize(("parameters", "mode", "named"), [
    ([scalar("n", "INT64", "12x")], "NAMED", "@n"),
    ([scalar("n", "INT64", "9223372036854775808")], "NAMED", "out of range"),
    ([scalar("n", "INT64", True)], "NAMED", "@n"),
    ([scalar("f", "FLOAT64", "1e999")], "NAMED", "@f"),
    ([scalar("d", "DATE", "2024-02-30")], "NAMED", "@d"),
    ([scalar("d", "DATE", "20240101")], "NAMED", "@d"),
    ([scalar("t", "TIMESTAMP", "yesterday")], "NAMED", "@t"),
    ([scalar("b", "BYTES", "not base64!")], "NAMED", "@b"),
    ([scalar("j", "JSON", "{oops")], "NAMED", "@j"),
    ([scalar("n", "NUMERIC", "1e40")], "NAMED", "out of range"),
    ([scalar("x", "GEOGRAPHY", "POINT(1 2)")], "NAMED", "GEOGRAPHY"),
    ([scalar("x", "RANGE", "[1, 2)")], "NAMED", "RANGE"),
    ([scalar("bad name", "INT64", "1")], "NAMED", "parameter 1"),
    ([scalar("a", "INT64", "1"), scalar("A", "INT64", "2")], "NAMED", "twice"),
    ([scalar("a", "INT64", "1")], "POSITIONAL", "positional parameters have no name"),
    ([scalar("a", "INT64", {"value": 1})], "NAMED", "scalar"),
    ([{"name": "a", "parameterValue": {"value": "1"}}], "NAMED", "parameterType"),
    ([{"name": "a", "parameterType": {"type": "ARRAY"}, "parameterValue": {"arrayValues": []}}], "NAMED", "@a"),
    ([{"name": "a", "parameterType": {"type": "ARRAY", "arrayType": {"type": "INT64"}},
       "parameterValue": {"arrayValues": [{"value": None}]}}], "NAMED", "NULL"),
    ([{"name": "s", "parameterType": {"type": "STRUCT", "structTypes": [{"name": "x", "type": {"type": "INT64"}}]},
       "parameterValue": {"structValues": {"y": {"value": "1"}}}}], "NAMED", "no field 'y'"),
    ("not a list", "NAMED", "list"),
    ([scalar("a", "INT64", "1")], "SIDEWAYS", "parameterMode"),
])
def test_bad_shapes_are_rejected_naming_the_parameter(parameters: Any, mode: str, named: str) -> None:
    with pytest.raises(ValidationFailed, match=named):
        from_bigquery(parameters, mode)


def test_the_stored_form_is_checked_again_when_decoded() -> None:
    with pytest.raises(ValidationFailed, match="@x"):
        decode_parameters([{"name": "x", "type": "ARRAY<INT64", "value": []}])
    with pytest.raises(ValidationFailed, match="@x"):
        decode_parameters([{"name": "x", "type": "STRUCT<a INT64>", "value": {"a": "one"}}])
    assert decode_parameters([{"name": "x", "type": "STRUCT<a INT64, b ARRAY<DATE>>",
                               "value": {"a": "1", "b": ["2024-01-01"]}}]) == \
        {"x": {"a": 1, "b": [dt.date(2024, 1, 1)]}}


def test_a_missing_parameter_is_an_invalid_query() -> None:
    from bqlite_app.bigquery.sql import translate

    with pytest.raises(InvalidQuery, match="'nope' not found"):
        translate("SELECT @nope", engine="duckdb", parameters=[], default_dataset=None)
