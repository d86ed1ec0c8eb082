"""tables.* through the real google-cloud-bigquery client: every BigQuery type (nested RECORD and REPEATED
included) declared, created on the engine and answered back; schema updates BigQuery allows and the ones it refuses;
tables made outside this API (SQL, either engine); errors."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from google.api_core import exceptions as gexc
from google.cloud import bigquery
from google.cloud.bigquery import SchemaField

from tests.bigquery.conftest import PROJECT

V2 = f"/bigquery/v2/projects/{PROJECT}"

EVERY_TYPE = [
    SchemaField("id", "INT64", mode="REQUIRED", description="the key"),
    SchemaField("i", "INTEGER"),
    SchemaField("f", "FLOAT64"),
    SchemaField("n", "NUMERIC"),
    SchemaField("bn", "BIGNUMERIC"),
    SchemaField("b", "BOOL"),
    SchemaField("s", "STRING", description="free text"),
    SchemaField("by", "BYTES"),
    SchemaField("ts", "TIMESTAMP"),
    SchemaField("d", "DATE"),
    SchemaField("t", "TIME"),
    SchemaField("dt", "DATETIME"),
    SchemaField("j", "JSON"),
    SchemaField("g", "GEOGRAPHY"),
    SchemaField("tags", "STRING", mode="REPEATED"),
    SchemaField("address", "RECORD", fields=[
        SchemaField("city", "STRING", description="where"),
        SchemaField("zip", "INT64"),
        SchemaField("geo", "STRUCT", fields=[SchemaField("lat", "FLOAT"), SchemaField("lon", "FLOAT")]),
    ]),
    SchemaField("items", "RECORD", mode="REPEATED", fields=[
        SchemaField("sku", "STRING", mode="REQUIRED"),
        SchemaField("qty", "INT64"),
        SchemaField("prices", "NUMERIC", mode="REPEATED"),
    ]),
]
CANONICAL = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN", "STRUCT": "RECORD"}


def _shape(fields: list[SchemaField]) -> list[tuple]:
    return [(f.name, CANONICAL.get(f.field_type, f.field_type), f.mode, f.description or None, _shape(f.fields))
            for f in fields]


def test_every_type_round_trips(bq: bigquery.Client, dataset_id: str, duckdb_engine) -> None:
    table = bigquery.Table(f"{PROJECT}.{dataset_id}.every", schema=EVERY_TYPE)
    table.description = "all the types"
    table.friendly_name = "Every"
    table.labels = {"kind": "test"}
    created = bq.create_table(table)
    assert created.table_id == "every" and created.full_table_id == f"{PROJECT}:{dataset_id}.every"
    assert created.table_type == "TABLE" and created.num_rows == 0 and created.etag
    assert _shape(created.schema) == _shape(EVERY_TYPE)
    fetched = bq.get_table(f"{dataset_id}.every")
    assert _shape(fetched.schema) == _shape(EVERY_TYPE)
    assert fetched.description == "all the types" and fetched.friendly_name == "Every"
    assert fetched.labels == {"kind": "test"} and fetched.created is not None and fetched.location == "US"
    assert duckdb_engine.table_exists(dataset_id, "every")     # BQLITE_BIGQUERY_ENGINE defaults to duckdb


def test_list_get_update_delete(bq: bigquery.Client, dataset_id: str) -> None:
    for name in ("b_table", "a_table", "c_table"):
        bq.create_table(bigquery.Table(f"{PROJECT}.{dataset_id}.{name}", schema=[SchemaField("x", "INT64")]))
    listed = list(bq.list_tables(dataset_id))
    assert [t.table_id for t in listed] == ["a_table", "b_table", "c_table"]
    assert listed[0].table_type == "TABLE" and listed[0].full_table_id == f"{PROJECT}:{dataset_id}.a_table"
    assert [t.table_id for page in bq.list_tables(dataset_id, page_size=2).pages for t in page] == \
        ["a_table", "b_table", "c_table"]

    table = bq.get_table(f"{dataset_id}.a_table")
    table.description = "described"
    table.schema = [SchemaField("x", "INT64", description="the x"), SchemaField("y", "STRING"),
                    SchemaField("z", "INT64", mode="REPEATED")]
    updated = bq.update_table(table, ["description", "schema"])
    assert updated.description == "described"
    assert _shape(updated.schema) == [("x", "INTEGER", "NULLABLE", "the x", []), ("y", "STRING", "NULLABLE", None, []),
                                      ("z", "INTEGER", "REPEATED", None, [])]
    assert bq.insert_rows_json(updated, [{"x": 1, "y": "new column", "z": [1, 2]}]) == []
    assert [dict(r) for r in bq.list_rows(updated)] == [{"x": 1, "y": "new column", "z": [1, 2]}]

    with pytest.raises(gexc.PreconditionFailed):
        bq.update_table(table, ["description"])      # its etag is from before the update

    bq.delete_table(f"{dataset_id}.b_table")
    with pytest.raises(gexc.NotFound, match=f"Table {PROJECT}:{dataset_id}.b_table"):
        bq.get_table(f"{dataset_id}.b_table")
    bq.delete_table(f"{dataset_id}.b_table", not_found_ok=True)
    with pytest.raises(gexc.NotFound):
        bq.delete_table(f"{dataset_id}.b_table")


@pytest.mark.parametrize(("schema", "message"), [
    ([SchemaField("x", "STRING")], "has changed type from INTEGER to STRING"),
    ([SchemaField("x", "INT64", mode="REQUIRED")], "has changed mode from NULLABLE to REQUIRED"),
    ([SchemaField("y", "INT64")], "Field x is missing in new schema"),
    ([SchemaField("x", "INT64"), SchemaField("r", "INT64", mode="REQUIRED")], "Cannot add required fields"),
    ([SchemaField("x", "INT64"), SchemaField("bad.name", "INT64")], "schema.fields"),
])
def test_incompatible_schema_changes_are_refused(bq: bigquery.Client, dataset_id: str, schema, message) -> None:
    table = bq.create_table(bigquery.Table(f"{PROJECT}.{dataset_id}.t", schema=[SchemaField("x", "INT64")]))
    table.schema = schema
    with pytest.raises(gexc.BadRequest, match=message):
        bq.update_table(table, ["schema"])
    assert _shape(bq.get_table(table).schema) == [("x", "INTEGER", "NULLABLE", None, [])]


def test_nested_additions_are_refused_naming_the_field(bq: bigquery.Client, dataset_id: str) -> None:
    record = SchemaField("r", "RECORD", fields=[SchemaField("a", "INT64")])
    table = bq.create_table(bigquery.Table(f"{PROJECT}.{dataset_id}.t", schema=[record]))
    table.schema = [SchemaField("r", "RECORD", fields=[SchemaField("a", "INT64"), SchemaField("b", "INT64")])]
    with pytest.raises(gexc.BadRequest, match="r.b"):
        bq.update_table(table, ["schema"])
    table = bq.get_table(table)
    table.schema = [SchemaField("r", "RECORD", fields=[SchemaField("a", "INT64", description="nested doc")])]
    assert bq.update_table(table, ["schema"]).schema[0].fields[0].description == "nested doc"


def test_errors(bq: bigquery.Client, dataset_id: str, client: TestClient) -> None:
    schema = [SchemaField("x", "INT64")]
    bq.create_table(bigquery.Table(f"{PROJECT}.{dataset_id}.dup", schema=schema))
    with pytest.raises(gexc.Conflict, match="Already Exists"):
        bq.create_table(bigquery.Table(f"{PROJECT}.{dataset_id}.dup", schema=schema))
    with pytest.raises(gexc.Conflict):
        bq.create_table(bigquery.Table(f"{PROJECT}.{dataset_id}.DUP", schema=schema))
    assert bq.create_table(bigquery.Table(f"{PROJECT}.{dataset_id}.dup", schema=schema), exists_ok=True)
    with pytest.raises(gexc.NotFound, match="Dataset"):
        bq.create_table(bigquery.Table(f"{PROJECT}.no_such_dataset_x.t", schema=schema))
    with pytest.raises(gexc.NotFound, match="Table"):
        bq.get_table(f"{dataset_id}.missing")
    with pytest.raises(gexc.BadRequest, match="needs a schema"):
        bq.create_table(f"{PROJECT}.{dataset_id}.no_schema")
    with pytest.raises(gexc.BadRequest, match="reserved"):
        bq.create_table(bigquery.Table(f"{PROJECT}.default.mine", schema=schema))
    with pytest.raises(gexc.BadRequest, match="reserved"):
        bq.delete_table("default.nyc_taxi")
    with pytest.raises(gexc.BadRequest, match="type"):
        bq.create_table(bigquery.Table(f"{PROJECT}.{dataset_id}.bad_type", schema=[SchemaField("x", "INT128")]))
    view = bigquery.Table(f"{PROJECT}.{dataset_id}.v")
    view.view_query = "SELECT 1"
    with pytest.raises(gexc.BadRequest, match="CREATE VIEW"):
        bq.create_table(view)
    for bad in ("a'b", 'a"b', "a`b", "a;b", "x" * 101, "1abc", "a-b"):
        with pytest.raises(gexc.BadRequest, match="Invalid table ID"):
            bq.create_table(bigquery.Table(f"{PROJECT}.{dataset_id}.{bad}", schema=schema))
    for bad in ("a%27b", "a%60b", "x" * 1100, "a%2Fb"):
        answer = client.get(f"{V2}/datasets/{dataset_id}/tables/{bad}")
        assert answer.status_code in (400, 404), answer.text
        assert answer.json()["error"]["errors"][0]["reason"] in ("invalid", "notFound")


def test_tables_made_elsewhere(bq: bigquery.Client, dataset_id: str, duckdb_engine, clickhouse_engine) -> None:
    # A table made by SQL on ClickHouse (the other engine) and a view on DuckDB answer with the engine's columns.
    list(clickhouse_engine.execute(
        f"CREATE TABLE {dataset_id}.ch (a Int32, b Nullable(String), c Array(Int64), d DateTime64(6, 'UTC')) "
        "ENGINE = MergeTree ORDER BY tuple()", query_tag="t-ch-create"))
    list(clickhouse_engine.execute(f"INSERT INTO {dataset_id}.ch VALUES (1, 'x', [1, 2], '2024-01-02 03:04:05')",
                                   query_tag="t-ch-insert"))
    list(duckdb_engine.execute(f"CREATE VIEW {dataset_id}.v AS SELECT 42 AS answer", query_tag="t-dd-view"))
    table = bq.get_table(f"{dataset_id}.ch")
    assert [(f.name, f.field_type) for f in table.schema] == [
        ("a", "INTEGER"), ("b", "STRING"), ("c", "INTEGER"), ("d", "TIMESTAMP")]
    assert table.schema[2].mode == "REPEATED"
    assert table.num_rows == 1 and table.num_bytes and table.num_bytes > 0
    assert [dict(r) for r in bq.list_rows(table)][0]["c"] == [1, 2]
    view = bq.get_table(f"{dataset_id}.v")
    assert view.table_type == "VIEW" and "42" in view.view_query
    assert {t.table_id: t.table_type for t in bq.list_tables(dataset_id)} == {"ch": "TABLE", "v": "VIEW"}
    with pytest.raises(gexc.BadRequest, match="VIEW"):
        list(bq.list_rows(view, selected_fields=[SchemaField("answer", "INT64")]))
    # Describing a table made elsewhere keeps the engine's columns and adds what the engine cannot hold.
    table.description = "from ClickHouse"
    first = table.schema[0]
    table.schema = [SchemaField("a", "INT64", mode=first.mode, description="a doc"), *table.schema[1:]]
    updated = bq.update_table(table, ["description", "schema"])
    assert updated.description == "from ClickHouse" and updated.schema[0].description == "a doc"
    bq.delete_table(view)
    bq.delete_table(table)
    assert not clickhouse_engine.table_exists(dataset_id, "ch")
    assert list(bq.list_tables(dataset_id)) == []


def test_clickhouse_engine_tables(core, bq: bigquery.Client, dataset_id: str, clickhouse_engine,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """BQLITE_BIGQUERY_ENGINE=clickhouse creates tables there (the setting is read per request)."""
    monkeypatch.setattr(core.settings, "bigquery_engine", "clickhouse")
    table = bq.create_table(bigquery.Table(f"{PROJECT}.{dataset_id}.on_ch", schema=EVERY_TYPE))
    assert clickhouse_engine.table_exists(dataset_id, "on_ch")
    assert _shape(bq.get_table(table).schema) == _shape(EVERY_TYPE)


def test_table_from_a_registered_proto(core, bq: bigquery.Client) -> None:
    from bqlite_app.access.principal import LOCAL
    from bqlite_app.schemas.compiler import ProtoFile

    dataset = f"bqproto_{uuid.uuid4().hex[:8]}"
    proto = ProtoFile("person.proto", b"""syntax = "proto3";
        package t;
        import "google/protobuf/timestamp.proto";
        message Person { int64 id = 1; string name = 2; repeated string emails = 3;
                         google.protobuf.Timestamp born = 4; Address home = 5;
                         message Address { string city = 1; } }""")
    registration = core.schemas.register(proto, user=LOCAL, table_name="people", database_name=dataset,
                                         message_type="t.Person")
    schema_id = registration.record.schema_id
    core.schemas.create_tables(schema_id, ["duckdb"], user=LOCAL)
    try:
        table = bq.get_table(f"{dataset}.people")
        assert [(f.name, f.field_type, f.mode) for f in table.schema][:5] == [
            ("id", "INTEGER", "NULLABLE"), ("name", "STRING", "NULLABLE"), ("emails", "STRING", "REPEATED"),
            ("born", "TIMESTAMP", "NULLABLE"), ("home", "RECORD", "NULLABLE")]
        with pytest.raises(gexc.BadRequest, match="registered schema"):
            bq.delete_table(table)
        with pytest.raises(gexc.BadRequest, match="registered schema"):
            bq.delete_dataset(dataset, delete_contents=True)
    finally:
        core.schemas.delete(schema_id, user=LOCAL, drop_tables=True)
        bq.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
