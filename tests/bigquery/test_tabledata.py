"""tabledata.insertAll and tabledata.list through the real google-cloud-bigquery client: values round-trip exactly
(NUMERIC as Decimal, TIMESTAMP as aware datetime, BYTES as bytes, nested RECORDs), bad rows come back as BigQuery's
insertErrors with nothing landed, skip_invalid_rows lands the rest, pages are stable, ``to_arrow`` works, and a
query's anonymous result table reads like a table for its owner only."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from google.api_core import exceptions as gexc
from google.cloud import bigquery
from google.cloud.bigquery import SchemaField

from tests.bigquery.conftest import PROJECT

V2 = f"/bigquery/v2/projects/{PROJECT}"

SCHEMA = [
    SchemaField("id", "INT64", mode="REQUIRED"),
    SchemaField("f", "FLOAT64"),
    SchemaField("n", "NUMERIC"),
    SchemaField("bn", "BIGNUMERIC"),
    SchemaField("ok", "BOOL"),
    SchemaField("s", "STRING"),
    SchemaField("by", "BYTES"),
    SchemaField("ts", "TIMESTAMP"),
    SchemaField("d", "DATE"),
    SchemaField("t", "TIME"),
    SchemaField("dt", "DATETIME"),
    SchemaField("j", "JSON"),
    SchemaField("g", "GEOGRAPHY"),
    SchemaField("tags", "STRING", mode="REPEATED"),
    SchemaField("blobs", "BYTES", mode="REPEATED"),
    SchemaField("address", "RECORD", fields=[
        SchemaField("city", "STRING"), SchemaField("zip", "INT64"),
        SchemaField("geo", "RECORD", fields=[SchemaField("lat", "FLOAT64")])]),
    SchemaField("items", "RECORD", mode="REPEATED", fields=[
        SchemaField("sku", "STRING"), SchemaField("qty", "INT64")]),
]

ROW = {
    "id": 1, "f": 1.5, "n": "12345.678901234", "bn": "1234567890.12345678901234567890", "ok": True,
    "s": "héllo 'quoted' \"x\"", "by": base64.b64encode(b"\x00\xffbin").decode(),
    "ts": "2024-05-06T07:08:09.123456Z", "d": "2024-05-06", "t": "07:08:09.250000", "dt": "2024-05-06T07:08:09",
    "j": {"a": [1, 2]}, "g": "POINT(1 2)", "tags": ["a", "b"],
    "blobs": [base64.b64encode(b"\xfe").decode(), base64.b64encode(b"ok").decode()],
    "address": {"city": "Paris", "zip": 75001, "geo": {"lat": 48.85}},
    "items": [{"sku": "x1", "qty": 2}, {"sku": "y2", "qty": None}],
}


def _make(bq: bigquery.Client, dataset_id: str, name: str = "t", schema=SCHEMA) -> bigquery.Table:
    return bq.create_table(bigquery.Table(f"{PROJECT}.{dataset_id}.{name}", schema=schema))


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_values_round_trip_exactly(core, bq: bigquery.Client, dataset_id: str, engine: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core.settings, "bigquery_engine", engine)
    table = _make(bq, dataset_id)
    empty = {"id": 2, "tags": None, "items": []}
    assert bq.insert_rows_json(table, [ROW, empty]) == []
    rows = sorted(bq.list_rows(table), key=lambda r: r["id"])
    first = rows[0]
    assert first["n"] == Decimal("12345.678901234") and isinstance(first["n"], Decimal)
    if engine == "clickhouse":   # DuckDB narrows BIGNUMERIC to 38 digits (see engines/_ddl_duckdb.py)
        assert first["bn"] == Decimal("1234567890.12345678901234567890")
    assert first["ts"] == dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    assert first["dt"] == dt.datetime(2024, 5, 6, 7, 8, 9)
    assert first["d"] == dt.date(2024, 5, 6) and first["t"] == dt.time(7, 8, 9, 250000)
    assert first["by"] == b"\x00\xffbin" and first["ok"] is True and first["f"] == 1.5
    assert first["s"] == "héllo 'quoted' \"x\"" and first["j"] == {"a": [1, 2]} and first["g"] == "POINT(1 2)"
    assert first["tags"] == ["a", "b"] and first["blobs"] == [b"\xfe", b"ok"]
    assert first["address"] == {"city": "Paris", "zip": 75001, "geo": {"lat": 48.85}}
    assert first["items"] == [{"sku": "x1", "qty": 2}, {"sku": "y2", "qty": None}]
    second = rows[1]
    assert second["tags"] == [] and second["items"] == [] and second["n"] is None and second["address"] is None
    assert bq.get_table(table).num_rows == 2


def test_bad_rows_land_nothing(bq: bigquery.Client, dataset_id: str) -> None:
    table = _make(bq, dataset_id)
    rows = [{"id": 1}, {"id": "not a number"}, {"id": 3, "nope": 1}, {"s": "no id"}, {"id": 5}]
    errors = bq.insert_rows_json(table, rows)
    by_index = {e["index"]: e["errors"] for e in errors}
    assert sorted(by_index) == [0, 1, 2, 3, 4]
    assert by_index[0] == [{"reason": "stopped", "location": "", "debugInfo": "", "message": ""}]
    assert by_index[4][0]["reason"] == "stopped"
    assert by_index[1][0]["reason"] == "invalid" and by_index[1][0]["location"] == "id"
    assert by_index[2][0] == {"reason": "invalid", "location": "nope", "debugInfo": "",
                              "message": "no such field: nope."}
    assert by_index[3][0]["reason"] == "invalid" and "id" in by_index[3][0]["message"]
    assert list(bq.list_rows(table)) == []
    assert bq.get_table(table).num_rows == 0


def test_skip_invalid_rows_and_ignore_unknown_values(bq: bigquery.Client, dataset_id: str) -> None:
    table = _make(bq, dataset_id)
    rows = [{"id": 1}, {"id": "x"}, {"id": 3, "nope": 1}]
    errors = bq.insert_rows_json(table, rows, skip_invalid_rows=True)
    assert [e["index"] for e in errors] == [1, 2] and all(e["errors"][0]["reason"] == "invalid" for e in errors)
    assert sorted(r["id"] for r in bq.list_rows(table)) == [1]
    assert bq.insert_rows_json(table, [{"id": 4, "nope": 1, "address": {"city": "x", "extra": 2}}],
                               ignore_unknown_values=True) == []
    assert sorted(r["id"] for r in bq.list_rows(table)) == [1, 4]


def test_insert_ids_are_deduplicated(bq: bigquery.Client, dataset_id: str) -> None:
    table = _make(bq, dataset_id, schema=[SchemaField("x", "INT64")])
    rows = [{"x": 1}, {"x": 2}]
    assert bq.insert_rows_json(table, rows, row_ids=["a", "b"]) == []
    assert bq.insert_rows_json(table, rows, row_ids=["a", "b"]) == []     # the client's retry of the same rows
    assert bq.insert_rows_json(table, rows, row_ids=[None, None]) == []
    assert sorted(r["x"] for r in bq.list_rows(table)) == [1, 1, 2, 2]


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_paging_is_stable(core, bq: bigquery.Client, dataset_id: str, engine: str,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core.settings, "bigquery_engine", engine)
    table = _make(bq, dataset_id, schema=[SchemaField("x", "INT64"), SchemaField("s", "STRING")])
    for start in range(0, 250, 50):     # several inserts: several parts on ClickHouse
        assert bq.insert_rows_json(table, [{"x": i, "s": f"r{i}"} for i in range(start, start + 50)]) == []
    iterator = bq.list_rows(table, page_size=100)
    pages = [[row["x"] for row in page] for page in iterator.pages]
    assert [len(p) for p in pages] == [100, 100, 50] and iterator.total_rows == 250
    assert [x for page in pages for x in page] == list(range(250))      # insertion order, every row once
    again = [row["x"] for row in bq.list_rows(table, page_size=100)]
    assert again == list(range(250))
    assert [r["x"] for r in bq.list_rows(table, start_index=240)] == list(range(240, 250))
    assert [r["x"] for r in bq.list_rows(table, max_results=5)] == list(range(5))
    picked = list(bq.list_rows(table, selected_fields=[SchemaField("s", "STRING")], max_results=2))
    assert [dict(r) for r in picked] == [{"s": "r0"}, {"s": "r1"}]
    arrow = bq.list_rows(table, page_size=64).to_arrow(create_bqstorage_client=False)
    assert arrow.num_rows == 250 and arrow.column("x").to_pylist() == list(range(250))
    assert arrow.schema.field("s").type == "string"


def test_list_rows_errors(bq: bigquery.Client, dataset_id: str, client: TestClient) -> None:
    table = _make(bq, dataset_id, schema=[SchemaField("x", "INT64")])
    with pytest.raises(gexc.BadRequest, match="no field"):
        list(bq.list_rows(table, selected_fields=[SchemaField("nope", "INT64")]))
    path = f"{V2}/datasets/{dataset_id}/tables/t/data"
    for params in ({"pageToken": "forged"}, {"maxResults": "-1"}, {"startIndex": "x"},
                   {"selectedFields": "x.y"}):
        answer = client.get(path, params=params)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.json()["error"]["errors"][0]["reason"] == "invalid"
    with pytest.raises(gexc.NotFound):
        list(bq.list_rows(f"{dataset_id}.missing", selected_fields=[SchemaField("x", "INT64")]))


def test_insert_all_errors(bq: bigquery.Client, dataset_id: str, client: TestClient) -> None:
    _make(bq, dataset_id, schema=[SchemaField("x", "INT64")])
    path = f"{V2}/datasets/{dataset_id}/tables/t/insertAll"
    for body in ({}, {"rows": "x"}, {"rows": [1]}, {"rows": [], "skipInvalidRows": "yes"},
                 {"rows": [{"json": {"x": 1}}], "templateSuffix": "_x"}):
        answer = client.post(path, json=body)
        assert answer.status_code == 400, (body, answer.text)
    answer = client.post(f"{V2}/datasets/default/tables/nyc_taxi/insertAll", json={"rows": []})
    assert answer.status_code == 400 and "reserved" in answer.json()["error"]["message"]
    with pytest.raises(gexc.NotFound):
        bq.insert_rows_json(f"{dataset_id}.missing", [{"x": 1}])


def test_anonymous_query_results(core, bq: bigquery.Client, client: TestClient) -> None:
    from bqlite_app.access.principal import LOCAL, Principal
    from bqlite_app.jobs.service import QuerySpec

    job = core.queries.submit(QuerySpec(sql="SELECT range AS x, 'v' || range AS s FROM range(30)"), user=LOCAL)
    core.queries.wait(job.job_id, 60, user=LOCAL)
    ref = f"{PROJECT}._query_results.{job.job_id}"
    table = bq.get_table(ref)
    assert [f.name for f in table.schema] == ["x", "s"] and table.num_rows == 30
    pages = [[r["x"] for r in page] for page in bq.list_rows(table, page_size=20).pages]
    assert pages == [list(range(20)), list(range(20, 30))]
    assert [dict(r) for r in bq.list_rows(table, selected_fields=[SchemaField("s", "STRING")], max_results=1)] \
        == [{"s": "v0"}]
    # Someone else's job is not there at all.
    from bqlite_app.bigquery.routes_tables import _get
    from bqlite_app.bigquery.tables import TableRef

    stranger = Principal("stranger", "member", "usr_stranger")
    with pytest.raises(Exception) as caught:
        _get(core, stranger, TableRef(PROJECT, "_query_results", job.job_id), "http://x")
    assert getattr(caught.value, "status", None) == 404
    assert client.get(f"{V2}/datasets/_query_results/tables/no_such_job/data").status_code == 404
    answer = client.post(f"{V2}/datasets/_query_results/tables/{job.job_id}/insertAll", json={"rows": []})
    assert answer.status_code == 404


def test_sample_table_reads(bq: bigquery.Client) -> None:
    rows = list(bq.list_rows("default.nyc_taxi", max_results=3))
    assert len(rows) == 3 and rows[0].keys()


def test_concurrent_reads_while_inserting(bq: bigquery.Client, dataset_id: str) -> None:
    """A page token stays valid while rows are appended: the rows it covers do not move."""
    table = _make(bq, dataset_id, schema=[SchemaField("x", "INT64")])
    assert bq.insert_rows_json(table, [{"x": i} for i in range(10)]) == []
    iterator = bq.list_rows(table, page_size=4)
    pages = iter(iterator.pages)
    first = [r["x"] for r in next(pages)]
    assert bq.insert_rows_json(table, [{"x": i} for i in range(10, 15)], row_ids=[uuid.uuid4().hex
                                                                                     for _ in range(5)]) == []
    rest = [r["x"] for page in pages for r in page]
    assert first + rest == list(range(15))
