"""POST /queries with `parameters`: typed values for @name, bound by either engine, never pasted into the SQL."""

from __future__ import annotations

import pytest

from tests.conftest import run_job


def page(client, job: dict) -> dict:
    return client.get(f"/jobs/{job['job_id']}/result", params={"timeout_ms": 30000}).json()


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_parameters_of_each_type_are_bound(client, engine):
    parameters = [
        {"name": "n", "type": "INT64", "value": "7"}, {"name": "f", "type": "FLOAT64", "value": 2.5},
        {"name": "s", "type": "STRING", "value": "O'Brien'; --"}, {"name": "d", "type": "DATE", "value": "2024-03-01"},
        {"name": "t", "type": "TIMESTAMP", "value": "2024-03-01T10:00:00Z"}, {"name": "b", "type": "BOOL",
                                                                              "value": False},
        {"name": "xs", "type": "ARRAY<INT64>", "value": ["1", "2", "3"]},
    ]
    job = run_job(client, "SELECT @n AS n, @f AS f, @s AS s, @d AS d, @t AS t, @b AS b, @xs AS xs", engine=engine,
                  parameters=parameters)
    assert job["status"] == "completed", job["error"]
    assert page(client, job)["rows"] == [[7, 2.5, "O'Brien'; --", "2024-03-01", "2024-03-01T10:00:00+00:00", False,
                                          [1, 2, 3]]]
    shown = client.get(f"/jobs/{job['job_id']}").json()
    assert shown["sql"].startswith("SELECT @n") and shown["parameters"][0] == parameters[0]


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_a_parameter_filters_the_sample(client, engine):
    sql = "SELECT count(*) AS n FROM nyc_taxi WHERE payment_type = @kind AND trip_distance >= @miles"
    parameters = [{"name": "kind", "type": "INT64", "value": "2"}, {"name": "miles", "type": "FLOAT64", "value": "0"}]
    filtered = page(client, run_job(client, sql, engine=engine, parameters=parameters))["rows"][0][0]
    assert 0 < filtered < 50_000


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_dry_run_takes_parameters(client, engine):
    body = client.post("/queries", json={"sql": "SELECT fare_amount FROM nyc_taxi WHERE fare_amount > @min",
                                         "engine": engine, "dry_run": True,
                                         "parameters": [{"name": "min", "type": "FLOAT64", "value": "3"}]}).json()
    assert body["valid"] is True and body["estimated_bytes_processed"] > 0


@pytest.mark.parametrize(("parameters", "message"), [
    ([], "Query parameter 'n' not found"),
    ([{"name": "n", "type": "INT64", "value": "seven"}], "is not an INT64"),
    ([{"name": "n", "type": "VARCHAR", "value": "1"}], "unsupported parameter type"),
    ([{"name": "1n", "type": "INT64", "value": "1"}], "identifier"),
    ([{"name": "n", "type": "INT64", "value": "1"}, {"name": "N", "type": "INT64", "value": "2"}], "twice"),
    ([{"name": "n", "type": "DATE", "value": "2024-02-30"}], "not a valid DATE"),
])
def test_bad_parameters_are_validation_failed_and_create_no_job(client, parameters, message):
    before = client.get("/jobs").json()["total"]
    answer = client.post("/queries", json={"sql": "SELECT @n", "parameters": parameters})
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error_code"] == "VALIDATION_FAILED" and message in body["detail"]
    assert client.get("/jobs").json()["total"] == before


def test_the_shape_is_name_type_value_and_nothing_else(client):
    answer = client.post("/queries", json={"sql": "SELECT @n", "parameters": [{"name": "n", "type": "INT64",
                                                                                 "value": "1", "mode": "x"}]})
    assert answer.status_code == 422 and answer.json()["error_code"] == "VALIDATION_FAILED"


def test_oversized_parameters_are_refused(client):
    huge = [{"name": "s", "type": "STRING", "value": "x" * 2_000_000}]
    answer = client.post("/queries", json={"sql": "SELECT @s", "parameters": huge})
    assert answer.status_code in (413, 422) and "limit" in answer.text


def test_at_inside_strings_and_comments_is_text(client):
    job = run_job(client, "SELECT 'me@example.com' AS mail -- @nothing\n", parameters=[])
    assert page(client, job)["rows"] == [["me@example.com"]]


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
@pytest.mark.parametrize("parameter", [
    {"name": "f", "type": "FLOAT64", "value": 10**400},
    {"name": "f", "type": "NUMERIC", "value": 10**400},
    {"name": "f", "type": "NUMERIC", "value": "1e9999"},
    {"name": "f", "type": "BIGNUMERIC", "value": "9" * 300},
    {"name": "f", "type": "INT64", "value": 10**400},
    {"name": "f", "type": "TIMESTAMP", "value": "9999-12-31 23:59:59-14:00"},
    {"name": "f", "type": "TIMESTAMP", "value": "0001-01-01 00:00:00+14:00"},
    {"name": "f", "type": "DATE", "value": "0000-01-01"},
    {"name": "f", "type": "STRUCT<a INT64>", "value": {"a": {"b": 1}}},
    {"name": "f", "type": "ARRAY<STRING>", "value": [["x"]]},
    {"name": "f", "type": "TIME", "value": "99:99:99"},
    {"name": "f", "type": "ARRAY<" * 20 + "INT64" + ">" * 20, "value": []},
], ids=lambda p: p["type"][:20])
def test_hostile_values_are_refused_as_validation_errors(client, engine, parameter):
    answer = client.post("/queries", json={"sql": "SELECT @f", "engine": engine, "parameters": [parameter]})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error_code"] == "VALIDATION_FAILED"


@pytest.mark.parametrize("typ", ["STRING", "JSON"])
def test_a_lone_surrogate_is_refused(client, typ):
    # Written by hand: a JSON escape is the only way a lone surrogate travels (it cannot be encoded as UTF-8).
    body = '{"sql": "SELECT @f", "parameters": [{"name": "f", "type": "' + typ + '", "value": "\\ud800"}]}'
    answer = client.post("/queries", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422 and "Unicode" in answer.json()["detail"]
