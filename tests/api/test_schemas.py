"""The Schemas section of docs/api.md, end to end through the REST API on both engines."""

import uuid

import pyarrow as pa
import pytest
from google.protobuf.internal.encoder import _VarintBytes

from bqlite_app.schemas.compiler import ProtoFile, compile_schema
from tests.api.test_queries import assert_error
from tests.conftest import embedded_only, run_job

TRIP_V1 = b"""
syntax = "proto3";
package trips.v1;
import "google/protobuf/timestamp.proto";

enum Payment { PAYMENT_UNSPECIFIED = 0; CARD = 1; CASH = 2; }

message Place { int32 zone = 1; string borough = 2; }

message Trip {
  uint64 trip_id = 1;
  double fare = 2;
  Payment payment = 3;
  Place pickup = 4;
  repeated string tags = 5;
  google.protobuf.Timestamp pickup_time = 6;
}
"""

TRIP_V2_COMPATIBLE = TRIP_V1.replace(b"google.protobuf.Timestamp pickup_time = 6;",
                                     b"google.protobuf.Timestamp pickup_time = 6;\n  double tip = 7;")
TRIP_V2_BREAKING = TRIP_V1.replace(b"double fare = 2;", b"string fare = 2;").replace(b"repeated string tags = 5;", b"")


def unique_table() -> str:
    return f"trips_{uuid.uuid4().hex[:8]}"


def register(client, content: bytes = TRIP_V1, table: str | None = None, **fields):
    files = {"file": ("trip.proto", content, "text/plain")}
    data = {"table_name": table or unique_table(), "message_type": "trips.v1.Trip", **fields}
    return client.post("/schemas/register", files=files, data=data)


def trips_body(count: int) -> bytes:
    trip_class = compile_schema(ProtoFile("trip.proto", TRIP_V1)).message_class("trips.v1.Trip")
    body = bytearray()
    for i in range(count):
        trip = trip_class(trip_id=2**64 - 1 - i, fare=10.5 + i, payment=1 + i % 2, tags=["a", "b\n"][: i % 3])
        trip.pickup.zone, trip.pickup.borough = 100 + i, "Manhattan"
        trip.pickup_time.seconds = 1_700_000_000 + i
        payload = trip.SerializeToString()
        body += _VarintBytes(len(payload)) + payload
    return bytes(body)


@pytest.fixture
def schema(client):
    answer = register(client)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_register_answers_the_contract_fields(client):
    table = unique_table()
    body = register(client, table=table, description="NYC trips").json()
    assert body["table_name"] == table and body["database_name"] == "bigquery_lite"
    assert body["version"] == 1 and body["field_count"] == 6
    assert body["schema_id"] and body["fingerprint"] and body["created_at"].endswith("+00:00")


def test_same_content_is_idempotent_and_compatible_change_is_a_new_version(client, schema):
    table = schema["table_name"]
    again = register(client, table=table)
    assert again.status_code == 200
    assert (again.json()["schema_id"], again.json()["version"]) == (schema["schema_id"], 1)
    newer = register(client, TRIP_V2_COMPATIBLE, table=table)
    assert newer.status_code == 201 and newer.json()["version"] == 2
    detail = client.get(f"/schemas/{schema['schema_id']}").json()
    assert [v["version"] for v in detail["versions"]] == [1, 2]
    assert any("tip" in change for change in detail["versions"][1]["changes"])


def test_breaking_change_is_refused_with_every_reason(client, schema):
    body = assert_error(register(client, TRIP_V2_BREAKING, table=schema["table_name"]), 409, "SCHEMA_INCOMPATIBLE")
    assert "fare" in body["detail"] and "tags" in body["detail"]
    assert client.get(f"/schemas/{schema['schema_id']}").json()["version"] == 1


def diff(client, schema_id: str, content: bytes, **fields):
    return client.post(f"/schemas/{schema_id}/diff", files={"file": ("trip.proto", content, "text/plain")},
                       data=fields)


