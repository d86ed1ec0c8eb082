"""Identity over REST, BQLITE_AUTH=on: sign-in, tokens, users, audit, limits (docs/api.md "Identity, access and audit").

A core of its own (its own data dir and SQLite file, auth on) shares the session's engines: chdb allows one data path
per process. Real SQLite, real Argon2, real JWTs.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.conftest import SAMPLE_ROWS

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "rest-admin-password-01"
# Every secret this module uses; none may show up in a log line or an audit event.
SECRETS: list[str] = [ADMIN_PASSWORD]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + " " + repr(record.__dict__))


@pytest.fixture(scope="module")
def module_logs() -> Iterator[_Collect]:
    """Every log record of the whole module, at DEBUG, with its extra fields: none may carry a secret."""
    root, handler = logging.getLogger(), _Collect()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="module")
def auth_core(module_logs: _Collect, tmp_path_factory: pytest.TempPathFactory, duckdb_engine: Any,
              clickhouse_engine: Any) -> Iterator[Any]:
    from bqlite_app.core import Core
    from bqlite_app.settings import Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("bqlite-auth"), auth="on", admin_password=ADMIN_PASSWORD,
                        sample_rows=SAMPLE_ROWS, rate_limit="20/minute", result_cleanup_interval_s=3600)
    core = Core(settings, engines={"duckdb": duckdb_engine, "clickhouse": clickhouse_engine})
    core.start()
    yield core
    core.stop()


@pytest.fixture(scope="module")
def api(auth_core: Any) -> Iterator[TestClient]:
    from bqlite_app.api import create_api

    with TestClient(create_api(auth_core), raise_server_exceptions=False) as test_client:
        yield test_client


def sign_in(api: TestClient, username: str, password: str) -> dict[str, str]:
    answer = api.post("/auth/token", data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 43200
    SECRETS.append(body["access_token"])
    return {"Authorization": f"Bearer {body['access_token']}"}


@pytest.fixture(scope="module")
def admin(api: TestClient) -> dict[str, str]:
    return sign_in(api, "admin", ADMIN_PASSWORD)


def make_member(api: TestClient, admin: dict[str, str], name: str, role: str = "member") -> dict[str, str]:
    password = f"{name}-password-123456"
    SECRETS.append(password)
    answer = api.post("/users", headers=admin, json={"username": name, "password": password, "role": role})
    assert answer.status_code == 201, answer.text
    return sign_in(api, name, password)


def audit_count(core: Any, action: str, **match: str) -> int:
    from bqlite_app.access.audit import AuditQuery

    events, _ = core.audit.list(AuditQuery(action=action, limit=1000))
    return sum(all(getattr(e, k) == v for k, v in match.items()) for e in events)


def test_only_the_public_routes_answer_without_a_token(api: TestClient) -> None:
    for path in ("/", "/health", "/docs", "/redoc", "/openapi.json", "/_docs_assets/swagger-ui-bundle.js"):
        assert api.get(path).status_code == 200, path
    for method, path in (("GET", "/status"), ("GET", "/examples"), ("GET", "/metrics"), ("GET", "/jobs"),
                         ("GET", "/jobs/x"), ("POST", "/queries"), ("GET", "/schemas"), ("GET", "/auth/me"),
                         ("GET", "/users"), ("GET", "/audit"), ("GET", "/audit/verify"), ("GET", "/auth/api-tokens"),
                         ("GET", "/datasets"), ("PUT", "/datasets/default/grants/x")):
        answer = api.request(method, path)
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.json()["error_code"] == "AUTH_REQUIRED"
        assert answer.headers["www-authenticate"] == "Bearer"


def test_sign_in_and_me(api: TestClient, admin: dict[str, str]) -> None:
    assert api.get("/auth/me", headers=admin).json() == {"username": "admin", "role": "admin", "grants": []}
    member = make_member(api, admin, "mia")
    assert api.get("/auth/me", headers=member).json() == {
        "username": "mia", "role": "member", "grants": [{"dataset": "default", "role": "reader"}]}


def test_bad_credentials_are_one_message_and_limited(api: TestClient, auth_core: Any, admin: dict[str, str]) -> None:
    make_member(api, admin, "lou")
    unknown = api.post("/auth/token", data={"username": "ghost", "password": "whatever-password"})
    known = api.post("/auth/token", data={"username": "lou", "password": "wrong-password-1"})
    SECRETS.extend(["whatever-password", "wrong-password-1"])
    assert unknown.status_code == known.status_code == 401
    assert unknown.json()["detail"] == known.json()["detail"]
    assert known.headers["www-authenticate"] == "Bearer"
    for _ in range(4):  # five failures in all
        assert api.post("/auth/token", data={"username": "lou", "password": "wrong-password-1"}).status_code == 401
    blocked = api.post("/auth/token", data={"username": "lou", "password": "lou-password-123456"})
    assert blocked.status_code == 429 and blocked.json()["error_code"] == "RATE_LIMITED"
    assert 1 <= int(blocked.headers["retry-after"]) <= 900
    assert audit_count(auth_core, "auth.login", actor="lou", outcome="failed") == 5
    assert audit_count(auth_core, "auth.login", actor="lou", outcome="denied") == 1


def test_expired_tampered_and_foreign_tokens_are_refused(api: TestClient, auth_core: Any,
                                                         admin: dict[str, str]) -> None:
    user_id = auth_core.identity.get_user("admin").user_id
    now = datetime.now(UTC)
    expired = jwt.encode({"sub": user_id, "iat": now - timedelta(hours=2), "exp": now - timedelta(seconds=1)},
                         auth_core.identity._signing_key(), algorithm="HS256")
    foreign = jwt.encode({"sub": user_id, "iat": now, "exp": now + timedelta(hours=1)},
                         "some-other-secret-key-0123456789abcdef", algorithm="HS256")
    good = admin["Authorization"].removeprefix("Bearer ")
    tampered = good[:-3] + ("AAA" if good[-3:] != "AAA" else "BBB")
    for token in (expired, foreign, tampered, "bql_unknown", "not.a.jwt"):
        answer = api.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401 and answer.json()["error_code"] == "AUTH_REQUIRED", token


def test_api_tokens_create_list_revoke(api: TestClient, auth_core: Any, admin: dict[str, str]) -> None:
    member = make_member(api, admin, "tia")
    created = api.post("/auth/api-tokens", headers=member, json={"name": "ci", "expires_in_days": 7})
    assert created.status_code == 201, created.text
    body = created.json()
    SECRETS.append(body["token"])
    assert set(body) == {"id", "name", "token", "created_at", "expires_at"} and body["token"].startswith("bql_")
    as_script = {"Authorization": f"Bearer {body['token']}"}
    assert api.get("/auth/me", headers=as_script).json()["username"] == "tia"
    listed = api.get("/auth/api-tokens", headers=member).json()
    assert listed == {"tokens": [{k: body[k] for k in ("id", "name", "created_at", "expires_at")}]}
    assert api.get("/auth/api-tokens", headers=admin).json() == {"tokens": []}  # only one's own tokens
    assert api.delete(f"/auth/api-tokens/{body['id']}", headers=admin).status_code == 404
    assert api.delete(f"/auth/api-tokens/{body['id']}", headers=member).status_code == 204
    assert api.get("/auth/me", headers=as_script).status_code == 401
    assert audit_count(auth_core, "token.create", target=body["id"]) == 1
    assert audit_count(auth_core, "token.revoke", target=body["id"]) == 1


def test_members_are_refused_admin_routes(api: TestClient, auth_core: Any, admin: dict[str, str]) -> None:
    member = make_member(api, admin, "max")
    before = audit_count(auth_core, "access.denied", actor="max")
    for path in ("/users", "/users/admin", "/audit", "/audit/verify", "/metrics"):
        answer = api.get(path, headers=member)
        assert answer.status_code == 403, path
        assert answer.json()["error_code"] == "ACCESS_DENIED" and "admin role" in answer.json()["detail"]
    assert audit_count(auth_core, "access.denied", actor="max") == before + 5
    assert api.get("/metrics", headers=admin).status_code == 200


def test_users_crud_and_changes_apply_to_live_tokens(api: TestClient, auth_core: Any, admin: dict[str, str]) -> None:
    ned = make_member(api, admin, "ned")
    user = api.get("/users/ned", headers=admin).json()
    assert set(user) == {"username", "role", "active", "created_at", "last_login_at"} and user["active"]
    listed = api.get("/users", headers=admin).json()
    assert listed["total"] == len(listed["users"]) and "ned" in {u["username"] for u in listed["users"]}

    assert api.get("/users", headers=ned).status_code == 403
    assert api.patch("/users/ned", headers=admin, json={"role": "admin"}).json()["role"] == "admin"
    assert api.get("/users", headers=ned).status_code == 200  # the same token, the new role at once
    api.patch("/users/ned", headers=admin, json={"role": "member"})

    assert api.patch("/users/ned", headers=admin, json={"active": False}).json()["active"] is False
    assert api.get("/auth/me", headers=ned).status_code == 401
    api.patch("/users/ned", headers=admin, json={"active": True})
    assert api.get("/auth/me", headers=ned).status_code == 401      # reactivating revives no old session

    assert api.delete("/users/ned", headers=admin).status_code == 204
    assert api.get("/auth/me", headers=ned).status_code == 401
    assert api.get("/users/ned", headers=admin).status_code == 404
    make_member(api, admin, "ned")  # the same name again is a new user: the old token stays dead
    assert api.get("/auth/me", headers=ned).status_code == 401
    assert audit_count(auth_core, "user.create", target="ned") == 2
    assert audit_count(auth_core, "user.delete", target="ned") == 1
    assert audit_count(auth_core, "user.update", target="ned") == 4

    duplicate = api.post("/users", headers=admin, json={"username": "ned", "password": "x" * 12, "role": "member"})
    assert duplicate.status_code == 409
    short = api.post("/users", headers=admin, json={"username": "zed", "password": "short", "role": "member"})
    assert short.status_code == 422 and short.json()["error_code"] == "VALIDATION_FAILED"


def test_the_last_admin_cannot_be_removed(api: TestClient, admin: dict[str, str]) -> None:
    for method, body in (("PATCH", {"role": "member"}), ("PATCH", {"active": False}), ("DELETE", None)):
        answer = api.request(method, "/users/admin", headers=admin, json=body)
        assert answer.status_code == 409, answer.text
        assert answer.json()["error_code"] == "VALIDATION_FAILED" and "last active admin" in answer.json()["detail"]


def test_password_change(api: TestClient, auth_core: Any, admin: dict[str, str]) -> None:
    pia = make_member(api, admin, "pia")
    SECRETS.extend(["not-my-password", "pia-brand-new-password"])
    wrong = api.post("/auth/password", headers=pia,
                     json={"current_password": "not-my-password", "new_password": "pia-brand-new-password"})
    assert wrong.status_code == 403
    ok = api.post("/auth/password", headers=pia,
                  json={"current_password": "pia-password-123456", "new_password": "pia-brand-new-password"})
    assert ok.status_code == 204, ok.text
    assert api.post("/auth/token", data={"username": "pia", "password": "pia-password-123456"}).status_code == 401
    sign_in(api, "pia", "pia-brand-new-password")
    assert audit_count(auth_core, "auth.password", actor="pia", outcome="ok") == 1
    assert audit_count(auth_core, "auth.password", actor="pia", outcome="failed") == 1


def test_queries_are_rate_limited_per_user(api: TestClient, admin: dict[str, str]) -> None:
    rae, sam = make_member(api, admin, "rae"), make_member(api, admin, "sam")
    for _ in range(20):  # BQLITE_RATE_LIMIT=20/minute in this module
        assert api.post("/queries", headers=rae, json={"sql": "SELECT 1", "dry_run": True}).status_code != 429
    limited = api.post("/queries", headers=rae, json={"sql": "SELECT 1", "dry_run": True})
    assert limited.status_code == 429 and limited.json()["error_code"] == "RATE_LIMITED"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert api.post("/queries", headers=sam, json={"sql": "SELECT 1", "dry_run": True}).status_code != 429


def test_audit_lists_filters_and_verifies(api: TestClient, auth_core: Any, admin: dict[str, str]) -> None:
    page = api.get("/audit", headers=admin, params={"action": "auth.login", "outcome": "ok", "limit": 2}).json()
    assert len(page["events"]) == 2 and page["total"] >= 2
    assert page["events"][0]["id"] > page["events"][1]["id"]  # newest first
    assert set(page["events"][0]) == {"id", "ts", "actor", "client_ip", "action", "target", "outcome", "detail",
                                      "prev_hash", "hash"}
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert api.get("/audit", headers=admin, params={"since": future}).json() == {"events": [], "total": 0}
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    everything = api.get("/audit", headers=admin, params={"since": past, "until": future}).json()["total"]
    assert everything == api.get("/audit", headers=admin).json()["total"] > 10
    assert api.get("/audit", headers=admin, params={"limit": 1001}).status_code == 422
    verdict = api.get("/audit/verify", headers=admin).json()
    assert verdict["ok"] is True and verdict["first_bad_id"] is None and verdict["events"] > 10

    victim = page["events"][1]
    with sqlite3.connect(auth_core.settings.db_path) as connection:
        connection.execute("UPDATE audit_events SET actor = 'someone-else' WHERE id = ?", (victim["id"],))
    try:
        broken = api.get("/audit/verify", headers=admin).json()
        assert broken["ok"] is False and broken["first_bad_id"] == victim["id"]
    finally:
        with sqlite3.connect(auth_core.settings.db_path) as connection:
            connection.execute("UPDATE audit_events SET actor = ? WHERE id = ?", (victim["actor"], victim["id"]))
    assert api.get("/audit/verify", headers=admin).json()["ok"] is True


def test_no_secret_in_logs_or_events(api: TestClient, auth_core: Any, admin: dict[str, str],
                                     module_logs: _Collect, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    uma = make_member(api, admin, "uma")
    api.post("/auth/token", data={"username": "uma", "password": "uma-typo-password"})
    SECRETS.append("uma-typo-password")
    token = api.post("/auth/api-tokens", headers=uma, json={"name": "t", "expires_in_days": None}).json()
    SECRETS.append(token["token"])
    api.get("/auth/me", headers={"Authorization": f"Bearer {token['token']}"})
    api.patch("/users/uma", headers=admin, json={"password": "uma-reset-by-admin-1"})
    SECRETS.append("uma-reset-by-admin-1")
    api.delete(f"/auth/api-tokens/{token['id']}", headers=uma)
    events = api.get("/audit", headers=admin, params={"limit": 1000}).text
    with sqlite3.connect(auth_core.settings.db_path) as connection:
        stored = repr(connection.execute("SELECT * FROM audit_events").fetchall())
        hashes = [row[0] for row in connection.execute("SELECT password_hash FROM users")]
        hashes += [row[0] for row in connection.execute("SELECT token_hash FROM api_tokens")]
    assert len(SECRETS) > 15 and len(module_logs.lines) > 20
    logs = caplog.text + "\n".join(module_logs.lines)
    for secret in [*SECRETS, *hashes]:
        assert secret not in logs, "a secret reached the logs"
        assert secret not in events and secret not in stored, "a secret reached the audit log"


def test_openapi_documents_the_password_flow(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    scheme = spec["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["flows"]["password"]["tokenUrl"] == "/auth/token"
    assert "security" not in spec["paths"]["/"]["get"] and "security" not in spec["paths"]["/health"]["get"]
    assert spec["paths"]["/jobs"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]
    assert "401" in spec["paths"]["/jobs"]["get"]["responses"]
    assert "429" in spec["paths"]["/queries"]["post"]["responses"]
    assert {"401", "429"} <= set(spec["paths"]["/auth/token"]["post"]["responses"])
    assert {"/auth/token", "/auth/me", "/auth/password", "/auth/api-tokens", "/auth/api-tokens/{token_id}",
            "/users", "/users/{username}", "/audit", "/audit/verify"} <= set(spec["paths"])


def test_auth_off_acts_as_local_without_a_token(client: TestClient) -> None:
    assert client.get("/auth/me").json()["username"] == "local"
    assert client.get("/auth/me").json()["role"] == "admin"
    assert client.get("/users").status_code == 200
    assert client.get("/audit/verify").json()["ok"] is True
    assert client.get("/auth/me", headers={"Authorization": "Bearer garbage"}).status_code == 200


def test_an_open_host_with_auth_off_refuses_to_start(duckdb_engine: Any, clickhouse_engine: Any,
                                                     tmp_path: Path) -> None:
    from bqlite_app.core import Core
    from bqlite_app.settings import Settings

    core = Core(Settings(data_dir=tmp_path / "d", host="0.0.0.0"),
                engines={"duckdb": duckdb_engine, "clickhouse": clickhouse_engine})
    with pytest.raises(SystemExit, match="BQLITE_AUTH=on"):
        core.start()
    assert not (tmp_path / "d").exists()  # refused before creating anything

    # Not inherited: the BQLITE_ settings of whoever runs the suite, nor an outer `make test`'s make variables
    # (they make `make -n` print "Entering directory" lines).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BQLITE_", "MAKE")) and k != "MFLAGS"}
    refused = subprocess.run(["scripts/run.sh", "--check-only"], cwd=ROOT, capture_output=True, text=True,
                             env={**env, "BQLITE_HOST": "0.0.0.0"}, timeout=30)
    assert refused.returncode != 0 and "BQLITE_AUTH=on" in refused.stderr
    allowed = subprocess.run(["scripts/run.sh", "--check-only"], cwd=ROOT, capture_output=True, text=True,
                             env={**env, "BQLITE_HOST": "0.0.0.0", "BQLITE_AUTH": "on"}, timeout=30)
    assert allowed.returncode == 0, allowed.stderr
    # `make run` checks before it installs or builds anything: the check is its first prerequisite.
    plan = subprocess.run(["make", "--no-print-directory", "-n", "run"], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=30)
    assert plan.stdout.splitlines()[0].strip() == "scripts/run.sh --check-only"


def _finished_job(api: TestClient, headers: dict[str, str], sql: str = "SELECT 42 AS answer") -> str:
    job_id = api.post("/queries", headers=headers, json={"sql": sql}).json()["job_id"]
    assert api.get(f"/jobs/{job_id}/result", headers=headers, params={"timeout_ms": 60_000}).status_code == 200
    return job_id


def test_a_download_token_opens_one_export_and_nothing_else(api: TestClient, auth_core: Any,
                                                            admin: dict[str, str]) -> None:
    """The UI's download links: a browser link cannot send a bearer header, so it carries a one-minute token."""
    dora = make_member(api, admin, "dora")
    job_id = _finished_job(api, dora)
    other_job = _finished_job(api, dora, "SELECT 7 AS other")
    dora_user = auth_core.identity.authenticate(dora["Authorization"].split()[1], None)
    link_token = auth_core.identity.issue_download_token(dora_user, job_id)
    SECRETS.append(link_token)

    csv = api.get(f"/jobs/{job_id}/result", params={"format": "csv", "download_token": link_token})
    assert csv.status_code == 200 and csv.text.splitlines() == ['"answer"', "42"]
    for path in (f"/jobs/{other_job}/result", "/auth/me", "/jobs"):    # another job, any other route
        refused = api.get(path, params={"format": "csv", "download_token": link_token})
        assert refused.status_code == 401, path
    assert api.get("/auth/me", headers={"Authorization": f"Bearer {link_token}"}).status_code == 401

    expired = jwt.encode({"sub": dora_user.user_id, "iat": 1, "exp": 2, "gen": 0, "purpose": "download",
                          "job": job_id}, auth_core.identity._signing_key(), algorithm="HS256")
    assert api.get(f"/jobs/{job_id}/result", params={"format": "csv", "download_token": expired}).status_code == 401

    # A token the admin mints for dora's job still meets the job's owner check: 404, as if it did not exist.
    admin_user = auth_core.identity.authenticate(admin["Authorization"].split()[1], None)
    eve = make_member(api, admin, "eve")
    eve_user = auth_core.identity.authenticate(eve["Authorization"].split()[1], None)
    assert admin_user.is_admin
    foreign = auth_core.identity.issue_download_token(eve_user, job_id)
    assert api.get(f"/jobs/{job_id}/result", params={"format": "csv", "download_token": foreign}).status_code == 404
