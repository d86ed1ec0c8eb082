"""POST /queries: jobs, dry runs and bad input."""

import pytest

from tests.conftest import run_job


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_query_runs_as_a_job_and_returns_rows(client, engine):
    answer = client.post("/queries", json={"sql": "SELECT count(*) AS n FROM nyc_taxi", "engine": engine})
    assert answer.status_code == 200
    body = answer.json()
    assert body["job_id"] and body["status"] in ("queued", "running", "completed")
    assert body["message"]
    assert "estimated_completion_time" in body
    result = client.get(f"/jobs/{body['job_id']}/result", params={"timeout_ms": 30000}).json()
    assert result["status"] == "completed"
    assert result["columns"][0]["name"] == "n"
    assert result["rows"] == [[50_000]]
    assert result["total_rows"] == 1 and result["next_offset"] is None
    assert result["execution_stats"]["engine"] == engine


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_dry_run_estimates_bytes_from_the_plan(client, engine):
    narrow = client.post("/queries", json={"sql": "SELECT sum(fare_amount) FROM nyc_taxi", "engine": engine,
                                           "dry_run": True}).json()
    wide = client.post("/queries", json={"sql": "SELECT * FROM nyc_taxi", "engine": engine,
                                         "dry_run": True}).json()
    assert narrow["dry_run"] is True and narrow["valid"] is True
    assert narrow["job_id"] is None
    assert narrow["estimated_bytes_processed"] > 0
    assert wide["estimated_bytes_processed"] > narrow["estimated_bytes_processed"]
    assert any(t.endswith("nyc_taxi") for t in narrow["referenced_tables"])


def test_dry_run_of_invalid_sql_says_why_and_runs_nothing(client):
    before = client.get("/jobs").json()["total"]
    body = client.post("/queries", json={"sql": "SELEC 1", "dry_run": True}).json()
    assert body["valid"] is False and "SELEC" in body["error"] or "syntax" in body["error"].lower()
    assert client.get("/jobs").json()["total"] == before


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_sql_the_engine_rejects_is_a_failed_job_not_an_http_error(client, engine):
    job = run_job(client, "SELECT * FROM no_such_table_xyz", engine=engine)
    assert job["status"] == "failed"
    assert "no_such_table_xyz" in job["error"]
    result = client.get(f"/jobs/{job['job_id']}/result").json()
    assert result == {"job_id": job["job_id"], "status": "failed", "error": job["error"]}


def test_labels_priority_and_slots_are_kept(client):
    job = run_job(client, "SELECT 1", priority=3, estimated_slots=2, labels={"team": "growth"})
    assert (job["priority"], job["estimated_slots"], job["labels"]) == (3, 2, {"team": "growth"})


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    assert body["detail"] and body["timestamp"]
    return body


def test_unknown_engine(client):
    body = assert_error(client.post("/queries", json={"sql": "SELECT 1", "engine": "oracle"}), 400,
                        "ENGINE_NOT_AVAILABLE")
    assert "oracle" in body["detail"]


@pytest.mark.parametrize("field,value", [
    ("priority", 0), ("priority", 6), ("estimated_slots", 11), ("max_execution_time", 0),
    ("max_execution_time", 86401), ("sql", ""), ("labels", "x"),
])
def test_out_of_range_fields(client, field, value):
    body = assert_error(client.post("/queries", json={"sql": "SELECT 1", field: value}), 422, "VALIDATION_FAILED")
    assert field in body["detail"]


def test_missing_sql_and_unknown_fields(client):
    assert "sql" in assert_error(client.post("/queries", json={}), 422, "VALIDATION_FAILED")["detail"]
    assert_error(client.post("/queries", json={"sql": "SELECT 1", "bogus": 1}), 422, "VALIDATION_FAILED")


def test_malformed_json_body(client):
    response = client.post("/queries", content=b'{"sql": "SELECT 1",', headers={"content-type": "application/json"})
    assert "Malformed JSON" in assert_error(response, 422, "VALIDATION_FAILED")["detail"]


def test_sql_over_one_megabyte_is_refused_before_it_runs(client):
    huge = "SELECT 1 -- " + "x" * 1_000_001
    before = client.get("/jobs").json()["total"]
    body = assert_error(client.post("/queries", json={"sql": huge}), 422, "VALIDATION_FAILED")
    assert "limit" in body["detail"]
    assert client.get("/jobs").json()["total"] == before


def test_unknown_route_uses_the_envelope(client):
    assert_error(client.get("/no/such/route"), 404, "NOT_FOUND")
    assert_error(client.put("/queries", json={}), 405, "METHOD_NOT_ALLOWED")
