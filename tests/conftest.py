"""Shared fixtures.

chdb allows one data path per process, so every test in a pytest process shares one session data dir and one pair
of engines. Tests that need isolation use their own database/schema names or tables.

ClickHouse runs embedded (chdb) unless ``BQLITE_TEST_CLICKHOUSE=server``: then it is the server at
``CLICKHOUSE_HOST``/``CLICKHOUSE_PORT`` when set, else the chdb-backed test server (tests/support) started for the
session. ``make test`` runs the ClickHouse suites both ways.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from engines.base import Engine

# A runner started in the background of a non-interactive shell inherits SIGINT as ignored; Python then installs no
# handler, and every process a test starts inherits the ignore too. The Ctrl+C tests (the CLI, `make run`'s
# supervisor) need it delivered as on a terminal, however the suite was launched.
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bqlite-data")


@pytest.fixture(scope="session")
def duckdb_engine(data_dir: Path) -> Iterator[Engine]:
    from engines.duckdb_engine import DuckDBEngine

    engine = DuckDBEngine(data_dir / "warehouse.duckdb", capacity=4, memory_limit="4GB")
    engine.start()
    yield engine
    engine.close()


T = TypeVar("T")
SERVER_MODE = os.environ.get("BQLITE_TEST_CLICKHOUSE", "embedded") == "server"
# For tests of what only embedded chdb does (its native Protobuf decode reads a local file).
embedded_only = pytest.mark.skipif(SERVER_MODE, reason="embedded ClickHouse (chdb) only")


@pytest.fixture(scope="session")
def clickhouse_address(data_dir: Path) -> Iterator[Any]:
    """Where the ClickHouse server is in server mode (None when embedded)."""
    if not SERVER_MODE:
        yield None
        return
    from engines._ch_server import ServerAddress

    if os.environ.get("CLICKHOUSE_HOST"):
        yield ServerAddress(host=os.environ["CLICKHOUSE_HOST"], port=int(os.environ.get("CLICKHOUSE_PORT", "8123")),
                            user=os.environ.get("CLICKHOUSE_USER", "default"),
                            password=os.environ.get("CLICKHOUSE_PASSWORD", ""))
        return
    from tests.support.ch_test_server_process import TestServerProcess

    with TestServerProcess(data_dir / "ch-test-server") as server:
        yield ServerAddress(host=server.host, port=server.port)


@pytest.fixture(scope="session")
def clickhouse_engine(data_dir: Path, clickhouse_address: Any) -> Iterator[Engine]:
    from engines.clickhouse_engine import ClickHouseEngine

    if clickhouse_address is not None:
        engine = ClickHouseEngine.server(clickhouse_address, capacity=2, memory_limit="4GB")
    else:
        engine = ClickHouseEngine.embedded(data_dir / "chdb", capacity=2, memory_limit="4GB")
    engine.start()
    yield engine
    engine.close()


@pytest.fixture(params=["duckdb", "clickhouse"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Every engine, for the conformance suite."""
    return request.getfixturevalue(f"{request.param}_engine")


# The whole suite shares one sample table per engine; every fixture that loads it must use this size.
SAMPLE_ROWS = 50_000


@pytest.fixture(scope="session")
def settings(data_dir: Path):
    from bqlite_app.settings import Settings

    return Settings(
        data_dir=data_dir, sample_rows=SAMPLE_ROWS, max_concurrent_jobs=4, total_slots=10,
        query_memory_limit="4GB", result_cleanup_interval_s=3600,
    )


@pytest.fixture(scope="session")
def core(settings, duckdb_engine: Engine, clickhouse_engine: Engine):
    from bqlite_app.core import Core

    core = Core(settings, engines={"duckdb": duckdb_engine, "clickhouse": clickhouse_engine})
    core.start()
    yield core
    core.stop()


@pytest.fixture(scope="session")
def client(core):
    """The in-process API client every API test uses (no server)."""
    from fastapi.testclient import TestClient

    from bqlite_app.api import create_api

    with TestClient(create_api(core), raise_server_exceptions=False) as test_client:
        yield test_client


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own: the browser tests' Playwright keeps an event loop running in the main
    thread for the rest of the session, and ``asyncio.run`` refuses to start under a running loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def run_job(client, sql: str, engine: str = "duckdb", **fields) -> dict:
    """Submit SQL and wait for the job to finish; returns the final job."""
    answer = client.post("/queries", json={"sql": sql, "engine": engine, **fields})
    assert answer.status_code == 200, answer.text
    job_id = answer.json()["job_id"]
    client.get(f"/jobs/{job_id}/result", params={"timeout_ms": 60_000, "limit": 1})
    return client.get(f"/jobs/{job_id}").json()
