"""Server mode's connections, against a test server of their own (stopped and restarted mid-test): /health degrades
and recovers with the server while DuckDB keeps serving, a server down at start is not fatal, only reads are
retried, HTTPS checks the server's certificate, and the password never reaches a log, an error or the status."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from fastapi.testclient import TestClient

from bqlite_app.api import create_api
from bqlite_app.core import Core
from bqlite_app.settings import Settings
from engines._ch_server import ServerAddress, retrying
from engines.clickhouse_engine import ClickHouseEngine
from engines.errors import EngineUnavailable
from tests.conftest import run_job
from tests.support.certificates import make_certificates
from tests.support.ch_test_server_process import TestServerProcess

SECRET = "pw-7f3a-never-logged"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TestServerProcess]:
    with TestServerProcess(tmp_path / "clickhouse") as running:
        yield running


def _engine(server: TestServerProcess) -> ClickHouseEngine:
    return ClickHouseEngine.server(ServerAddress(host=server.host, port=server.port, password=SECRET), capacity=2)


@pytest.fixture
def api(tmp_path: Path, server: TestServerProcess, duckdb_engine: Any) -> Iterator[TestClient]:
    """The API over the session's DuckDB and a ClickHouse engine on this test's own server."""
    clickhouse = _engine(server)
    clickhouse.start()
    core = Core(Settings(data_dir=tmp_path / "data", sample_rows=0, result_cleanup_interval_s=3600),
                engines={"duckdb": duckdb_engine, "clickhouse": clickhouse})
    core.start()
    try:
        with TestClient(create_api(core), raise_server_exceptions=False) as client:
            yield client
    finally:
        core.stop()
        clickhouse.close()


def _probe_now(api: TestClient) -> None:
    """/health answers from a background probe at most about a second old: wait for a round begun after the change."""
    api.app.state.core.engine_health(fresh=True)


def test_health_degrades_while_the_server_is_down_and_recovers(api: TestClient, server: TestServerProcess) -> None:
    assert api.get("/health").json()["engines"] == {"duckdb": True, "clickhouse": True}
    assert run_job(api, "SELECT 42 AS answer", engine="clickhouse")["status"] == "completed"

    server.stop()
    _probe_now(api)
    health = api.get("/health").json()
    assert (health["status"], health["engines"]) == ("degraded", {"duckdb": True, "clickhouse": False})
    assert run_job(api, "SELECT 42 AS answer", engine="duckdb")["status"] == "completed"
    # A text the sandbox has judged before is accepted, and its job fails saying why.
    failed = run_job(api, "SELECT 42 AS answer", engine="clickhouse")
    assert failed["status"] == "failed"
    assert failed["error"] == f"ClickHouse is unreachable: Connection refused ({server.host}:{server.port})"
    # A new text cannot be judged without the server: refused as unavailable, worth retrying.
    refused = api.post("/queries", json={"sql": "SELECT 43 AS answer", "engine": "clickhouse"})
    assert refused.status_code == 503, refused.text
    assert refused.json()["error_code"] == "ENGINE_UNAVAILABLE" and refused.headers["Retry-After"]
    status = api.get("/status")
    assert status.status_code == 200
    assert status.json()["engines"]["clickhouse"]["available"] is False

    server.restart()
    _probe_now(api)
    health = api.get("/health").json()
    assert (health["status"], health["engines"]) == ("healthy", {"duckdb": True, "clickhouse": True})
    assert run_job(api, "SELECT 42 AS answer", engine="clickhouse")["status"] == "completed"


def test_a_server_down_at_start_is_connected_once_it_is_up(server: TestServerProcess) -> None:
    server.stop()
    engine = _engine(server)
    engine.start()                                  # not fatal: the app and DuckDB must still come up
    try:
        assert engine.health() is False
        assert engine.info().version == "unknown"
        with pytest.raises(EngineUnavailable):
            list(engine.execute("SELECT 1", query_tag="down-at-start"))

        server.restart()
        assert engine.health() is True
        assert engine.info().version.split(".")[0].isdigit()
        batches = list(engine.execute("SELECT 41 + 1 AS answer", query_tag="up-again"))
        assert [b.to_pylist() for b in batches if b.num_rows] == [[{"answer": 42}]]
    finally:
        engine.close()


def test_the_password_stays_out_of_logs_errors_and_status(
    server: TestServerProcess, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = _engine(server)
    engine.start()
    seen: list[str] = [repr(engine.address), json.dumps(engine.info().__dict__)]
    try:
        with pytest.raises(Exception) as bad_query:
            list(engine.execute("SELECT no_such_column FROM system.one", query_tag="bad"))
        seen.append(str(bad_query.value))
        server.stop()
        assert engine.health() is False
        with pytest.raises(EngineUnavailable) as unreachable:
            list(engine.execute("SELECT 1", query_tag="unreachable"))
        seen.append(str(unreachable.value))
        server.restart()
    finally:
        engine.close()
    settings = Settings(CLICKHOUSE_HOST="127.0.0.1", CLICKHOUSE_PASSWORD=SECRET)
    seen += [repr(settings), str(settings.model_dump())]
    for text in [*seen, caplog.text]:
        assert SECRET not in text


def test_only_reads_that_lost_their_connection_are_tried_again() -> None:
    calls: list[int] = []

    def flaky_read() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("Error executing HTTP request")     # no server code: the connection dropped
        return "rows"

    assert retrying(flaky_read, attempts=3) == "rows"
    assert len(calls) == 3

    calls.clear()
    with pytest.raises(OperationalError):
        retrying(flaky_read, attempts=2)                               # gives up after its attempts
    assert len(calls) == 2

    def refused_by_the_server() -> str:
        calls.append(1)
        raise DatabaseError("Code: 60. DB::Exception: Unknown table", code=60)

    calls.clear()
    with pytest.raises(DatabaseError):
        retrying(refused_by_the_server, attempts=3)                    # the server answered: no retry
    assert len(calls) == 1


def test_https_with_the_servers_ca_file_and_a_refused_unknown_certificate(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path / "tls")
    with TestServerProcess(tmp_path / "clickhouse", tls=(certificates.cert_file, certificates.key_file)) as server:
        trusted = ClickHouseEngine.server(ServerAddress(host=server.host, port=server.port, secure=True,
                                                        ca_file=certificates.ca_file), capacity=1)
        trusted.start()
        try:
            assert trusted.health() is True
            batches = list(trusted.execute("SELECT 'over tls' AS via", query_tag="tls"))
            assert [b.to_pylist() for b in batches if b.num_rows] == [[{"via": "over tls"}]]
        finally:
            trusted.close()

        # Without the CA the certificate is unknown: never accepted, and the engine says it is unavailable.
        untrusting = ClickHouseEngine.server(ServerAddress(host=server.host, port=server.port, secure=True),
                                             capacity=1)
        untrusting.start()
        try:
            assert untrusting.health() is False
            with pytest.raises(EngineUnavailable, match="(?i)certificate"):
                list(untrusting.execute("SELECT 1", query_tag="untrusted"))
        finally:
            untrusting.close()
