"""Saved queries over REST (docs/api.md, "Saved queries"): auth off as the laptop user, and with BQLITE_AUTH=on the
owner's rules, sharing, and hostile input answered with the error envelope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import SAMPLE_ROWS

ADMIN_PASSWORD = "saved-admin-password-1"
PASSWORD = "saved-member-password-1"


def envelope(answer: Any, status: int, code: str | set[str]) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    codes = {code} if isinstance(code, str) else code
    assert set(body) >= {"detail", "error_code", "timestamp"} and body["error_code"] in codes, body
    return body


# -- auth off -----------------------------------------------------------------------------------------------------


def test_save_list_search_read_update_delete(client: TestClient):
    created = client.post("/saved-queries", json={"name": "Trips by hour", "sql": "SELECT 1 AS one",
                                                  "description": "for the dashboard"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["owner"] == "local" and body["engine"] == "duckdb" and body["sharing"] == "private"
    assert body["can_edit"] is True and body["sql"] == "SELECT 1 AS one"
    saved_id = body["id"]
    listed = client.get("/saved-queries", params={"q": "DASHBOARD"}).json()
    assert [item["id"] for item in listed["saved_queries"]] == [saved_id] and listed["total"] == 1
    assert "sql" not in listed["saved_queries"][0]
    assert client.get(f"/saved-queries/{saved_id}").json()["sql"] == "SELECT 1 AS one"
    patched = client.patch(f"/saved-queries/{saved_id}", json={"name": "Trips per hour", "engine": "clickhouse",
                                                               "sql": "SELECT 2 AS two"})
    assert patched.status_code == 200, patched.text
    assert {k: patched.json()[k] for k in ("name", "engine", "sql")} == {
        "name": "Trips per hour", "engine": "clickhouse", "sql": "SELECT 2 AS two"}
    assert patched.json()["updated_at"] > body["updated_at"]
    # What the CLI's `run` does: read it, then submit it as a query.
    job = client.post("/queries", json={"sql": patched.json()["sql"], "engine": "clickhouse", "wait_ms": 30_000})
    assert job.json()["result"]["rows"] == [[2]]
    assert client.delete(f"/saved-queries/{saved_id}").status_code == 204
    envelope(client.get(f"/saved-queries/{saved_id}"), 404, "SAVED_QUERY_NOT_FOUND")
    envelope(client.delete(f"/saved-queries/{saved_id}"), 404, "SAVED_QUERY_NOT_FOUND")


def test_a_taken_name_is_a_conflict(client: TestClient):
    first = client.post("/saved-queries", json={"name": "dup name", "sql": "SELECT 1"})
    assert first.status_code == 201
    envelope(client.post("/saved-queries", json={"name": "dup name", "sql": "SELECT 2"}), 409, "VALIDATION_FAILED")
    client.delete(f"/saved-queries/{first.json()['id']}")


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"name": "x"}, 422, "VALIDATION_FAILED"),                                         # no sql
    ({"sql": "SELECT 1"}, 422, "VALIDATION_FAILED"),                                   # no name
    ({"name": "", "sql": "SELECT 1"}, 422, "VALIDATION_FAILED"),
    ({"name": "n" * 101, "sql": "SELECT 1"}, 422, "VALIDATION_FAILED"),
    ({"name": "a/b", "sql": "SELECT 1"}, 422, "VALIDATION_FAILED"),
    ({"name": "<img src=x onerror=alert(1)>", "sql": "SELECT 1"}, 422, "VALIDATION_FAILED"),
    ({"name": "nul\u0000", "sql": "SELECT 1"}, 422, "VALIDATION_FAILED"),
    ({"name": "ok", "sql": "x" * 1_000_001}, 422, "VALIDATION_FAILED"),             # the queries' 1 MB cap
    ({"name": "ok", "sql": "   "}, 422, "VALIDATION_FAILED"),
    ({"name": "ok", "sql": "SELECT 1", "engine": "oracle"}, 400, "ENGINE_NOT_AVAILABLE"),
    ({"name": "ok", "sql": "SELECT 1", "sharing": "public"}, 422, "VALIDATION_FAILED"),
    ({"name": "ok", "sql": "SELECT 1", "shared_with": ["nobody-here"]}, 422, "VALIDATION_FAILED"),
    ({"name": "ok", "sql": "SELECT 1", "owner": "someone-else"}, 422, "VALIDATION_FAILED"),  # unknown field
    ({"name": "ok", "sql": "SELECT 1", "description": "d" * 2001}, 422, "VALIDATION_FAILED"),
    ({"name": ["ok"], "sql": "SELECT 1"}, 422, "VALIDATION_FAILED"),
])
def test_hostile_bodies_answer_the_envelope(client: TestClient, body: dict[str, Any], status: int, code: str):
    envelope(client.post("/saved-queries", json=body), status, code)


def test_lone_surrogates_and_malformed_json(client: TestClient):
    raw = b'{"name": "ok \\ud800", "sql": "SELECT 1"}'
    envelope(client.post("/saved-queries", content=raw, headers={"content-type": "application/json"}), 422,
             "VALIDATION_FAILED")
    raw = b'{"name": "ok", "sql": "SELECT \'\\udc00\'"}'
    envelope(client.post("/saved-queries", content=raw, headers={"content-type": "application/json"}), 422,
             "VALIDATION_FAILED")
    envelope(client.post("/saved-queries", content=b"{not json", headers={"content-type": "application/json"}),
             422, "VALIDATION_FAILED")


@pytest.mark.parametrize("bad_id", ["nope", "sq_0000000000000000", "..%2F..%2Fetc", "sq_%27%20OR%201=1", "x" * 5000])
def test_bad_ids_are_404_envelopes(client: TestClient, bad_id: str):
    # An escaped `/` makes another path: no route at all (NOT_FOUND), still the envelope.
    codes = {"SAVED_QUERY_NOT_FOUND", "NOT_FOUND"} if "%2F" in bad_id else "SAVED_QUERY_NOT_FOUND"
    for method in ("GET", "DELETE"):
        envelope(client.request(method, f"/saved-queries/{bad_id}"), 404, codes)
    envelope(client.patch(f"/saved-queries/{bad_id}", json={"name": "x"}), 404, codes)


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"offset": -1}, {"scope": "everything"},
                                    {"q": "q" * 201}])
def test_bad_list_parameters(client: TestClient, params: dict[str, Any]):
    envelope(client.get("/saved-queries", params=params), 422, "VALIDATION_FAILED")


def test_documented_in_openapi(client: TestClient):
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/saved-queries"]) == {"get", "post"}
    assert set(paths["/saved-queries/{saved_id}"]) == {"get", "patch", "delete"}


# -- auth on ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, duckdb_engine: Any, clickhouse_engine: Any) -> Iterator[TestClient]:
    from bqlite_app.api import create_api
    from bqlite_app.core import Core
    from bqlite_app.settings import Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("bqlite-saved-auth"), auth="on",
                        admin_password=ADMIN_PASSWORD, sample_rows=SAMPLE_ROWS, result_cleanup_interval_s=3600)
    core = Core(settings, engines={"duckdb": duckdb_engine, "clickhouse": clickhouse_engine})
    core.start()
    with TestClient(create_api(core), raise_server_exceptions=False) as test_client:
        admin = sign_in(test_client, "admin", ADMIN_PASSWORD)
        for name in ("alice", "bob", "carol"):
            created = test_client.post("/users", json={"username": name, "password": PASSWORD, "role": "member"},
                                       headers=admin)
            assert created.status_code == 201, created.text
        yield test_client
    core.stop()


def sign_in(api: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    answer = api.post("/auth/token", data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_auth_is_required(api: TestClient):
    envelope(api.get("/saved-queries"), 401, "AUTH_REQUIRED")
    envelope(api.post("/saved-queries", json={"name": "x", "sql": "SELECT 1"}), 401, "AUTH_REQUIRED")


def test_owner_only_edits_and_sharing(api: TestClient):
    alice, bob, carol = (sign_in(api, name) for name in ("alice", "bob", "carol"))
    admin = sign_in(api, "admin", ADMIN_PASSWORD)
    private = api.post("/saved-queries", json={"name": "mine", "sql": "SELECT 1"}, headers=alice).json()
    shared = api.post("/saved-queries", json={"name": "for bob", "sql": "SELECT 2", "shared_with": ["bob"]},
                      headers=alice).json()
    assert shared["sharing"] == "users" and shared["shared_with"] == ["bob"]
    # Unshared: exactly like a missing id, for every method.
    for method in ("GET", "DELETE"):
        envelope(api.request(method, f"/saved-queries/{private['id']}", headers=bob), 404, "SAVED_QUERY_NOT_FOUND")
    envelope(api.patch(f"/saved-queries/{private['id']}", json={"sql": "SELECT 9"}, headers=bob), 404,
             "SAVED_QUERY_NOT_FOUND")
    # Shared: readable, read-only.
    seen = api.get(f"/saved-queries/{shared['id']}", headers=bob).json()
    assert seen["sql"] == "SELECT 2" and seen["can_edit"] is False and seen["owner"] == "alice"
    envelope(api.patch(f"/saved-queries/{shared['id']}", json={"sql": "SELECT 9"}, headers=bob), 403,
             "ACCESS_DENIED")
    envelope(api.delete(f"/saved-queries/{shared['id']}", headers=bob), 403, "ACCESS_DENIED")
    envelope(api.get(f"/saved-queries/{shared['id']}", headers=carol), 404, "SAVED_QUERY_NOT_FOUND")
    names = lambda headers, **params: [q["name"] for q in api.get(  # noqa: E731
        "/saved-queries", params=params, headers=headers).json()["saved_queries"]]
    assert names(alice) == ["for bob", "mine"]
    assert names(bob) == ["for bob"] and names(bob, scope="mine") == [] and names(carol) == []
    # Everyone: carol reads it too; the owner renames it and it is still hers.
    api.patch(f"/saved-queries/{shared['id']}", json={"sharing": "everyone", "name": "for all"}, headers=alice)
    assert names(carol) == ["for all"]
    # Admins read everyone's, may delete, may not edit; `scope=all` is theirs only.
    assert api.get(f"/saved-queries/{private['id']}", headers=admin).json()["sql"] == "SELECT 1"
    envelope(api.patch(f"/saved-queries/{private['id']}", json={"sql": "SELECT 3"}, headers=admin), 403,
             "ACCESS_DENIED")
    envelope(api.get("/saved-queries", params={"scope": "all"}, headers=bob), 403, "ACCESS_DENIED")
    assert set(names(admin, scope="all")) >= {"mine", "for all"}
    assert api.delete(f"/saved-queries/{private['id']}", headers=admin).status_code == 204
    # The same name under another owner is no conflict.
    assert api.post("/saved-queries", json={"name": "for all", "sql": "SELECT 4"}, headers=bob).status_code == 201
    assert sorted(q["owner"] for q in api.get("/saved-queries", params={"name": "for all"},
                                              headers=bob).json()["saved_queries"]) == ["alice", "bob"]


def test_changes_are_audited(api: TestClient):
    alice = sign_in(api, "alice")
    admin = sign_in(api, "admin", ADMIN_PASSWORD)
    created = api.post("/saved-queries", json={"name": "audited", "sql": "SELECT 'secret-ish'"}, headers=alice)
    api.delete(f"/saved-queries/{created.json()['id']}", headers=alice)
    events = api.get("/audit", params={"actor": "alice", "limit": 50}, headers=admin).json()["events"]
    actions = [event["action"] for event in events if event["target"] == created.json()["id"]]
    assert sorted(actions) == ["saved_query.create", "saved_query.delete"]
    assert all("secret-ish" not in str(event) for event in events)
