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


class _FlakyEngine:
    """An engine stand-in whose health the test sets, counting the probes it answers."""

    name = "flaky"

    def __init__(self) -> None:
        self.up = True
        self.probes = 0

    def health(self) -> bool:
        self.probes += 1
        if self.up is None:
            raise RuntimeError("probe crashed")
        return self.up


def test_health_is_read_from_the_background_probe_and_refreshed_on_request():
    from bqlite_app.health import HealthProbe

    engine = _FlakyEngine()
    probe = HealthProbe({"flaky": engine}, interval_s=3600)  # no timed round during the test: only asked-for ones
    probe.start()
    try:
        assert probe.current() == {"flaky": True}
        probes = engine.probes
        for _ in range(50):
            assert probe.current() == {"flaky": True}
        assert engine.probes == probes                          # reading the answer costs no probe

        engine.up = False
        assert probe.refresh() == {"flaky": False}              # a round begun after the change
        assert probe.current() == {"flaky": False}
        engine.up = None
        assert probe.refresh() == {"flaky": False}              # a probe that raises reads as down
        engine.up = True
        assert probe.refresh() == {"flaky": True}
    finally:
        probe.stop()
    assert probe.current() == {"flaky": True}                   # stopped: asks the engine directly


def test_health_and_status_agree_with_a_fresh_probe(client, core):
    assert core.engine_health(fresh=True) == {"duckdb": True, "clickhouse": True}
    assert client.get("/health").json()["engines"] == {"duckdb": True, "clickhouse": True}
    assert {name: e["available"] for name, e in client.get("/status").json()["engines"].items()} == {
        "duckdb": True, "clickhouse": True}
