"""POST /queries: jobs, dry runs and bad input."""

import contextlib
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

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


# -- wait_ms: one round trip ------------------------------------------------------------------------------------

LONG = "SELECT sum(hash(i)) FROM range(100000000000) t(i)"


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_wait_ms_answers_the_first_page_of_a_job_that_ended_within_it(client, engine):
    answer = client.post("/queries", json={"sql": "SELECT 7 AS n, 'seven' AS s", "engine": engine,
                                           "wait_ms": 60_000})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["job_id"] and body["status"] == "completed" and body["message"]
    assert "estimated_completion_time" in body
    assert body["result"]["rows"] == [[7, "seven"]]
    assert body["result"] == client.get(f"/jobs/{body['job_id']}/result").json()


def test_wait_ms_with_max_rows_sizes_the_page(client):
    sql = "SELECT i FROM range(25) t(i) ORDER BY i"
    body = client.post("/queries", json={"sql": sql, "wait_ms": 60_000, "max_rows": 10}).json()
    page = body["result"]
    assert page["rows"] == [[i] for i in range(10)]
    assert page["total_rows"] == 25 and page["next_offset"] == 10
    assert page == client.get(f"/jobs/{body['job_id']}/result", params={"limit": 10}).json()


def test_wait_ms_of_a_failed_job_answers_its_error(client):
    body = client.post("/queries", json={"sql": "SELECT * FROM no_such_table_wait", "wait_ms": 60_000}).json()
    assert body["status"] == "failed"
    assert body["result"] == {"job_id": body["job_id"], "status": "failed",
                              "error": client.get(f"/jobs/{body['job_id']}").json()["error"]}
    assert "no_such_table_wait" in body["result"]["error"]


def test_a_job_still_running_when_wait_ms_is_up_answers_without_a_result(client):
    body = client.post("/queries", json={"sql": LONG, "wait_ms": 1}).json()
    try:
        assert body["job_id"] and body["status"] in ("queued", "running")
        assert "result" not in body
    finally:
        client.delete(f"/jobs/{body['job_id']}")
    assert client.get(f"/jobs/{body['job_id']}/result", params={"timeout_ms": 60_000}).json()["status"] == "cancelled"


def test_without_wait_ms_the_answer_has_no_result(client):
    body = client.post("/queries", json={"sql": "SELECT 1"}).json()
    assert "result" not in body
    run_job(client, "SELECT 1")


def test_wait_ms_is_ignored_by_a_dry_run(client):
    body = client.post("/queries", json={"sql": "SELECT 1", "dry_run": True, "wait_ms": 5_000}).json()
    assert body["dry_run"] is True and body["valid"] is True and body["job_id"] is None
    assert "result" not in body


@pytest.mark.parametrize("field,value", [
    ("wait_ms", -1), ("wait_ms", 60_001), ("wait_ms", "soon"), ("max_rows", 0), ("max_rows", 10_001),
])
def test_wait_ms_and_max_rows_out_of_range(client, field, value):
    before = client.get("/jobs").json()["total"]
    body = assert_error(client.post("/queries", json={"sql": "SELECT 1", field: value}), 422, "VALIDATION_FAILED")
    assert field in body["detail"]
    assert client.get("/jobs").json()["total"] == before


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


# -- labels ----------------------------------------------------------------------------------------------------


def post_raw(client, body: bytes):
    # Raw bytes: a JSON "\udfff" escape decodes to a lone surrogate, which no Python client would encode for us.
    return client.post("/queries", content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize("labels", [
    {f"k{i}": "v" for i in range(65)},
    {"Team": "x"}, {"1team": "x"}, {"team.name": "x"}, {"a" * 64: "x"}, {"": "x"},
    {"team": "x" * 1025},
    {"team": 5},
])
def test_labels_outside_the_limits_are_refused(client, labels):
    body = assert_error(client.post("/queries", json={"sql": "SELECT 1", "labels": labels}), 422, "VALIDATION_FAILED")
    assert "label" in body["detail"]


@pytest.mark.parametrize("raw", [
    b'{"sql": "SELECT 1", "labels": {"team": "\\udfff"}}',
    b'{"sql": "SELECT 1", "labels": {"\\udfff": "x"}}',
    b'{"sql": "SELECT 1", "labels": {"team": "ok \\ud83d"}}',
])
def test_labels_that_are_not_valid_unicode_are_refused_and_the_history_still_lists(client, raw):
    before = client.get("/jobs").json()["total"]
    body = assert_error(post_raw(client, raw), 422, "VALIDATION_FAILED")
    assert "label" in body["detail"]
    listed = client.get("/jobs")
    assert listed.status_code == 200 and listed.json()["total"] == before


def test_labels_at_the_limits_are_kept(client):
    labels = {f"k{i:02d}": "v" for i in range(63)} | {"k" + "x" * 62: "é😀" + "v" * 1022}
    job = run_job(client, "SELECT 1", labels=labels)
    assert job["status"] == "completed" and job["labels"] == labels


def test_the_core_checks_labels_for_every_face(core):
    from bqlite_app.access.principal import LOCAL
    from bqlite_app.errors import ValidationFailed
    from bqlite_app.jobs.service import QuerySpec

    for labels in ({"team": "\udfff"}, {"Team": "x"}, {f"k{i}": "" for i in range(65)}):
        with pytest.raises(ValidationFailed, match="label"):
            core.queries.submit(QuerySpec(sql="SELECT 1", labels=labels), user=LOCAL)


def test_a_bad_label_already_in_the_history_does_not_break_the_listing(client, core):
    from bqlite_app.jobs.models import Job, JobStatus

    # As written before labels were checked: straight into the store.
    core.store.add(Job(sql="SELECT 'legacy-bad-label'",
                       max_execution_time=300, engine="duckdb", status=JobStatus.FAILED,
                       labels={"team": "x\udfffy"}))
    listed = client.get("/jobs", params={"search": "legacy-bad-label"})
    assert listed.status_code == 200
    assert listed.json()["jobs"][0]["labels"] == {"team": "x\ufffdy"}


# -- a locked job database -------------------------------------------------------------------------------------


def test_a_locked_job_database_answers_503_and_the_api_keeps_serving(client, core, monkeypatch):
    before = client.get("/jobs").json()["total"]
    in_store, others_answered = threading.Event(), threading.Event()
    real_add = core.store.add

    def add_once_others_answered(job):
        # Parks the submit inside the store until the other requests have answered. Were the write on the event
        # loop, they could never answer: that ordering, not a duration, is what this test checks.
        in_store.set()
        others_answered.wait(60)
        return real_add(job)

    monkeypatch.setattr(core.store, "add", add_once_others_answered)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_exclusive_lock(core))
        pool = stack.enter_context(ThreadPoolExecutor(1))
        submitted = pool.submit(client.post, "/queries", json={"sql": "SELECT 'while-locked'"})
        assert in_store.wait(60)
        assert client.get("/health").status_code == 200
        assert client.get("/").status_code == 200
        assert client.get("/jobs", params={"limit": 1}).status_code == 200   # reads go on (WAL)
        assert not submitted.done()
        others_answered.set()
        response = submitted.result(120)
    body = assert_error(response, 503, "DATABASE_BUSY")
    assert "locked" in body["detail"] and int(response.headers["Retry-After"]) >= 1
    monkeypatch.undo()
    assert client.get("/jobs").json()["total"] == before    # no job was half-created
    assert run_job(client, "SELECT 'after-the-lock'")["status"] == "completed"


@contextlib.contextmanager
def _exclusive_lock(core):
    holder = sqlite3.connect(core.settings.db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()
