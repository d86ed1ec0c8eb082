"""Cross-site requests (docs/api.md, "What user SQL may do" -> "Cross-site requests"): a page on another origin can
neither change anything through the API nor open the UI's websocket."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid

import pytest

from bench.server import ROOT
from bqlite_app.api.origin import SAFE_METHODS
from bqlite_app.settings import Settings
from tests.api.test_queries import assert_error

FOREIGN = ["http://evil.example", "null", "http://127.0.0.1:3001", "https://127.0.0.1:3000", "http://127.0.0.1"]
OWN = ["http://127.0.0.1:3000", "http://localhost:3000", "http://127.0.0.1:8000", "http://localhost:8000",
       "HTTP://LOCALHOST:8000/"]


def _state_changing_routes(client) -> list[tuple[str, str]]:
    """Every write route the API documents, read from its own spec, so a route added later is covered too."""
    routes = []
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        routes += [(method.upper(), re.sub(r"\{[^}]+\}", "x", path)) for method in operations
                   if method.upper() not in SAFE_METHODS]
    return routes


def test_every_state_changing_route_refuses_a_foreign_origin(client):
    routes = _state_changing_routes(client)
    assert {("POST", "/queries"), ("DELETE", "/jobs/x"), ("POST", "/schemas/register")} <= set(routes)
    for method, path in routes:
        for origin in FOREIGN:
            answer = client.request(method, path, headers={"Origin": origin}, json={})
            assert_error(answer, 403, "ORIGIN_NOT_ALLOWED")
            assert answer.headers["x-request-id"]


def test_a_refused_request_never_reaches_the_core(client):
    marker = f"origin-{uuid.uuid4().hex}"
    answer = client.post("/queries", json={"sql": f"SELECT 1 -- {marker}"}, headers={"Origin": "http://evil.example"})
    assert_error(answer, 403, "ORIGIN_NOT_ALLOWED")
    assert client.get("/jobs", params={"search": marker}).json()["total"] == 0


def test_a_foreign_page_cannot_cancel_a_job(client):
    job_id = client.post("/queries", json={"sql": "SELECT sum(hash(i)) FROM range(100000000000) t(i)"}).json()[
        "job_id"]
    try:
        for request in (client.delete, lambda url, **kw: client.post(f"{url}/cancel", **kw)):
            assert_error(request(f"/jobs/{job_id}", headers={"Origin": "https://attacker.example"}), 403,
                         "ORIGIN_NOT_ALLOWED")
        assert client.get(f"/jobs/{job_id}").json()["status"] in {"queued", "running"}
    finally:
        client.delete(f"/jobs/{job_id}")


@pytest.mark.parametrize("origin", [*OWN, None])
def test_own_origins_and_clients_without_origin_pass(client, origin):
    # The UI, Swagger's "Try it out" on the API's own origin, and curl or the CLI (which send no Origin).
    headers = {"Origin": origin} if origin else {}
    answer = client.post("/queries", json={"sql": "SELECT 1", "dry_run": True}, headers=headers)
    assert answer.status_code == 200, answer.text


def test_reads_from_a_foreign_origin_are_left_to_cors(client):
    # A read changes nothing; CORS decides whether the foreign page may see the answer.
    answer = client.get("/health", headers={"Origin": "http://evil.example"})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


def test_allowed_origins_are_never_empty_nor_a_wildcard():
    # python-socketio treats [] as "check nothing" and "*" as "anyone": neither may reach it.
    for configured in ([], ["*"], ["*", "https://bq.example.com/"]):
        allowed = Settings(cors_origins=configured).allowed_origins
        assert "*" not in allowed and "http://127.0.0.1:3000" in allowed and "http://127.0.0.1:8000" in allowed
    assert "https://bq.example.com" in Settings(cors_origins=["https://bq.example.com/"]).allowed_origins
    remote = Settings(host="10.1.2.3", ui_port=3100, cors_origins=[]).allowed_origins
    assert "http://10.1.2.3:3100" in remote and not any("127.0.0.1" in origin for origin in remote)


@pytest.mark.parametrize("configured", ['["http://ui.example:3000"]', "[]"])
def test_the_reflex_websocket_refuses_foreign_origins(tmp_path, configured):
    own, foreign = "http://127.0.0.1:3000", "http://evil.example"
    # Its own Reflex work dir: the checkout's .web belongs to `make run` and the browser tests.
    env = {**os.environ, "BQLITE_DATA_DIR": str(tmp_path), "BQLITE_CORS_ORIGINS": configured,
           "REFLEX_WEB_WORKDIR": str(tmp_path / ".web"),
           "REFLEX_TELEMETRY_ENABLED": "false", "REFLEX_CHECK_LATEST_VERSION": "false"}
    probe = subprocess.run([sys.executable, "-m", "tests.api.reflex_origin_probe", own, foreign, "null"], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=240)
    assert probe.returncode == 0, probe.stderr[-3000:]
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    assert seen[own]["websocket"] == "accepted"
    for origin in (foreign, "null"):
        assert seen[origin]["websocket"] == "refused"
        # python-socketio's own check (rxconfig's list), behind ours: the polling handshake is a GET we let through.
        status, text = seen[origin]["polling"]
        assert status == 400 and "not an accepted origin" in text
        # Reflex's own write route (uploads) is behind the same check as the API's.
        assert seen[origin]["upload"] == [403, "ORIGIN_NOT_ALLOWED"]
