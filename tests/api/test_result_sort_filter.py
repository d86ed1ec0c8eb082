"""`GET /jobs/{id}/result?order_by=&filter=` and `GET /jobs/{id}/chart`: the whole result, sorted, filtered and
aggregated on the server, for JSON pages and every export format."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.api.test_queries import assert_error
from tests.conftest import run_job

ROWS = 30_000
SQL = (f"SELECT i AS id, i % 7 AS grp, CASE WHEN i % 11 = 0 THEN NULL ELSE (i * 37) % 1000 END AS fare, "
       f"'n' || (i % 97) AS name, TIMESTAMP '2024-01-01' + to_minutes(i) AS at FROM range({ROWS}) t(i)")


@pytest.fixture(scope="module")
def job(client) -> str:
    job = run_job(client, SQL)
    assert job["status"] == "completed" and job["rows_returned"] == ROWS
    return job["job_id"]


def page(client, job_id: str, **params) -> dict:
    response = client.get(f"/jobs/{job_id}/result", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_sort_orders_the_whole_result_and_pages_through_it(client, job) -> None:
    first = page(client, job, order_by="fare:desc", limit=5)
    assert first["total_rows"] == ROWS and first["next_offset"] == 5
    names = [c["name"] for c in first["columns"]]
    assert names == ["id", "grp", "fare", "name", "at"]
    assert [row[2] for row in first["rows"]] == [999] * 5
    # ties keep the stored order
    assert [row[0] for row in first["rows"]] == sorted(row[0] for row in first["rows"])
    last = page(client, job, order_by="fare:desc", offset=ROWS - 3, limit=10)
    assert [row[2] for row in last["rows"]] == [None] * 3 and last["next_offset"] is None
    two_keys = page(client, job, order_by=["grp", "id:desc"], limit=3)
    assert [row[0] for row in two_keys["rows"]] == [29995, 29988, 29981]


def test_filter_narrows_the_result_and_the_count(client, job) -> None:
    answer = page(client, job, filter=["grp:=:3", "fare:>=:990"], order_by="id", limit=1000)
    expected = [i for i in range(ROWS) if i % 7 == 3 and i % 11 and (i * 37) % 1000 >= 990]
    assert answer["total_rows"] == len(expected)
    assert [row[0] for row in answer["rows"]] == expected
    nulls = page(client, job, filter="fare:is_null", limit=1)
    assert nulls["total_rows"] == len(range(0, ROWS, 11))
    text = page(client, job, filter="name:contains:N96", limit=1)
    assert text["total_rows"] == len([i for i in range(ROWS) if i % 97 == 96])
    when = page(client, job, filter="at:<:2024-01-01 00:05:00", limit=100)
    assert [row[0] for row in when["rows"]] == [0, 1, 2, 3, 4]
    empty = page(client, job, filter="grp:>:100")
    assert empty["total_rows"] == 0 and empty["rows"] == [] and empty["next_offset"] is None


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet", "arrow", "xlsx"])
def test_every_export_format_is_sorted_and_filtered(client, job, fmt) -> None:
    params = {"format": fmt, "order_by": "fare:desc,id", "filter": ["grp:=:2", "name:contains:n1"]}
    response = client.get(f"/jobs/{job}/result", params=params)
    assert response.status_code == 200, response.text
    expected = [i for i in range(ROWS) if i % 7 == 2 and "n1" in f"n{i % 97}"]
    expected.sort(key=lambda i: (i % 11 == 0, -((i * 37) % 1000) if i % 11 else 0, i))
    body = response.content
    if fmt == "csv":
        ids = [int(row["id"]) for row in csv.DictReader(io.StringIO(body.decode()))]
    elif fmt == "ndjson":
        ids = [json.loads(line)["id"] for line in body.decode().splitlines()]
    elif fmt == "parquet":
        ids = pq.read_table(io.BytesIO(body)).column("id").to_pylist()
    elif fmt == "arrow":
        ids = pa.ipc.open_stream(body).read_all().column("id").to_pylist()
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(body), read_only=True).active
        ids = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert ids == expected


@pytest.mark.parametrize("params", [
    {"order_by": "nope"},
    {"order_by": "fare:sideways"},
    {"order_by": 'id" ; DROP TABLE x --'},
    {"filter": "fare:like:1"},
    {"filter": "fare:>:cheap"},
    {"filter": "nope:=:1"},
    {"filter": "fare"},
    {"filter": "id:=:1e400"},
    {"filter": ["id:>:1"] * 17},
    {"order_by": "x" * 9000},
    {"filter": "name:=:" + "a" * 5000},
    {"order_by": "fare", "offset": ROWS + 1},
    {"filter": "grp:=:1", "offset": ROWS},
    {"order_by": "fare", "offset": 2**62},
])
def test_hostile_input_is_an_error_envelope(client, job, params) -> None:
    assert_error(client.get(f"/jobs/{job}/result", params=params), 422, "VALIDATION_FAILED")


def test_hostile_input_on_exports_fails_before_streaming(client, job) -> None:
    assert_error(client.get(f"/jobs/{job}/result", params={"format": "csv", "order_by": "nope"}), 422,
                 "VALIDATION_FAILED")
    assert_error(client.get(f"/jobs/{job}/result", params={"format": "parquet", "filter": "fare:<:x"}), 422,
                 "VALIDATION_FAILED")


@pytest.mark.parametrize("value", ["'; DROP TABLE t; --", "1' OR '1'='1", "%", "_", "\\", "$1"])
def test_injection_in_values_matches_nothing(client, job, value) -> None:
    assert page(client, job, filter=f"name:=:{value}")["total_rows"] == 0
    assert page(client, job, filter=f"name:contains:{value}")["total_rows"] == 0


def test_someone_elses_job_is_not_found(client, job) -> None:
    assert_error(client.get("/jobs/job_nope/result", params={"order_by": "id"}), 404, "JOB_NOT_FOUND")
    assert_error(client.get("/jobs/job_nope/chart", params={"x": "id"}), 404, "JOB_NOT_FOUND")


def test_chart_aggregates_the_whole_result(client, job) -> None:
    response = client.get(f"/jobs/{job}/chart", params={"x": "grp", "y": ["fare", "id"], "agg": "sum"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [c["name"] for c in answer["columns"]] == ["grp", "fare", "id"]
    assert answer["groups"] == 7 and answer["source_rows"] == ROWS and not answer["binned"]
    sums = {row[0]: row[2] for row in answer["rows"]}
    assert sums == {g: float(sum(i for i in range(ROWS) if i % 7 == g)) for g in range(7)}
    binned = client.get(f"/jobs/{job}/chart", params={"x": "at", "agg": "count", "max_groups": 24}).json()
    assert binned["binned"] and len(binned["rows"]) <= 24 and sum(r[1] for r in binned["rows"]) == ROWS
    filtered = client.get(f"/jobs/{job}/chart", params={"x": "grp", "agg": "count", "filter": "grp:<:2"}).json()
    assert [row[0] for row in filtered["rows"]] == [0, 1]


@pytest.mark.parametrize("params", [
    {"x": "nope", "y": "fare"},
    {"x": "grp", "y": "nope"},
    {"x": "grp", "y": "name", "agg": "avg"},
    {"x": "grp", "y": "fare", "agg": "median"},
    {"x": "grp", "y": "fare", "max_groups": 0},
    {"x": "grp", "y": "fare", "filter": "fare:~:1"},
    {"x": "grp"},
])
def test_chart_hostile_input(client, job, params) -> None:
    assert_error(client.get(f"/jobs/{job}/chart", params=params), 422, "VALIDATION_FAILED")
