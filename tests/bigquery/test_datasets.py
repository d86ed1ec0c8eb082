"""datasets.* through the real google-cloud-bigquery client: create, get, list, update, delete, and the errors a
user meets (duplicates, bad names, the reserved datasets, non-empty deletes), then grants on an auth-on core."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.api_core import exceptions as gexc
from google.cloud import bigquery

from tests.bigquery.conftest import PROJECT
from tests.conftest import SAMPLE_ROWS

V2 = f"/bigquery/v2/projects/{PROJECT}"


def _name(prefix: str = "bqds") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _schemas(engine: Any, sql: str) -> set[str]:
    batches = list(engine.execute(sql, query_tag=f"t-{uuid.uuid4().hex[:8]}"))
    return {str(v) for b in batches for v in b.column(0).to_pylist()}


def test_create_get_update_delete_round_trip(bq: bigquery.Client, duckdb_engine, clickhouse_engine) -> None:
    name = _name()
    dataset = bigquery.Dataset(f"{PROJECT}.{name}")
    dataset.description = "orders of the shop"
    dataset.friendly_name = "Shop"
    dataset.labels = {"team": "sales", "env": "dev"}
    dataset.location = "EU"
    created = bq.create_dataset(dataset)
    assert created.dataset_id == name and created.project == PROJECT
    assert created.full_dataset_id == f"{PROJECT}:{name}"
    assert created.description == "orders of the shop" and created.friendly_name == "Shop"
    assert created.labels == {"team": "sales", "env": "dev"} and created.location == "EU"
    assert created.etag and created.created is not None and created.modified is not None
    # A database of that name on both engines.
    assert name in _schemas(duckdb_engine, "SELECT schema_name FROM duckdb_schemas()")
    assert name in _schemas(clickhouse_engine, "SELECT name FROM system.databases")

    fetched = bq.get_dataset(name)
    assert fetched.etag == created.etag and fetched.labels == created.labels and fetched.location == "EU"

    fetched.description = "all orders"
    fetched.labels = {"env": None, "owner": "ann"}      # None removes a label, as on BigQuery
    updated = bq.update_dataset(fetched, ["description", "labels"])
    assert updated.description == "all orders"
    assert updated.labels == {"team": "sales", "owner": "ann"}
    assert updated.etag != created.etag and updated.modified >= created.modified

    # The stale etag of the first read no longer matches.
    created.description = "lost update"
    with pytest.raises(gexc.PreconditionFailed):
        bq.update_dataset(created, ["description"])
    with pytest.raises(gexc.BadRequest, match="location"):
        updated.location = "US"
        bq.update_dataset(updated, ["location"])

    bq.delete_dataset(name)
    with pytest.raises(gexc.NotFound, match=f"Dataset {PROJECT}:{name}"):
        bq.get_dataset(name)
    assert name not in _schemas(clickhouse_engine, "SELECT name FROM system.databases")
    assert name not in _schemas(duckdb_engine, "SELECT schema_name FROM duckdb_schemas()")
    bq.delete_dataset(name, not_found_ok=True)
    with pytest.raises(gexc.NotFound):
        bq.delete_dataset(name)


def test_duplicate_is_conflict_and_exists_ok(bq: bigquery.Client, dataset_id: str) -> None:
    with pytest.raises(gexc.Conflict, match="Already Exists"):
        bq.create_dataset(dataset_id)
    assert bq.create_dataset(dataset_id, exists_ok=True).dataset_id == dataset_id
    # DuckDB's schema names ignore case, so another case of the same name is the same dataset.
    with pytest.raises(gexc.Conflict):
        bq.create_dataset(dataset_id.upper())


@pytest.mark.parametrize("bad", ["has-dash", "quote'x", 'dq"x', "semi;colon", "sp ace", "1starts_with_digit",
                                 "x" * 101, "ünï"])
def test_bad_names_are_refused(bq: bigquery.Client, bad: str) -> None:
    with pytest.raises(gexc.BadRequest, match="Invalid dataset ID"):
        bq.create_dataset(bigquery.Dataset(bigquery.DatasetReference(PROJECT, bad)))


def test_hostile_names_in_urls_are_refused(client: TestClient) -> None:
    for bad in ("a%27b", "a%22b", "a%60b", "x" * 1100, "a%20b"):
        answer = client.get(f"{V2}/datasets/{bad}")
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["errors"][0]["reason"] == "invalid"
    answer = client.get(f"{V2}/datasets/a.b")          # a dot makes it no dataset id at all
    assert answer.status_code in (400, 404)
    answer = client.post(f"{V2}/datasets", json={"datasetReference": {"datasetId": ["x"]}})
    assert answer.status_code == 400
    answer = client.post(f"{V2}/datasets", content=b"{not json", headers={"content-type": "application/json"})
    assert answer.status_code == 400


def test_reserved_datasets(bq: bigquery.Client) -> None:
    default = bq.get_dataset("default")
    assert default.dataset_id == "default"
    assert "default" in [d.dataset_id for d in bq.list_datasets()]
    with pytest.raises(gexc.BadRequest, match="reserved"):
        bq.delete_dataset("default", delete_contents=True)
    default.description = "mine now"
    with pytest.raises(gexc.BadRequest, match="reserved"):
        bq.update_dataset(default, ["description"])
    for name in ("_query_results", "main", "system", "information_schema"):
        with pytest.raises(gexc.BadRequest, match="reserved"):
            bq.create_dataset(name)
    with pytest.raises(gexc.Conflict):
        bq.create_dataset("default")
    with pytest.raises(gexc.NotFound):
        bq.get_dataset("_query_results")
    assert bq.get_table("default.nyc_taxi").num_rows == SAMPLE_ROWS


def test_delete_needs_delete_contents(bq: bigquery.Client) -> None:
    name = _name()
    bq.create_dataset(name)
    bq.create_table(bigquery.Table(f"{PROJECT}.{name}.t", schema=[bigquery.SchemaField("x", "INT64")]))
    with pytest.raises(gexc.BadRequest, match="still in use") as caught:
        bq.delete_dataset(name)
    assert caught.value.errors[0]["reason"] == "resourceInUse"
    assert [t.table_id for t in bq.list_tables(name)] == ["t"]
    bq.delete_dataset(name, delete_contents=True)
    with pytest.raises(gexc.NotFound):
        bq.get_table(f"{name}.t")


def test_list_paging_filter_and_hidden(bq: bigquery.Client) -> None:
    names = sorted(_name("bqlist") for _ in range(3))
    hidden = _name("_bqhidden")
    try:
        for i, name in enumerate(names):
            dataset = bigquery.Dataset(f"{PROJECT}.{name}")
            dataset.labels = {"batch": "paging", "n": str(i)}
            bq.create_dataset(dataset)
        bq.create_dataset(hidden)
        pages = bq.list_datasets(page_size=1).pages
        listed = [item.dataset_id for page in pages for item in page]
        assert listed == sorted(listed) and set(names) <= set(listed) and hidden not in listed
        assert hidden in [d.dataset_id for d in bq.list_datasets(include_all=True)]
        assert [d.dataset_id for d in bq.list_datasets(filter="labels.batch:paging")] == names
        assert [d.dataset_id for d in bq.list_datasets(filter="labels.batch:paging labels.n:1")] == [names[1]]
        item = next(d for d in bq.list_datasets(filter="labels.n:2"))
        assert item.labels == {"batch": "paging", "n": "2"} and item.full_dataset_id == f"{PROJECT}:{names[2]}"
        with pytest.raises(gexc.BadRequest, match="filter"):
            list(bq.list_datasets(filter="name = 'x'"))
        assert len(list(bq.list_datasets(max_results=2))) == 2
    finally:
        for name in [*names, hidden]:
            bq.delete_dataset(name, delete_contents=True, not_found_ok=True)


def test_labels_and_unsupported_settings_are_checked(bq: bigquery.Client, client: TestClient) -> None:
    dataset = bigquery.Dataset(f"{PROJECT}.{_name()}")
    dataset.labels = {"Upper": "x"}
    with pytest.raises(gexc.BadRequest, match="label key"):
        bq.create_dataset(dataset)
    answer = client.post(f"{V2}/datasets", json={"datasetReference": {"datasetId": _name()},
                                                 "defaultEncryptionConfiguration": {"kmsKeyName": "k"}})
    assert answer.status_code == 400 and "not supported" in answer.json()["error"]["message"]
    answer = client.post(f"{V2}/datasets", json={"datasetReference": {"datasetId": _name()},
                                                 "access": [{"role": "READER", "userByEmail": "x@y"}]})
    assert answer.status_code == 400 and "grants" in answer.json()["error"]["message"]


def test_passthrough_settings_are_kept(bq: bigquery.Client, dataset_id: str) -> None:
    dataset = bq.get_dataset(dataset_id)
    dataset.default_table_expiration_ms = 3_600_000
    assert bq.update_dataset(dataset, ["default_table_expiration_ms"]).default_table_expiration_ms == 3_600_000
    assert bq.get_dataset(dataset_id).default_table_expiration_ms == 3_600_000


def test_dataset_made_here_shows_in_our_api(bq: bigquery.Client, client: TestClient, dataset_id: str) -> None:
    listed = {d["name"]: d for d in client.get("/datasets").json()["datasets"]}
    assert listed[dataset_id]["tables"] == 0              # empty datasets are datasets too
    bq.create_table(bigquery.Table(f"{PROJECT}.{dataset_id}.events", schema=[bigquery.SchemaField("x", "INT64")]))
    listed = {d["name"]: d for d in client.get("/datasets").json()["datasets"]}
    assert listed[dataset_id]["tables"] == 1


def test_dataset_made_by_sql_is_a_dataset_here(bq: bigquery.Client, duckdb_engine) -> None:
    name = _name("bqsql")
    list(duckdb_engine.execute(f"CREATE SCHEMA {name}", query_tag="t-sql-schema"))
    try:
        fetched = bq.get_dataset(name)
        assert fetched.dataset_id == name and fetched.created is not None
        assert bq.get_dataset(name).etag == fetched.etag       # its row is kept: times and etag stay put
    finally:
        bq.delete_dataset(name, delete_contents=True)
    with pytest.raises(gexc.NotFound):
        bq.get_dataset(name)


# ------------------------------------------------------------------------------------------- grants (auth on)

ADMIN_PASSWORD = "bq-datasets-admin-pass-01"
PASSWORD = "bq-datasets-member-pass-02"


@pytest.fixture(scope="module")
def auth_client(tmp_path_factory: pytest.TempPathFactory, duckdb_engine, clickhouse_engine) -> Iterator[Any]:
    from bqlite_app.api import create_api
    from bqlite_app.core import Core
    from bqlite_app.settings import Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("bq-datasets-auth"), auth="on",
                        admin_password=ADMIN_PASSWORD, default_grants={"default": "reader"},
                        sample_rows=SAMPLE_ROWS, max_concurrent_jobs=2, total_slots=4, query_memory_limit="4GB",
                        result_cleanup_interval_s=3600, rate_limit="100000/minute")
    core = Core(settings, engines={"duckdb": duckdb_engine, "clickhouse": clickhouse_engine})
    core.start()
    admin = core.identity.authenticate(core.identity.login("admin", ADMIN_PASSWORD, None).access_token, None)
    for name in ("ann", "bob"):
        core.identity.create_user(admin, f"bqd_{name}", PASSWORD, "member")
    with TestClient(create_api(core), raise_server_exceptions=False) as test_client:
        test_client.core = core  # type: ignore[attr-defined]
        yield test_client
    core.stop()


def _token(client: TestClient, username: str, password: str) -> dict[str, str]:
    answer = client.post("/auth/token", data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_grants_apply(auth_client: TestClient) -> None:
    admin = _token(auth_client, "admin", ADMIN_PASSWORD)
    ann = _token(auth_client, "bqd_ann", PASSWORD)
    bob = _token(auth_client, "bqd_bob", PASSWORD)
    name = _name("bqgrant")
    body = {"datasetReference": {"projectId": PROJECT, "datasetId": name}}
    assert auth_client.post(f"{V2}/datasets", json=body).status_code == 401
    refused = auth_client.post(f"{V2}/datasets", json=body, headers=ann)
    assert refused.status_code == 403 and refused.json()["error"]["errors"][0]["reason"] == "accessDenied"
    created = auth_client.post(f"{V2}/datasets", json=body, headers=admin)
    assert created.status_code == 200, created.text
    try:
        # The creator owns it; grants show as access entries.
        assert {"role": "OWNER", "userByEmail": "admin"} in created.json()["access"]
        assert auth_client.get(f"{V2}/datasets/{name}", headers=ann).status_code == 403
        listed = auth_client.get(f"{V2}/datasets", headers=ann).json()["datasets"]
        assert [d["datasetReference"]["datasetId"] for d in listed] == ["default"]
        grant = auth_client.put(f"/datasets/{name}/grants/bqd_ann", json={"role": "reader"}, headers=admin)
        assert grant.status_code == 200, grant.text
        assert auth_client.get(f"{V2}/datasets/{name}", headers=ann).status_code == 200
        assert name in [d["datasetReference"]["datasetId"]
                        for d in auth_client.get(f"{V2}/datasets", headers=ann).json()["datasets"]]
        patched = auth_client.patch(f"{V2}/datasets/{name}", json={"description": "x"}, headers=ann)
        assert patched.status_code == 403
        auth_client.put(f"/datasets/{name}/grants/bqd_ann", json={"role": "owner"}, headers=admin)
        patched = auth_client.patch(f"{V2}/datasets/{name}", json={"description": "x"}, headers=ann)
        assert patched.status_code == 200 and patched.json()["description"] == "x"
        # Dropping a dataset is the admin's, even for its owner (DROP SCHEMA).
        assert auth_client.delete(f"{V2}/datasets/{name}", headers=ann).status_code == 403
        # Tables: a reader lists, only a writer creates.
        table = {"tableReference": {"projectId": PROJECT, "datasetId": name, "tableId": "t"},
                 "schema": {"fields": [{"name": "x", "type": "INTEGER"}]}}
        auth_client.put(f"/datasets/{name}/grants/bqd_bob", json={"role": "reader"}, headers=admin)
        assert auth_client.post(f"{V2}/datasets/{name}/tables", json=table, headers=bob).status_code == 403
        assert auth_client.post(f"{V2}/datasets/{name}/tables", json=table, headers=ann).status_code == 200
        assert auth_client.get(f"{V2}/datasets/{name}/tables", headers=bob).json()["totalItems"] == 1
        rows = {"rows": [{"json": {"x": 1}}]}
        assert auth_client.post(f"{V2}/datasets/{name}/tables/t/insertAll", json=rows, headers=bob).status_code \
            == 403
        assert auth_client.get(f"{V2}/datasets/{name}/tables/t/data", headers=bob).status_code == 200
        assert auth_client.delete(f"{V2}/datasets/{name}/tables/t", headers=bob).status_code == 403
        events = auth_client.get("/audit", params={"action": "dataset.create"}, headers=admin).json()["events"]
        assert any(e["target"] == name and e["actor"] == "admin" for e in events)
    finally:
        answer = auth_client.delete(f"{V2}/datasets/{name}", params={"deleteContents": "true"}, headers=admin)
        assert answer.status_code == 204, answer.text
