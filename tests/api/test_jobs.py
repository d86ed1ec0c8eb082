"""Job routes: detail, history, cancel, paging and exports."""

import csv
import datetime
import io
import json
import struct
import time

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.api.test_queries import assert_error
from tests.conftest import run_job

# Heavy enough to run for minutes unless it is stopped.
LONG_QUERY = {
    "duckdb": "SELECT sum(hash(i)) FROM range(100000000000) t(i)",
    "clickhouse": "SELECT sum(sipHash64(number)) FROM numbers(100000000000)",
}


def wait_for_status(client, job_id: str, statuses: set[str], timeout_s: float = 20) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {statuses}: {job}")


def test_job_detail_has_the_contract_fields(client):
    job = run_job(client, "SELECT 1 AS one")
    for key in ("job_id", "sql", "engine", "status", "priority", "estimated_slots", "created_at", "started_at",
                "completed_at", "execution_time_ms", "rows_returned", "bytes_processed", "error", "progress",
                "queue_position", "labels"):
        assert key in job
    assert job["status"] == "completed" and job["rows_returned"] == 1
    assert job["queue_position"] is None and job["progress"] == 1.0
    assert job["created_at"] <= job["started_at"] <= job["completed_at"]
    assert job["created_at"].endswith("+00:00")


def test_unknown_job(client):
    assert_error(client.get("/jobs/job_doesnotexist"), 404, "JOB_NOT_FOUND")
    assert_error(client.get("/jobs/job_doesnotexist/result"), 404, "JOB_NOT_FOUND")
    assert_error(client.delete("/jobs/job_doesnotexist"), 404, "JOB_NOT_FOUND")


def test_history_is_newest_first_and_filters(client):
    first = run_job(client, "SELECT 'history-a'")
    second = run_job(client, "SELECT 'history-b'", engine="clickhouse")
    jobs = client.get("/jobs", params={"limit": 5}).json()
    ids = [job["job_id"] for job in jobs["jobs"]]
    assert ids.index(second["job_id"]) < ids.index(first["job_id"])
    assert jobs["total"] >= 2
    only_ch = client.get("/jobs", params={"engine": "clickhouse"}).json()["jobs"]
    assert only_ch and all(job["engine"] == "clickhouse" for job in only_ch)
    failed = client.get("/jobs", params={"status": "failed"}).json()["jobs"]
    assert all(job["status"] == "failed" for job in failed)
    found = client.get("/jobs", params={"search": "history-b"}).json()["jobs"]
    assert [job["job_id"] for job in found] == [second["job_id"]]
    assert_error(client.get("/jobs", params={"status": "exploded"}), 422, "VALIDATION_FAILED")
    assert_error(client.get("/jobs", params={"engine": "oracle"}), 400, "ENGINE_NOT_AVAILABLE")


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_cancel_stops_a_running_query_in_the_engine(client, engine):
    job_id = client.post("/queries", json={"sql": LONG_QUERY[engine], "engine": engine}).json()["job_id"]
    # Right after it starts, too: a cancel that lands before the engine has registered the query is sent again.
    wait_for_status(client, job_id, {"running"})
    response = client.delete(f"/jobs/{job_id}")
    assert response.status_code == 200
    # The query runs for minutes unless the engine stops it, so ending at all (and as cancelled) is the proof.
    job = wait_for_status(client, job_id, {"cancelled", "failed", "completed"}, timeout_s=60)
    assert job["status"] == "cancelled"
    assert client.get(f"/jobs/{job_id}/result").json()["status"] == "cancelled"
    # The engine is free again: a new query on it completes.
    assert run_job(client, "SELECT 2", engine=engine)["status"] == "completed"


def test_cancel_of_a_finished_job_is_a_conflict(client):
    job = run_job(client, "SELECT 1")
    assert_error(client.delete(f"/jobs/{job['job_id']}"), 409, "JOB_ALREADY_FINISHED")
    assert_error(client.post(f"/jobs/{job['job_id']}/cancel"), 409, "JOB_ALREADY_FINISHED")


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_time_limit_is_enforced_in_the_engine(client, engine):
    # The query would run for minutes: finishing within run_job's wait at all shows the limit stopped it.
    job = run_job(client, LONG_QUERY[engine], engine=engine, max_execution_time=1)
    assert job["status"] == "failed"
    assert "time" in job["error"].lower()


