"""Ctrl+C at the worst moments: the CLI must still name the job and cancel it, whenever the signal lands.

A fake API (httpx.MockTransport) raises SIGINT from inside a request, so each race is hit every time, in process.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable

import httpx
import pytest
from typer.testing import CliRunner, Result

from bqlite_app.cli.client import ApiClient
from bqlite_app.cli.context import CliContext

JOB_ID = "job-interrupted-1"
RUNNING = {"job_id": JOB_ID, "sql": "SELECT 1", "engine": "duckdb", "status": "running", "progress": None,
           "queue_position": None}

Route = Callable[[httpx.Request], httpx.Response | None]


def _fake_api(monkeypatch: pytest.MonkeyPatch, interrupt_on: tuple[str, str]) -> list[tuple[str, str]]:
    """Serve a job that runs until cancelled; press Ctrl+C during the first ``interrupt_on`` request."""
    seen: list[tuple[str, str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        call = (request.method, request.url.path)
        seen.append(call)
        if call == interrupt_on and seen.count(call) == 1:
            signal.raise_signal(signal.SIGINT)  # as if the user pressed Ctrl+C while this request is in flight
        if call == ("POST", "/queries"):
            return httpx.Response(200, json={"job_id": JOB_ID, "status": "running", "message": "started",
                                             "estimated_completion_time": None})
        if call == ("DELETE", f"/jobs/{JOB_ID}"):
            return httpx.Response(200, json={**RUNNING, "status": "cancelled"})
        if call == ("GET", f"/jobs/{JOB_ID}"):
            return httpx.Response(200, json=RUNNING)
        if call == ("GET", f"/jobs/{JOB_ID}/result"):
            return httpx.Response(202, json={"job_id": JOB_ID, "status": "running"})
        return httpx.Response(404, json={"detail": "no", "error_code": "NOT_FOUND", "timestamp": "x"})

    client = ApiClient("http://bqlite.test", transport=httpx.MockTransport(handle))
    monkeypatch.setattr(CliContext, "client", property(lambda _self: client))
    return seen


def _run(*args: str) -> Result:
    from bqlite_app.cli.main import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_ctrl_c_while_the_submission_is_answered_still_cancels_the_job(monkeypatch: pytest.MonkeyPatch):
    # The server may run the job before its id reaches the CLI; a Ctrl+C then must not lose the job.
    seen = _fake_api(monkeypatch, interrupt_on=("POST", "/queries"))
    result = _run("query", "SELECT 1")
    assert result.exit_code == 130
    assert f"job {JOB_ID} cancelled on the server" in result.stderr
    assert ("DELETE", f"/jobs/{JOB_ID}") in seen


def test_ctrl_c_during_the_first_look_at_the_job_cancels_it(monkeypatch: pytest.MonkeyPatch):
    seen = _fake_api(monkeypatch, interrupt_on=("GET", f"/jobs/{JOB_ID}"))
    result = _run("jobs", "result", JOB_ID)
    assert result.exit_code == 130
    assert f"job {JOB_ID} cancelled on the server" in result.stderr
    assert ("DELETE", f"/jobs/{JOB_ID}") in seen


def test_no_wait_and_dry_run_are_not_held_by_the_deferral(monkeypatch: pytest.MonkeyPatch):
    _fake_api(monkeypatch, interrupt_on=("GET", "/never"))
    result = _run("query", "--no-wait", "--json", "SELECT 1")
    assert result.exit_code == 0 and json.loads(result.stdout)["job_id"] == JOB_ID
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