def test_diff_previews_a_registration_without_changing_anything(client, schema):
    schema_id = schema["schema_id"]
    same = diff(client, schema_id, TRIP_V1).json()
    assert same["unchanged"] and same["compatible"] and same["next_version"] == 1 and same["changes"] == []
    compatible = diff(client, schema_id, TRIP_V2_COMPATIBLE).json()
    assert compatible["message_type"] == "trips.v1.Trip"
    assert (compatible["unchanged"], compatible["compatible"], compatible["next_version"]) == (False, True, 2)
    assert compatible["columns_added"] == ["tip"] and any("tip" in change for change in compatible["changes"])
    breaking = diff(client, schema_id, TRIP_V2_BREAKING).json()
    assert not breaking["compatible"] and breaking["next_version"] is None
    assert len(breaking["breaking"]) == 2 and set(breaking["breaking"]) <= set(breaking["changes"])
    assert client.get(f"/schemas/{schema_id}").json()["version"] == 1


def test_diff_errors(client, schema):
    assert_error(diff(client, "sch_missing", TRIP_V1), 404, "SCHEMA_NOT_FOUND")
    assert_error(diff(client, schema["schema_id"], b"message {"), 422, "SCHEMA_PARSE_FAILED")
    assert_error(diff(client, schema["schema_id"], TRIP_V1, message_type="trips.v1.Nope"), 422, "VALIDATION_FAILED")


def test_compiler_errors_name_file_line_and_column(client):
    broken = b'syntax = "proto3";\nmessage Trip {\n  int32 id = 1\n}\n'
    body = assert_error(register(client, broken), 422, "SCHEMA_PARSE_FAILED")
    assert "trip.proto:4:" in body["detail"] or "trip.proto:3:" in body["detail"]


def test_bad_registration_fields(client):
    assert "table_name" in assert_error(
        client.post("/schemas/register", files={"file": ("trip.proto", TRIP_V1)}), 422, "VALIDATION_FAILED")["detail"]
    assert_error(register(client, table="1bad-name"), 422, "VALIDATION_FAILED")
    two = TRIP_V1 + b"\nmessage Other { int32 x = 1; }\n"
    assert "message_type" in assert_error(register(client, two, message_type=""), 422, "VALIDATION_FAILED")["detail"]
    assert register(client, two, message_type="trips.v1.Other").status_code == 201


def test_detail_has_fields_ddl_versions_and_source(client, schema):
    detail = client.get(f"/schemas/{schema['schema_id']}").json()
    names = {f["name"]: f for f in detail["fields"]}
    assert names["tags"]["mode"] == "REPEATED"
    assert [f["name"] for f in names["pickup"]["fields"]] == ["zone", "borough"]
    assert "CREATE TABLE" in detail["ddl"]["duckdb"] and "MergeTree" in detail["ddl"]["clickhouse"]
    assert "message Trip" in detail["proto_source"]
    listed = client.get("/schemas").json()
    assert schema["schema_id"] in [s["schema_id"] for s in listed["schemas"]] and listed["total"] >= 1


def test_unknown_schema_everywhere(client):
    for response in (client.get("/schemas/sch_missing"), client.delete("/schemas/sch_missing"),
                     client.post("/schemas/sch_missing/tables/create", json={}),
                     client.post("/schemas/sch_missing/ingest", content=b"")):
        assert_error(response, 404, "SCHEMA_NOT_FOUND")


def test_ingest_before_any_table_is_table_not_found(client, schema):
    sid = schema["schema_id"]
    body = assert_error(client.post(f"/schemas/{sid}/ingest", content=trips_body(2)), 409, "TABLE_NOT_FOUND")
    # The core says what to do; the REST face adds the route that does it.
    assert f"create its tables first (POST /schemas/{sid}/tables/create)" in body["detail"]


