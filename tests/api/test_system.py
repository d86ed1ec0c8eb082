"""System routes: identity, health, status, examples, metrics, docs."""

from datetime import datetime

import pytest

from tests.conftest import SERVER_MODE, run_job


def test_root_identifies_the_service(client):
    body = client.get("/").json()
    assert body["service"] == "BigQuery-Lite"
    assert body["status"] == "ok"
    assert body["engines"] == ["duckdb", "clickhouse"]
    assert body["docs"] == "/docs"


def test_health_reports_each_engine(client):
    body = client.get("/health").json()
    assert body["status"] == "healthy"
    assert body["engines"] == {"duckdb": True, "clickhouse": True}
    assert datetime.fromisoformat(body["timestamp"]).utcoffset() is not None


def test_status_counts_slots_and_engines(client):
    body = client.get("/status").json()
    assert body["total_slots"] == 10
    assert 0 <= body["available_slots"] <= 10
    for key in ("queued_jobs", "running_jobs", "completed_jobs", "failed_jobs"):
        assert isinstance(body[key], int)
    assert body["engines"]["duckdb"]["mode"] == "embedded"
    assert body["engines"]["duckdb"]["label"] == "DuckDB (embedded)"
    clickhouse = body["engines"]["clickhouse"]
    assert clickhouse["version"].split(".")[0].isdigit()
    if SERVER_MODE:
        assert clickhouse["mode"] == "server"
        assert clickhouse["label"] == f"ClickHouse (server {clickhouse['address']})"
        assert clickhouse["address"].rsplit(":", 1)[1].isdigit()
    else:
        assert (clickhouse["mode"], clickhouse["address"], clickhouse["label"]) == (
            "embedded", None, "ClickHouse (embedded)")
    assert body["uptime_s"] >= 0


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_every_example_runs_on_its_engine(client, engine):
    examples = [e for e in client.get("/examples").json()["examples"] if e["engine"] == engine]
    assert 6 <= len(examples) <= 10
    for example in examples:
        job = run_job(client, example["sql"], engine=engine)
        assert job["status"] == "completed", (example["title"], job["error"])
        assert job["rows_returned"] > 0, example["title"]


def test_metrics_in_prometheus_text_format(client):
    run_job(client, "SELECT 42")
    text = client.get("/metrics")
    assert text.headers["content-type"].startswith("text/plain")
    body = text.text
    assert 'bqlite_jobs_total{engine="duckdb",status="completed"}' in body
    assert "bqlite_query_duration_seconds_bucket" in body
    assert "bqlite_queue_depth" in body
    assert 'bqlite_http_requests_total{method="POST",route="/queries",status="200"}' in body
    assert "process_resident_memory_bytes" in body
    assert "process_cpu_seconds_total" in body


def test_docs_are_served_from_local_assets(client):
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "cdn" not in html.lower() and "https://" not in html.split("<body")[1]
    assert client.get("/_docs_assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/_docs_assets/redoc.standalone.js").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/queries", "/jobs", "/jobs/{job_id}", "/jobs/{job_id}/result"} <= set(spec["paths"])


def test_every_response_carries_a_request_id(client):
    assert len(client.get("/").headers["x-request-id"]) >= 8
    assert client.get("/", headers={"x-request-id": "abc-123"}).headers["x-request-id"] == "abc-123"
