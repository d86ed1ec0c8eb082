"""GET /jobs/{id}/plan: the EXPLAIN of the job's SQL and the execution graph of its own run, kept with the job."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.api.test_queries import assert_error
from tests.conftest import run_job

JOIN_SQL = ("SELECT p.payment_type, count(*) AS trips, avg(t.fare_amount) AS fare FROM nyc_taxi t "
            "JOIN (SELECT DISTINCT payment_type FROM nyc_taxi) p ON t.payment_type = p.payment_type "
            "GROUP BY p.payment_type ORDER BY trips DESC")


def plan_of(client, job_id: str, *, wait_s: float = 60.0) -> dict:
    """The plan answer, asked again while the engine has not logged the run yet (ClickHouse logs in the
    background)."""
    deadline = time.monotonic() + wait_s
    while True:
        answer = client.get(f"/jobs/{job_id}/plan")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if body["execution_graph"]["status"] != "pending" or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


def walk(node: dict, depth: int = 0):
    yield depth, node
    for child in node["children"]:
        yield from walk(child, depth + 1)


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_the_plan_of_a_join_carries_the_graph_of_its_run(client, core, engine):
    job = run_job(client, JOIN_SQL, engine=engine)
    assert job["status"] == "completed"
    body = plan_of(client, job["job_id"])
    assert body["job_id"] == job["job_id"] and body["engine"] == engine and body["plan"]
    graph = body["execution_graph"]
    assert graph["status"] == "available" and graph["note"] is None
    assert graph["source"] == {"duckdb": "duckdb_profile", "clickhouse": "clickhouse_processors_profile_log"}[engine]
    nodes = [node for _, node in walk(graph["root"])]
    assert graph["operator_count"] == len(nodes) and graph["truncated"] is False
    for node in nodes:
        assert set(node) == {"name", "detail", "time_ms", "rows", "share", "slow", "children"}
        assert node["slow"] == (node["share"] >= 0.25)
    assert sum(node["share"] for node in nodes) == pytest.approx(1.0, abs=0.01)
    assert any("JOIN" in node["name"].upper() for node in nodes)
    assert max(node["rows"] or 0 for node in nodes) >= 50_000          # the scan of the whole sample table
    # Kept with the job: the stored graph is the one answered, and asking again answers the same.
    stored = core.store.get(job["job_id"]).execution_graph
    assert stored and "profile_ref" not in json.loads(stored)
    assert json.loads(stored)["root"] == graph["root"]
    assert plan_of(client, job["job_id"])["execution_graph"] == graph


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_a_query_without_a_table_has_no_graph_and_says_why(client, engine):
    job = run_job(client, "SELECT 1 AS one", engine=engine)
    body = plan_of(client, job["job_id"])
    assert body["plan"]
    graph = body["execution_graph"]
    assert graph == {"status": "none", "note": graph["note"]} and "read no table" in graph["note"]


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_a_failed_job_has_no_graph(client, engine):
    job = run_job(client, "SELECT * FROM no_such_table_for_graph", engine=engine)
    assert job["status"] == "failed"
    assert_error(client.get(f"/jobs/{job['job_id']}/plan"), 422, "VALIDATION_FAILED")


def test_the_graph_outlives_its_table(client):
    """EXPLAIN needs the table; the graph of the run does not: the answer keeps the graph and says why no plan."""
    table = f"plan_gone_{uuid.uuid4().hex[:8]}"
    assert run_job(client, f"CREATE TABLE {table} AS SELECT range AS k FROM range(1000)")["status"] == "completed"
    job = run_job(client, f"SELECT a.k, count(*) FROM {table} a JOIN {table} b ON a.k = b.k GROUP BY a.k")
    assert run_job(client, f"DROP TABLE {table}")["status"] == "completed"
    body = plan_of(client, job["job_id"])
    assert body["plan"] is None and table in body["plan_error"]
    assert body["execution_graph"]["status"] == "available"


def test_someone_elses_job_has_no_plan(client):
    assert_error(client.get("/jobs/job_does_not_exist_0000/plan"), 404, "JOB_NOT_FOUND")