def test_paging_through_a_result(client):
    job = run_job(client, "SELECT i FROM range(2500) t(i) ORDER BY i")
    pages, offset = [], 0
    while offset is not None:
        page = client.get(f"/jobs/{job['job_id']}/result", params={"offset": offset, "limit": 1000}).json()
        pages.append(page)
        offset = page["next_offset"]
    assert [len(p["rows"]) for p in pages] == [1000, 1000, 500]
    assert [row[0] for p in pages for row in p["rows"]] == list(range(2500))
    assert pages[0]["total_rows"] == 2500


def test_page_beyond_the_end_and_oversized_limit(client):
    job = run_job(client, "SELECT 1")
    body = assert_error(client.get(f"/jobs/{job['job_id']}/result", params={"offset": 5}), 422,
                        "VALIDATION_FAILED")
    assert "beyond the end" in body["detail"]
    assert_error(client.get(f"/jobs/{job['job_id']}/result", params={"limit": 10_001}), 422, "VALIDATION_FAILED")
    assert_error(client.get(f"/jobs/{job['job_id']}/result", params={"format": "xls"}), 422, "VALIDATION_FAILED")


def test_result_of_running_job_is_202(client):
    job_id = client.post("/queries", json={"sql": LONG_QUERY["duckdb"]}).json()["job_id"]
    response = client.get(f"/jobs/{job_id}/result")
    assert response.status_code == 202
    assert response.json()["status"] in ("queued", "running")
    client.delete(f"/jobs/{job_id}")