def test_create_tables_ingest_and_query_on_both_engines(client, schema):
    sid = schema["schema_id"]
    created = client.post(f"/schemas/{sid}/tables/create", json={"engines": ["duckdb", "clickhouse"]}).json()
    assert all(r["created"] and r["error"] is None for r in created["results"].values())
    answer = client.post(f"/schemas/{sid}/ingest", params={"format": "delimited"}, content=trips_body(50))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["rows_ingested"] == 50 and body["engines"] == {"duckdb": {"rows": 50}, "clickhouse": {"rows": 50}}
    table = f"bigquery_lite.{schema['table_name']}"
    for engine, nested in (("duckdb", "pickup.zone"), ("clickhouse", "pickup.zone")):
        job = run_job(client, f"SELECT count(*), max(trip_id), sum({nested}), max(payment) FROM {table}", engine)
        assert job["status"] == "completed", job["error"]
        row = client.get(f"/jobs/{job['job_id']}/result").json()["rows"][0]
        assert row[0] == 50 and row[1] == str(2**64 - 1) and row[2] == sum(range(100, 150)) and row[3] == "CASH"
    assert {t["engine"] for t in client.get(f"/schemas/{sid}").json()["tables"]} == {"duckdb", "clickhouse"}


def test_a_bad_message_inserts_nothing(client, schema):
    sid = schema["schema_id"]
    client.post(f"/schemas/{sid}/tables/create", json={"engines": ["duckdb"]})
    good = trips_body(10)
    body = assert_error(client.post(f"/schemas/{sid}/ingest", content=good + b"\x05\x08"), 422,
                        "PROTOBUF_DECODE_FAILED")
    assert "10" in body["detail"] and str(len(good)) in body["detail"]
    job = run_job(client, f"SELECT count(*) FROM bigquery_lite.{schema['table_name']}")
    assert client.get(f"/jobs/{job['job_id']}/result").json()["rows"] == [[0]]


def test_body_over_the_limit(client, core, schema, monkeypatch):
    client.post(f"/schemas/{schema['schema_id']}/tables/create", json={"engines": ["duckdb"]})
    monkeypatch.setattr(core.settings, "max_ingest_bytes", 100)
    assert_error(client.post(f"/schemas/{schema['schema_id']}/ingest", content=trips_body(20)), 413,
                 "PAYLOAD_TOO_LARGE")


def test_compatible_change_migrates_existing_tables(client, schema):
    sid = schema["schema_id"]
    client.post(f"/schemas/{sid}/tables/create", json={"engines": ["duckdb", "clickhouse"]})
    register(client, TRIP_V2_COMPATIBLE, table=schema["table_name"])
    for engine in ("duckdb", "clickhouse"):
        job = run_job(client, f"SELECT tip FROM bigquery_lite.{schema['table_name']}", engine)
        assert job["status"] == "completed", job["error"]


def test_delete_with_and_without_tables(client, schema):
    sid = schema["schema_id"]
    client.post(f"/schemas/{sid}/tables/create", json={"engines": ["duckdb"]})
    assert "deleted" in client.delete(f"/schemas/{sid}", params={"drop_tables": True}).json()["message"]
    assert_error(client.get(f"/schemas/{sid}"), 404, "SCHEMA_NOT_FOUND")
    job = run_job(client, f"SELECT * FROM bigquery_lite.{schema['table_name']}")
    assert job["status"] == "failed"


@embedded_only   # a server cannot read our local file; server mode decodes in Python (docs/clickhouse.md)
def test_supported_shapes_take_the_native_decoder_with_the_same_rows(core, tmp_path):
    from bqlite_app.schemas.ingest import decode_batches
    from bqlite_app.schemas.native import native_batches
    from bqlite_app.schemas.translate import columns_for

    compiled = compile_schema(ProtoFile("trip.proto", TRIP_V1))
    columns = columns_for(compiled.descriptor("trips.v1.Trip"))
    body = tmp_path / "trips.bin"
    body.write_bytes(trips_body(30))
    native = native_batches(core.engines["clickhouse"], compiled, "trips.v1.Trip", body, "delimited", columns,
                            work_dir=tmp_path / "protos")
    assert native is not None
    with body.open("rb") as source:
        python = list(decode_batches(compiled, "trips.v1.Trip", source, "delimited", max_depth=6))
    import pyarrow as pa

    assert pa.Table.from_batches(list(native)).to_pylist() == pa.Table.from_batches(python).to_pylist()


