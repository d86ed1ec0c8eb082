"""The CLI against the real app: one backend started as `make run` starts it, shared by every CLI test.

Most tests run commands in-process (typer's CliRunner: fast, with stdout and stderr apart); tests about the
process itself (memory, Ctrl+C, startup imports) run the installed `bqlite` script.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from bench.server import running_backend

BQLITE = Path(sys.executable).parent / "bqlite"
# Small enough that a test can cross it with a sparse file; large enough for every other ingest here.
INGEST_LIMIT = 64 * 1024**2

Bqlite = Callable[..., Result]


@pytest.fixture(scope="session")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_backend(tmp_path_factory.mktemp("cli-backend"), sample_rows=5_000,
                         extra_env={"BQLITE_MAX_INGEST_BYTES": str(INGEST_LIMIT)}) as url:
        yield url


# The auth-on backend's first admin (tests/cli/test_access_live.py).
ADMIN_PASSWORD = "cli-admin-password-1"


@pytest.fixture(scope="session")
def auth_api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second backend with BQLITE_AUTH=on, its own data dir and port; its first admin is `admin`."""
    with running_backend(tmp_path_factory.mktemp("cli-auth-backend"), sample_rows=1_000,
                         extra_env={"BQLITE_AUTH": "on", "BQLITE_ADMIN_USER": "admin",
                                    "BQLITE_ADMIN_PASSWORD": ADMIN_PASSWORD}) as url:
        yield url


@pytest.fixture(scope="session")
def api(api_url: str) -> Iterator[httpx.Client]:
    """The REST API directly, to check what the CLI says against what the server holds."""
    with httpx.Client(base_url=api_url, timeout=60) as client:
        yield client


@pytest.fixture
def bqlite(api_url: str, tmp_path_factory: pytest.TempPathFactory) -> Bqlite:
    """Run `bqlite ARGS...` in-process against the live backend (BQLITE_API_URL, as a user would set it), with
    no stored login or BQLITE_TOKEN from the machine's user."""
    from bqlite_app.cli.main import app

    isolated = {"BQLITE_API_URL": api_url, "BQLITE_TOKEN": None,
                "XDG_CONFIG_HOME": str(tmp_path_factory.getbasetemp() / "cli-config")}

    def run(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(app, list(args), input=input, env={**isolated, **(env or {})},
                             catch_exceptions=False)

    return run


def submit(api: httpx.Client, sql: str, **fields) -> str:
    answer = api.post("/queries", json={"sql": sql, **fields})
    assert answer.status_code == 200, answer.text
    return answer.json()["job_id"]


def wait_done(api: httpx.Client, job_id: str) -> dict:
    assert api.get(f"/jobs/{job_id}/result", params={"timeout_ms": 60_000, "limit": 1}).status_code == 200
    return api.get(f"/jobs/{job_id}").json()