def test_json_values_follow_the_contract(client):
    sql = ("SELECT 9007199254740993::BIGINT AS big, 18446744073709551615::UBIGINT AS u64, 1.5::DECIMAL(10,2) AS d, "
           "TIMESTAMPTZ '2024-01-02 03:04:05+00' AS ts, DATE '2024-01-02' AS day, '\\x0A'::BLOB AS b, "
           "{'a': 1, 'b': [1, 2]} AS s, MAP {'k': 1} AS m")
    job = run_job(client, sql)
    assert job["status"] == "completed", job["error"]
    row = client.get(f"/jobs/{job['job_id']}/result").json()["rows"][0]
    assert row[0] == "9007199254740993" and row[1] == "18446744073709551615" and row[2] == "1.50"
    assert row[3].startswith("2024-01-02T03:04:05") and row[4] == "2024-01-02"
    assert row[5] == "Cg==" and row[6] == {"a": 1, "b": [1, 2]} and row[7] == {"k": 1}


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_exports_stream_the_whole_result(client, engine):
    job = run_job(client, "SELECT * FROM nyc_taxi", engine=engine)
    url = f"/jobs/{job['job_id']}/result"
    csv_response = client.get(url, params={"format": "csv"})
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_response.headers["content-disposition"]
    assert len(list(csv.reader(io.StringIO(csv_response.text)))) == 50_000 + 1
    lines = client.get(url, params={"format": "ndjson"}).text.splitlines()
    assert len(lines) == 50_000 and "fare_amount" in json.loads(lines[0])
    assert pq.read_table(io.BytesIO(client.get(url, params={"format": "parquet"}).content)).num_rows == 50_000
    arrow = client.get(url, params={"format": "arrow"}).content
    assert _read_arrow(arrow).num_rows == 50_000


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_an_xlsx_export_opens_in_a_spreadsheet_reader(client, engine):
    job = run_job(client, "SELECT VendorID, fare_amount, tpep_pickup_datetime FROM nyc_taxi LIMIT 1000", engine=engine)
    response = client.get(f"/jobs/{job['job_id']}/result", params={"format": "xlsx"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert f'filename="{job["job_id"]}.xlsx"' in response.headers["content-disposition"]
    rows = list(openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)["result"]
                .iter_rows(values_only=True))
    assert rows[0] == ("VendorID", "fare_amount", "tpep_pickup_datetime") and len(rows) == 1001
    first = client.get(f"/jobs/{job['job_id']}/result", params={"limit": 1}).json()["rows"][0]
    assert rows[1][0] == int(first[0]) and rows[1][1] == pytest.approx(float(first[1]))
    assert isinstance(rows[1][2], datetime.datetime)


def _read_arrow(data: bytes) -> pa.Table:
    try:
        return pa.ipc.open_stream(data).read_all()
    except pa.ArrowInvalid:
        return pa.ipc.open_file(data).read_all()


def test_ten_million_row_result_is_streamed_to_disk(client, core):
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    job = run_job(client, "SELECT i, i * 2 AS j FROM range(10000000) t(i)")
    assert job["status"] == "completed" and job["rows_returned"] == 10_000_000
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    # 10M rows x 2 int64 = 160 MB of data; streaming keeps the peak well below that.
    assert grown_mb < 120, f"peak RSS grew by {grown_mb:.0f} MB"
    page = client.get(f"/jobs/{job['job_id']}/result", params={"offset": 9_999_999, "limit": 10}).json()
    assert page["rows"] == [[9_999_999, 19_999_998]] and page["next_offset"] is None


def test_expired_result_says_so_and_the_job_stays_in_history(client, core):
    job = run_job(client, "SELECT 1 AS one")
    core.results.delete(job["job_id"])
    body = assert_error(client.get(f"/jobs/{job['job_id']}/result"), 410, "RESULT_EXPIRED")
    assert job["job_id"] in body["detail"]
    assert client.get(f"/jobs/{job['job_id']}").json()["status"] == "completed"


# -- bounds and damaged state: clear answers, never a 500 ---------------------------------------------------------


@pytest.mark.parametrize("params", [
    {"offset": 9223372036854775808}, {"offset": 1_000_000_001}, {"offset": -1}, {"limit": 0}, {"limit": 1001},
])
def test_history_paging_is_bounded(client, params):
    body = assert_error(client.get("/jobs", params=params), 422, "VALIDATION_FAILED")
    assert next(iter(params)) in body["detail"]


def test_core_history_paging_is_bounded(core):
    from bqlite_app.access.principal import LOCAL
    from bqlite_app.errors import ValidationFailed

    for bad in ({"offset": 2**63}, {"limit": 10**6}):
        with pytest.raises(ValidationFailed):
            core.queries.list(user=LOCAL, **bad)


@pytest.mark.parametrize("params", [{"offset": 9223372036854775808}, {"offset": 2**53}, {"limit": 2**63}])
def test_result_paging_is_bounded(client, params):
    job = run_job(client, "SELECT 1")
    body = assert_error(client.get(f"/jobs/{job['job_id']}/result", params=params), 422, "VALIDATION_FAILED")
    assert next(iter(params)) in body["detail"]


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
@pytest.mark.parametrize("sql,says", [("SELEC 1", "syntax"), ("SELECT * FROM no_such_table_for_plan", "no_such_table")])
def test_plan_of_sql_the_engine_rejects_says_why(client, engine, sql, says):
    job = run_job(client, sql, engine=engine)
    assert job["status"] == "failed"
    body = assert_error(client.get(f"/jobs/{job['job_id']}/plan"), 422, "VALIDATION_FAILED")
    assert job["job_id"] in body["detail"] and says.lower() in body["detail"].lower()


def test_plan_of_a_good_job(client):
    job = run_job(client, "SELECT count(*) FROM nyc_taxi")
    plan = client.get(f"/jobs/{job['job_id']}/plan").json()
    assert plan["job_id"] == job["job_id"] and plan["plan"]


def test_a_damaged_result_file_is_gone_not_an_internal_error(client, core):
    # Over the in-memory cache's entry size, so every read goes to the file.
    job = run_job(client, "SELECT i FROM range(2000000) t(i)")
    url = f"/jobs/{job['job_id']}/result"
    assert client.get(url, params={"limit": 1}).status_code == 200
    path = core.results.path(job["job_id"])
    data = path.read_bytes()
    footer_size = struct.unpack("<i", data[-10:-6])[0]
    # Half the batches gone, the footer kept: it now points past the end ("Invalid Block in IPC file footer").
    path.write_bytes(data[: len(data) // 2] + data[-(10 + footer_size):])
    for params in ({"offset": 1_999_990}, {"format": "csv"}):
        body = assert_error(client.get(url, params=params), 410, "RESULT_EXPIRED")
        assert "unreadable" in body["detail"] and "Traceback" not in body["detail"]
    assert client.get(f"/jobs/{job['job_id']}").json()["status"] == "completed"