# -- issue 9: upload names, caps, reserved datasets, table ownership, deep types, field_count ------------------------


def test_an_upload_name_never_reaches_protoc_as_an_argument_file(client, tmp_path):
    """The attack of issue 9: protoc expanded "@opts" into the import "opts", which ran /bin/sh as a plugin."""
    marker = tmp_path / "marker"
    options = f"--plugin=protoc-gen-x=/bin/sh\n--x_out=;touch {marker};#:{tmp_path}\na.proto\n".encode()
    proto = b'syntax = "proto3";\nmessage A { int32 x = 1; }\n'
    files = [("file", ("@opts", proto, "text/plain")), ("imports", ("opts", options, "text/plain")),
             ("imports", ("a.proto", proto, "text/plain"))]
    body = assert_error(client.post("/schemas/register", files=files, data={"table_name": unique_table()}),
                        422, "VALIDATION_FAILED")
    assert "'@opts'" in body["detail"]
    assert not marker.exists()


@pytest.mark.parametrize(("main", "imported"), [("-I.proto", "a.proto"), ("trip.proto", "../a.proto"),
                                                ("trip.proto", "opts"), ("trip.proto", "x/./a.proto")])
def test_bad_upload_names_are_validation_failed(client, main, imported):
    files = [("file", (main, TRIP_V1, "text/plain")), ("imports", (imported, b"", "text/plain"))]
    body = assert_error(client.post("/schemas/register", files=files, data={"table_name": unique_table()}),
                        422, "VALIDATION_FAILED")
    assert "invalid file name" in body["detail"]


def test_at_most_100_imports(client):
    files = [("file", ("trip.proto", TRIP_V1, "text/plain"))]
    files += [("imports", (f"i{n}.proto", b'syntax = "proto3";\n', "text/plain")) for n in range(101)]
    body = assert_error(client.post("/schemas/register", files=files, data={"table_name": unique_table()}),
                        422, "VALIDATION_FAILED")
    assert "at most 100" in body["detail"]


@pytest.mark.parametrize("dataset", ["main", "default", "system", "information_schema", "INFORMATION_SCHEMA",
                                     "pg_catalog", "temp", "Main", "DEFAULT"])
def test_reserved_datasets_cannot_hold_a_schema(client, dataset):
    body = assert_error(register(client, table="nyc_taxi", database_name=dataset), 409, "DATASET_RESERVED")
    assert "reserved" in body["detail"]
    assert all(s["database_name"] != dataset for s in client.get("/schemas").json()["schemas"])


def test_database_name_is_an_identifier(client):
    assert "database_name" in assert_error(register(client, database_name="a-b"), 422, "VALIDATION_FAILED")["detail"]


@pytest.mark.parametrize("engine_name", ["duckdb", "clickhouse"])
def test_a_table_the_registry_did_not_create_is_never_taken_over_replaced_or_dropped(client, request, engine_name):
    from engines.types import Column, Scalar

    engine = request.getfixturevalue(f"{engine_name}_engine")
    dataset, table = f"hand_{uuid.uuid4().hex[:8]}", unique_table()
    engine.create_table(dataset, table, [Column("note", Scalar("string"))])
    engine.insert_arrow(dataset, table, pa.table({"note": ["made by hand"]}))
    sid = register(client, table=table, database_name=dataset).json()["schema_id"]
    for options in ({}, {"replace": True}, {"if_not_exists": False}):
        body = assert_error(client.post(f"/schemas/{sid}/tables/create", json={"engines": [engine_name], **options}),
                            409, "DATASET_RESERVED")
        assert "already exists" in body["detail"] and "not owned by this schema" in body["detail"]
    assert_error(client.post(f"/schemas/{sid}/ingest", params={"engines": engine_name}, content=trips_body(1)),
                 409, "TABLE_NOT_FOUND")
    client.delete(f"/schemas/{sid}", params={"drop_tables": True})
    job = run_job(client, f"SELECT note FROM {dataset}.{table}", engine_name)
    assert job["status"] == "completed", job["error"]
    assert client.get(f"/jobs/{job['job_id']}/result").json()["rows"] == [["made by hand"]]


