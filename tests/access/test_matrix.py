"""The access matrix (docs/api.md, "What each needs"): each role x each statement kind x both engines, over REST with
bearer tokens from POST /auth/token, on an auth-on core of its own that shares the session's engines.

Statements are judged through dry runs (the check runs first, and nothing executes); submissions, /plan, results,
exports, schema routes, grants routes and quotas are covered after the matrix.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bqlite_app.access.audit import AuditQuery
from bqlite_app.access.principal import LOCAL
from bqlite_app.db import open_database
from tests.conftest import SAMPLE_ROWS

ADMIN_PASSWORD = "matrix-admin-pass-0001"
PASSWORD = "matrix-member-pass-0002"
SALES, OTHER = "acc_sales", "acc_other"
ROLES = ("admin", "owner", "writer", "reader", "nogrant")
RANK = {"reader": 1, "writer": 2, "owner": 3}

# name -> (DuckDB SQL, ClickHouse SQL, role needed or "admin", dataset named in the refusal)
STATEMENTS: dict[str, tuple[str, str, str, str]] = {
    "select": (f"SELECT count(*) FROM {SALES}.orders", f"SELECT count() FROM {SALES}.orders", "reader", SALES),
    "cte": (f"WITH c AS (SELECT * FROM {SALES}.orders) SELECT count(*) FROM c",
            f"WITH c AS (SELECT * FROM {SALES}.orders) SELECT count() FROM c", "reader", SALES),
    "subquery": (f"SELECT 1 WHERE 1 IN (SELECT id FROM {SALES}.orders)",
                 f"SELECT 1 WHERE 1 IN (SELECT id FROM {SALES}.orders)", "reader", SALES),
    "join": (f"SELECT count(*) FROM (SELECT 1 AS id) a JOIN {SALES}.orders o ON a.id = o.id",
             f"SELECT count() FROM (SELECT 1 AS id) AS a JOIN {SALES}.orders AS o ON a.id = o.id", "reader", SALES),
    "view": (f"SELECT count(*) FROM {SALES}.v_orders", f"SELECT count() FROM {SALES}.v_orders", "reader", SALES),
    "view_other_dataset": (f"SELECT count(*) FROM {SALES}.v_secret", f"SELECT count() FROM {SALES}.v_secret",
                           "admin", OTHER),
    "insert": (f"INSERT INTO {SALES}.orders VALUES (9, 9)", f"INSERT INTO {SALES}.orders VALUES (9, 9)",
               "writer", SALES),
    "create_table": (f"CREATE TABLE {SALES}.scratch2 (a INT)",
                     f"CREATE TABLE {SALES}.scratch2 (a Int32) ENGINE = Memory", "writer", SALES),
    "create_view": (f"CREATE VIEW {SALES}.v2 AS SELECT * FROM {SALES}.orders",
                    f"CREATE VIEW {SALES}.v2 AS SELECT * FROM {SALES}.orders", "writer", SALES),
    "update": (f"UPDATE {SALES}.orders SET amount = 0 WHERE id < 0",
               f"ALTER TABLE {SALES}.orders UPDATE amount = 0 WHERE id < 0", "writer", SALES),
    "delete": (f"DELETE FROM {SALES}.orders WHERE id < 0", f"ALTER TABLE {SALES}.orders DELETE WHERE id < 0",
               "writer", SALES),
    "drop": (f"DROP TABLE {SALES}.scratch", f"DROP TABLE {SALES}.scratch", "owner", SALES),
    "alter": (f"ALTER TABLE {SALES}.scratch ADD COLUMN b INT", f"ALTER TABLE {SALES}.scratch ADD COLUMN b Int32",
              "owner", SALES),
    "truncate": (f"TRUNCATE {SALES}.scratch", f"TRUNCATE TABLE {SALES}.scratch", "owner", SALES),
    "create_schema": ("CREATE SCHEMA acc_brand_new", "CREATE DATABASE acc_brand_new", "admin", "acc_brand_new"),
    "table_by_name": ("SELECT 1", f"SELECT count() FROM merge('{OTHER}', '.*')", "admin", "admin"),
    "default_dataset": ("SELECT count(*) FROM nyc_taxi", "SELECT count() FROM nyc_taxi", "admin", "default"),
}


def allowed(role: str, needed: str) -> bool:
    if role == "admin":
        return True
    if needed == "admin" or role == "nogrant":
        return False
    return RANK[role] >= RANK[needed]


@pytest.fixture(scope="module")
def auth_core(tmp_path_factory: pytest.TempPathFactory, duckdb_engine, clickhouse_engine) -> Iterator[Any]:
    from bqlite_app.core import Core
    from bqlite_app.settings import Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("matrix-data"), auth="on", admin_password=ADMIN_PASSWORD,
                        default_grants={}, sample_rows=SAMPLE_ROWS, max_concurrent_jobs=4, total_slots=10,
                        query_memory_limit="4GB", result_cleanup_interval_s=3600, rate_limit="100000/minute",
                        user_max_running=1)
    core = Core(settings, engines={"duckdb": duckdb_engine, "clickhouse": clickhouse_engine})
    core.start()
    _make_datasets(duckdb_engine, clickhouse_engine)
    admin = core.identity.authenticate(core.identity.login("admin", ADMIN_PASSWORD, None).access_token, None)
    for role in ("owner", "writer", "reader", "nogrant"):
        core.identity.create_user(admin, f"m_{role}", PASSWORD, "member")
        if role != "nogrant":
            core.grants.set_grant(admin, SALES, f"m_{role}", role)
    yield core
    core.stop()


def _make_datasets(duckdb_engine, clickhouse_engine) -> None:
    for statement in (f"CREATE SCHEMA IF NOT EXISTS {SALES}", f"CREATE SCHEMA IF NOT EXISTS {OTHER}",
                      f"CREATE OR REPLACE TABLE {SALES}.orders (id INT, amount INT)",
                      f"INSERT INTO {SALES}.orders VALUES (1, 10), (2, 20)",
                      f"CREATE OR REPLACE TABLE {SALES}.scratch (a INT)",
                      f"CREATE OR REPLACE TABLE {OTHER}.secret (id INT)",
                      f"CREATE OR REPLACE VIEW {SALES}.v_orders AS SELECT * FROM {SALES}.orders",
                      f"CREATE OR REPLACE VIEW {SALES}.v_secret AS SELECT * FROM {OTHER}.secret"):
        list(duckdb_engine.execute(statement, query_tag="matrix-setup"))
    for statement in (f"CREATE DATABASE IF NOT EXISTS {SALES}", f"CREATE DATABASE IF NOT EXISTS {OTHER}",
                      f"CREATE OR REPLACE TABLE {SALES}.orders (id Int32, amount Int32) ENGINE = MergeTree ORDER BY id",
                      f"INSERT INTO {SALES}.orders VALUES (1, 10), (2, 20)",
                      f"CREATE OR REPLACE TABLE {SALES}.scratch (a Int32) ENGINE = Memory",
                      f"CREATE OR REPLACE TABLE {OTHER}.secret (id Int32) ENGINE = Memory",
                      f"CREATE OR REPLACE VIEW {SALES}.v_orders AS SELECT * FROM {SALES}.orders",
                      f"CREATE OR REPLACE VIEW {SALES}.v_secret AS SELECT * FROM {OTHER}.secret"):
        list(clickhouse_engine.execute(statement, query_tag="matrix-setup"))


@pytest.fixture(scope="module")
def api(auth_core) -> Iterator[TestClient]:
    from bqlite_app.api import create_api

    with TestClient(create_api(auth_core), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def tokens(api: TestClient) -> dict[str, dict[str, str]]:
    headers = {}
    for role in ROLES:
        username, password = ("admin", ADMIN_PASSWORD) if role == "admin" else (f"m_{role}", PASSWORD)
        answer = api.post("/auth/token", data={"username": username, "password": password})
        assert answer.status_code == 200, answer.text
        headers[role] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    return headers


def denied_events(core, since_id: int) -> list[Any]:
    events, _ = core.audit.list(AuditQuery(action="access.denied", limit=1000))
    return [e for e in events if e.id > since_id]


def last_event_id(core) -> int:
    events, _ = core.audit.list(AuditQuery(limit=1))
    return events[0].id if events else 0


# -- the matrix -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
@pytest.mark.parametrize("kind", list(STATEMENTS))
def test_matrix(api: TestClient, tokens, auth_core, engine: str, kind: str) -> None:
    duck_sql, ch_sql, needed, dataset = STATEMENTS[kind]
    if kind == "table_by_name" and engine == "duckdb":
        pytest.skip("DuckDB's query_table() is refused by the sandbox, for everyone")
    sql = duck_sql if engine == "duckdb" else ch_sql
    for role in ROLES:
        before = last_event_id(auth_core)
        answer = api.post("/queries", json={"sql": sql, "engine": engine, "dry_run": True}, headers=tokens[role])
        if allowed(role, needed):
            assert answer.status_code == 200, (role, answer.text)
            assert answer.json()["status"] == "dry_run"
        else:
            assert answer.status_code == 403, (role, answer.text)
            body = answer.json()
            assert body["error_code"] == "ACCESS_DENIED"
            if role == "nogrant":   # refused at the first dataset it lacks
                assert " on dataset " in body["detail"] or "admin role" in body["detail"], body
            elif kind in {"create_schema", "table_by_name"}:
                assert "needs the admin role" in body["detail"], body
            else:
                wanted = f"needs {'reader' if needed == 'admin' else needed} on dataset {dataset}"
                assert wanted in body["detail"], (role, body["detail"])
            events = denied_events(auth_core, before)
            assert len(events) == 1 and events[0].actor == (f"m_{role}")


def test_the_refusal_names_dataset_and_role(api: TestClient, tokens) -> None:
    answer = api.post("/queries", json={"sql": f"SELECT * FROM {SALES}.orders"}, headers=tokens["nogrant"])
    assert answer.status_code == 403
    assert answer.json()["detail"] == f"Access denied: needs reader on dataset {SALES}"
    answer = api.post("/queries", json={"sql": f"DROP TABLE {SALES}.scratch"}, headers=tokens["writer"])
    assert answer.json()["detail"] == f"Access denied: needs owner on dataset {SALES}"


def test_a_refused_submission_creates_no_job(api: TestClient, tokens, auth_core) -> None:
    _, total_before = auth_core.store.list(limit=1)
    answer = api.post("/queries", json={"sql": f"SELECT * FROM {OTHER}.secret"}, headers=tokens["owner"])
    assert answer.status_code == 403
    assert auth_core.store.list(limit=1)[1] == total_before


# -- jobs: ownership, visibility, plans, results, exports ----------------------------------------------------------


def run(api: TestClient, headers: dict[str, str], sql: str, engine: str = "duckdb") -> str:
    answer = api.post("/queries", json={"sql": sql, "engine": engine}, headers=headers)
    assert answer.status_code == 200, answer.text
    job_id = answer.json()["job_id"]
    result = api.get(f"/jobs/{job_id}/result", params={"timeout_ms": 60_000}, headers=headers)
    assert result.status_code == 200, result.text
    return job_id


def test_jobs_belong_to_their_user(api: TestClient, tokens) -> None:
    job_id = run(api, tokens["reader"], f"SELECT sum(amount) AS total FROM {SALES}.orders")
    mine = api.get(f"/jobs/{job_id}", headers=tokens["reader"])
    assert mine.status_code == 200 and mine.json()["user"] == "m_reader"
    for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/result", f"/jobs/{job_id}/plan",
                 f"/jobs/{job_id}/result?format=csv"):
        other = api.get(path, headers=tokens["writer"])
        assert other.status_code == 404, path
        assert other.json()["error_code"] == "JOB_NOT_FOUND"
    assert api.post(f"/jobs/{job_id}/cancel", headers=tokens["writer"]).status_code == 404
    assert api.delete(f"/jobs/{job_id}", headers=tokens["writer"]).status_code == 404
    # Its owner and admins see it, plan it and export it.
    for role in ("reader", "admin"):
        assert api.get(f"/jobs/{job_id}/plan", headers=tokens[role]).status_code == 200
        export = api.get(f"/jobs/{job_id}/result", params={"format": "csv"}, headers=tokens[role])
        assert export.status_code == 200 and "total" in export.text


def test_job_list_shows_only_the_callers_jobs(api: TestClient, tokens) -> None:
    run(api, tokens["reader"], f"SELECT 1 AS a FROM {SALES}.orders LIMIT 1")
    run(api, tokens["writer"], f"SELECT 2 AS b FROM {SALES}.orders LIMIT 1")
    reader_jobs = api.get("/jobs", headers=tokens["reader"]).json()["jobs"]
    assert reader_jobs and {job["user"] for job in reader_jobs} == {"m_reader"}
    assert api.get("/jobs", headers=tokens["nogrant"]).json() == {"jobs": [], "total": 0}
    everyone = {job["user"] for job in api.get("/jobs", params={"limit": 1000}, headers=tokens["admin"]).json()["jobs"]}
    assert {"m_reader", "m_writer"} <= everyone
    only = api.get("/jobs", params={"user": "m_writer"}, headers=tokens["admin"]).json()["jobs"]
    assert only and {job["user"] for job in only} == {"m_writer"}
    # A member's ?user= is ignored: still only their own jobs.
    sneaky = api.get("/jobs", params={"user": "m_writer"}, headers=tokens["reader"]).json()["jobs"]
    assert {job["user"] for job in sneaky} == {"m_reader"}


def test_plan_is_checked_against_current_grants(api: TestClient, tokens, auth_core) -> None:
    admin = auth_core.identity.authenticate(tokens["admin"]["Authorization"].split()[1], None)
    auth_core.grants.set_grant(admin, OTHER, "m_reader", "reader")
    job_id = run(api, tokens["reader"], f"SELECT count(*) AS n FROM {OTHER}.secret")
    auth_core.grants.revoke(admin, OTHER, "m_reader")
    answer = api.get(f"/jobs/{job_id}/plan", headers=tokens["reader"])
    assert answer.status_code == 403 and f"dataset {OTHER}" in answer.json()["detail"]


def test_submit_export_and_cancel_are_audited(api: TestClient, tokens, auth_core) -> None:
    before = last_event_id(auth_core)
    job_id = run(api, tokens["reader"], f"SELECT id FROM {SALES}.orders")
    api.get(f"/jobs/{job_id}/result", params={"format": "ndjson"}, headers=tokens["reader"])
    events, _ = auth_core.audit.list(AuditQuery(actor="m_reader", limit=100))
    actions = [(e.action, e.target) for e in events if e.id > before]
    assert ("job.submit", job_id) in actions and ("job.export", job_id) in actions


def test_sandbox_refusals_are_audited(api: TestClient, tokens, auth_core) -> None:
    before = last_event_id(auth_core)
    answer = api.post("/queries", json={"sql": "SELECT * FROM read_csv('/etc/passwd')"}, headers=tokens["reader"])
    assert answer.status_code == 403 and answer.json()["error_code"] == "SQL_NOT_ALLOWED"
    events, _ = auth_core.audit.list(AuditQuery(action="sql.refused", limit=10))
    assert [e for e in events if e.id > before and e.actor == "m_reader" and e.outcome == "denied"]


# -- datasets and grants ---------------------------------------------------------------------------------------------


def test_datasets_list_only_what_the_caller_can_read(api: TestClient, tokens) -> None:
    reader = api.get("/datasets", headers=tokens["reader"]).json()["datasets"]
    assert [(d["name"], d["your_role"]) for d in reader] == [(SALES, "reader")]
    assert reader[0]["tables"] >= 4          # orders, scratch and two views, in each engine
    assert api.get("/datasets", headers=tokens["nogrant"]).json() == {"datasets": []}
    names = {d["name"] for d in api.get("/datasets", headers=tokens["admin"]).json()["datasets"]}
    assert {SALES, OTHER, "default"} <= names


def test_owners_and_admins_manage_grants(api: TestClient, tokens, auth_core) -> None:
    path = f"/datasets/{SALES}/grants"
    listed = api.get(path, headers=tokens["owner"]).json()
    assert {"username": "m_reader", "role": "reader"} in listed["grants"] and listed["dataset"] == SALES
    assert api.get(path, headers=tokens["writer"]).status_code == 403
    refused = api.put(f"{path}/m_nogrant", json={"role": "reader"}, headers=tokens["writer"])
    assert refused.status_code == 403 and f"needs owner on dataset {SALES}" in refused.json()["detail"]
    before = last_event_id(auth_core)
    assert api.put(f"{path}/m_nogrant", json={"role": "reader"}, headers=tokens["owner"]).status_code == 200
    assert api.post("/queries", json={"sql": f"SELECT * FROM {SALES}.orders", "dry_run": True},
                    headers=tokens["nogrant"]).status_code == 200
    assert api.delete(f"{path}/m_nogrant", headers=tokens["admin"]).status_code == 200
    assert api.post("/queries", json={"sql": f"SELECT * FROM {SALES}.orders", "dry_run": True},
                    headers=tokens["nogrant"]).status_code == 403
    events, _ = auth_core.audit.list(AuditQuery(limit=100))
    changes = [(e.action, e.target) for e in events if e.id > before and e.action.startswith("grant.")]
    assert sorted(changes) == [("grant.revoke", f"{SALES}/m_nogrant"), ("grant.set", f"{SALES}/m_nogrant")]
    assert api.put(f"{path}/nobody_at_all", json={"role": "reader"}, headers=tokens["admin"]).status_code == 404
    assert api.put(f"{path}/m_nogrant", json={"role": "boss"}, headers=tokens["admin"]).status_code == 422


def test_new_members_get_the_default_grants(auth_core) -> None:
    auth_core.settings.default_grants = {"default": "reader"}
    try:
        admin = auth_core.identity.authenticate(
            auth_core.identity.login("admin", ADMIN_PASSWORD, None).access_token, None)
        auth_core.identity.create_user(admin, "m_fresh", PASSWORD, "member")
        fresh = auth_core.identity.authenticate(auth_core.identity.login("m_fresh", PASSWORD, None).access_token, None)
        assert auth_core.grants.grants_of(fresh) == [{"dataset": "default", "role": "reader"}]
    finally:
        auth_core.settings.default_grants = {}


# -- schemas ---------------------------------------------------------------------------------------------------------

PROTO = b'syntax = "proto3";\nmessage Ping { int64 id = 1; string note = 2; }\n'


def register(api: TestClient, headers: dict[str, str], dataset: str, table: str) -> Any:
    return api.post("/schemas/register", headers=headers, files={"file": ("ping.proto", PROTO)},
                    data={"table_name": table, "database_name": dataset})


def test_schema_routes_follow_dataset_roles(api: TestClient, tokens, auth_core) -> None:
    # A member registering into a dataset nobody has creates it and owns it.
    created = register(api, tokens["writer"], "acc_pings", "pings")
    assert created.status_code == 201, created.text
    schema_id = created.json()["schema_id"]
    writer = auth_core.identity.authenticate(tokens["writer"]["Authorization"].split()[1], None)
    assert auth_core.grants.role_on(writer, "acc_pings") == "owner"
    # Someone else may not register into it, nor see it.
    refused = register(api, tokens["reader"], "acc_pings", "more")
    assert refused.status_code == 403 and "needs owner on dataset acc_pings" in refused.json()["detail"]
    assert schema_id not in {s["schema_id"] for s in api.get("/schemas", headers=tokens["reader"]).json()["schemas"]}
    assert api.get(f"/schemas/{schema_id}", headers=tokens["reader"]).status_code == 403
    assert api.post(f"/schemas/{schema_id}/tables/create", json={"engines": ["duckdb"]},
                    headers=tokens["reader"]).status_code == 403
    assert api.post(f"/schemas/{schema_id}/ingest", content=b"", headers=tokens["reader"]).status_code == 403
    assert api.delete(f"/schemas/{schema_id}", headers=tokens["reader"]).status_code == 403
    # The owner may do everything; a reader grant lets the reader see it.
    made = api.post(f"/schemas/{schema_id}/tables/create", json={"engines": ["duckdb"]}, headers=tokens["writer"])
    assert made.status_code == 200 and made.json()["results"]["duckdb"]["error"] is None
    auth_core.grants.set_grant(writer, "acc_pings", "m_reader", "reader")
    assert api.get(f"/schemas/{schema_id}", headers=tokens["reader"]).status_code == 200
    deleted = api.delete(f"/schemas/{schema_id}", params={"drop_tables": True}, headers=tokens["writer"])
    assert deleted.status_code == 200
    actions = {e.action for e in auth_core.audit.list(AuditQuery(actor="m_writer", limit=100))[0]}
    assert {"schema.register", "table.create", "schema.delete"} <= actions


# -- quotas ----------------------------------------------------------------------------------------------------------


def test_daily_bytes_quota(api: TestClient, tokens, auth_core) -> None:
    from bqlite_app.jobs.models import Job, JobStatus

    # Earlier today the owner's jobs processed 1,000 bytes.
    auth_core.store.add(Job(sql="SELECT 'earlier'",
                            max_execution_time=300, engine="duckdb", status=JobStatus.COMPLETED, user="m_owner",
                            bytes_processed=1000))
    auth_core.settings.user_daily_bytes = 1500
    try:
        assert api.post("/queries", json={"sql": "SELECT 1"}, headers=tokens["owner"]).status_code == 200
        auth_core.settings.user_daily_bytes = 999
        answer = api.post("/queries", json={"sql": f"SELECT * FROM {SALES}.orders"}, headers=tokens["owner"])
        assert answer.status_code == 403, answer.text
        assert answer.json()["error_code"] == "QUOTA_EXCEEDED"
    finally:
        auth_core.settings.user_daily_bytes = None
    assert api.post("/queries", json={"sql": "SELECT 1"}, headers=tokens["owner"]).status_code == 200


def test_user_max_running_queues_extra_jobs(auth_core) -> None:
    from bqlite_app.jobs.queue import JobQueue, PendingJob

    queue = JobQueue(total_slots=10, engine_capacity={"duckdb": 4}, max_concurrent=4, aging_interval_s=60,
                     user_max_running=auth_core.settings.user_max_running)
    for job_id, user in (("a1", "alice"), ("a2", "alice"), ("b1", "bob")):
        queue.push(PendingJob(job_id, "duckdb", 1, 1, user=user))
    started = [queue.pop_runnable(), queue.pop_runnable(), queue.pop_runnable()]
    assert [job.job_id if job else None for job in started] == ["a1", "b1", None]
    queue.finish("a1")
    assert queue.pop_runnable().job_id == "a2"


# -- auth off: unchanged ---------------------------------------------------------------------------------------------


def test_with_auth_off_local_is_admin(core) -> None:
    from bqlite_app.jobs.service import QuerySpec

    job = core.queries.submit(QuerySpec(sql="SELECT 1 AS one"), user=LOCAL)
    assert job.user == "local"
    assert core.queries.get(job.job_id, user=LOCAL).job_id == job.job_id


def test_old_job_tables_gain_the_user_column(tmp_path: Path) -> None:
    import sqlite3

    from bqlite_app.jobs.store import JobStore

    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE jobs (job_id VARCHAR PRIMARY KEY, sql VARCHAR NOT NULL, engine VARCHAR NOT NULL, "
                    "priority INTEGER, estimated_slots INTEGER, max_execution_time INTEGER, labels JSON NOT NULL, "
                    "status VARCHAR, created_at DATETIME, started_at DATETIME, completed_at DATETIME, "
                    "execution_time_ms INTEGER, rows_returned INTEGER, bytes_processed INTEGER, result_bytes INTEGER, "
                    "error VARCHAR, error_position INTEGER)")
        con.execute("INSERT INTO jobs VALUES ('job_old', 'SELECT 1', 'duckdb', 1, 1, 300, '{}', 'COMPLETED', "
                    "'2024-01-01 00:00:00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
    store = JobStore(open_database(db))
    try:
        assert store.get("job_old").user == "local"
        assert store.list(user="local")[1] == 1
    finally:
        store.close()