def test_tables_the_registry_created_can_be_replaced_and_dropped(client, schema):
    sid, table = schema["schema_id"], f"bigquery_lite.{schema['table_name']}"
    assert client.post(f"/schemas/{sid}/tables/create", json={"engines": ["duckdb"]}).json()["results"]["duckdb"][
        "created"]
    client.post(f"/schemas/{sid}/ingest", params={"engines": "duckdb"}, content=trips_body(3))
    replaced = client.post(f"/schemas/{sid}/tables/create", json={"engines": ["duckdb"], "replace": True})
    assert replaced.status_code == 200 and replaced.json()["results"]["duckdb"]["created"], replaced.text
    job = run_job(client, f"SELECT count(*) FROM {table}")
    assert client.get(f"/jobs/{job['job_id']}/result").json()["rows"] == [[0]]
    message = client.delete(f"/schemas/{sid}", params={"drop_tables": True}).json()["message"]
    assert f"dropped duckdb:{table}" in message
    assert run_job(client, f"SELECT * FROM {table}")["status"] == "failed"


def chained_messages(count: int) -> bytes:
    """``count`` message types, each holding the next: a chain as deep as the file is long."""
    body = "".join(f"message M{i} {{ M{i + 1} next = 1; }}\n" for i in range(count - 1))
    return f'syntax = "proto3";\npackage deep;\n{body}message M{count - 1} {{ int32 x = 1; }}\n'.encode()


def test_1500_chained_message_types_are_a_parse_error_not_a_500(client):
    files = {"file": ("deep.proto", chained_messages(1500), "text/plain")}
    body = assert_error(client.post("/schemas/register", files=files,
                                    data={"table_name": unique_table(), "message_type": "deep.M0"}),
                        422, "SCHEMA_PARSE_FAILED")
    assert "nest too deeply" in body["detail"] and "deep.M0" in body["detail"]


def test_field_count_counts_top_level_fields_in_register_and_list(client):
    proto = b"""syntax = "proto3";
package fc.v1;
message Inner { int32 a = 1; int32 b = 2; }
message Event { int64 id = 1; Inner inner = 2; oneof how { string walk = 3; int32 ride = 4; } }
"""
    registered = register(client, proto, message_type="fc.v1.Event")
    assert registered.status_code == 201, registered.text
    assert registered.json()["field_count"] == 4   # id, inner, walk, ride; not the how_case column
    listed = {s["schema_id"]: s for s in client.get("/schemas").json()["schemas"]}
    assert listed[registered.json()["schema_id"]]["field_count"] == 4
    again = register(client, proto, table=registered.json()["table_name"], message_type="fc.v1.Event")
    assert again.status_code == 200 and again.json()["field_count"] == 4


def test_a_locked_database_answers_503_for_the_registry_too(client, core):
    from tests.api.test_queries import _exclusive_lock

    with _exclusive_lock(core):
        response = register(client)
        listing = client.get("/schemas")
    body = assert_error(response, 503, "DATABASE_BUSY")
    assert "schema registry" in body["detail"] and response.headers["Retry-After"]
    assert listing.status_code == 200          # reads go on (WAL)
    assert register(client).status_code == 201


def test_proto_uploads_are_limited_by_the_setting(client, core, monkeypatch):
    monkeypatch.setattr(core.settings, "max_proto_bytes", 16)
    proto = b'syntax = "proto3";\nmessage Small { int64 id = 1; }\n'
    answer = client.post("/schemas/register", files={"file": ("small.proto", proto)}, data={"table_name": "too_big"})
    assert answer.status_code == 413, answer.text
    assert "limited to 16 bytes" in answer.json()["detail"]


def test_the_proto_size_setting_reads_its_environment_variable(monkeypatch):
    from bqlite_app.settings import Settings

    assert Settings().max_proto_bytes == 10 * 1024**2
    monkeypatch.setenv("BQLITE_MAX_PROTO_BYTES", "2048")
    assert Settings().max_proto_bytes == 2048
