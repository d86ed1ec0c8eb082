"""`bqlite schemas`: the whole life of a schema from a terminal, against the real registry and both engines."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from google.protobuf.internal.encoder import _VarintBytes
from google.protobuf.json_format import MessageToJson

from bqlite_app.schemas.compiler import ProtoFile, compile_schema
from tests.cli.conftest import INGEST_LIMIT, Bqlite

PLACE = """syntax = "proto3";
package rides.common;
message Place { int32 zone = 1; string borough = 2; }
"""
RIDE = """syntax = "proto3";
package rides.v1;
import "google/protobuf/timestamp.proto";
import "common/place.proto";

// A ride, as the dispatch service writes it.
message Ride {
  uint64 ride_id = 1;
  double fare = 2;
  rides.common.Place pickup = 3;
  repeated string tags = 4;
  google.protobuf.Timestamp pickup_time = 5;
}
"""
RIDE_COMPATIBLE = RIDE.replace("pickup_time = 5;", "pickup_time = 5;\n  double tip = 6;")
RIDE_BREAKING = RIDE.replace("double fare = 2;", "string fare = 2;")


@pytest.fixture
def protos(tmp_path: Path) -> Path:
    """A main file importing another from a subfolder, as a project lays them out."""
    (tmp_path / "common").mkdir()
    (tmp_path / "common/place.proto").write_text(PLACE)
    (tmp_path / "ride.proto").write_text(RIDE)
    (tmp_path / "ride_v2.proto").write_text(RIDE_COMPATIBLE)
    (tmp_path / "ride_bad.proto").write_text(RIDE_BREAKING)
    return tmp_path


def rides(count: int) -> list:
    compiled = compile_schema(ProtoFile("ride.proto", RIDE.encode()), [ProtoFile("common/place.proto", PLACE.encode())])
    ride_class = compiled.message_class("rides.v1.Ride")
    messages = []
    for i in range(count):
        ride = ride_class(ride_id=i, fare=10 + i % 7, tags=["airport", "night"][: i % 3])
        ride.pickup.zone, ride.pickup.borough = i % 265, "Queens"
        ride.pickup_time.seconds = 1_700_000_000 + i
        messages.append(ride)
    return messages


def delimited(messages: list) -> bytes:
    return b"".join(_VarintBytes(len(data)) + data for data in (m.SerializeToString() for m in messages))


def register(bqlite: Bqlite, protos: Path, table: str, proto: str = "ride.proto"):
    return bqlite("schemas", "register", str(protos / proto), "--table", table, "--import",
                  str(protos / "common/place.proto"), "--description", "rides from the CLI")


def schema_id_of(bqlite: Bqlite, table: str) -> str:
    listed = json.loads(bqlite("schemas", "list", "--json").stdout)["schemas"]
    return next(s["schema_id"] for s in listed if s["table_name"] == table)


def count_rows(bqlite: Bqlite, table: str, engine: str) -> int:
    result = bqlite("query", f"SELECT count(*) AS n FROM bigquery_lite.{table}", "-e", engine, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)[0]["n"]


def test_register_show_diff_create_ingest_query_delete(bqlite: Bqlite, protos: Path, tmp_path: Path):
    table = f"rides_{uuid.uuid4().hex[:8]}"
    registered = register(bqlite, protos, table)
    assert registered.exit_code == 0, registered.stderr
    assert "version 1" in registered.stdout and "5 top-level fields" in registered.stdout
    schema_id = schema_id_of(bqlite, table)
    assert table in bqlite("schemas", "list").stdout

    shown = bqlite("schemas", "show", schema_id).stdout
    for text in ("rides.v1.Ride", "pickup = 3", "borough = 2", "REPEATED", "duckdb DDL", "clickhouse DDL",
                 "MergeTree", "Initial version."):
        assert text in shown, text
    assert bqlite("schemas", "show", schema_id, "--ddl", "duckdb").stdout.startswith("CREATE TABLE")
    assert "message Ride" in bqlite("schemas", "show", schema_id, "--source").stdout

    import_option = ["--import", str(protos / "common/place.proto")]
    compatible = bqlite("schemas", "diff", schema_id, str(protos / "ride_v2.proto"), *import_option)
    assert compatible.exit_code == 0 and "tip" in compatible.stdout and "version 2" in compatible.stdout
    breaking = bqlite("schemas", "diff", schema_id, str(protos / "ride_bad.proto"), *import_option)
    assert breaking.exit_code == 1 and "breaking" in breaking.stdout and "fare" in breaking.stdout
    same = bqlite("schemas", "diff", schema_id, str(protos / "ride.proto"), *import_option)
    assert same.exit_code == 0 and "No changes" in same.stdout

    created = bqlite("schemas", "create-table", schema_id)
    assert created.exit_code == 0 and created.stdout.count("created") == 2
    data = tmp_path / "rides.bin"
    data.write_bytes(delimited(rides(20_000)))
    ingested = bqlite("schemas", "ingest", schema_id, str(data))
    assert ingested.exit_code == 0, ingested.stderr
    assert "Ingested 20,000 rows" in ingested.stdout and "rows/s" in ingested.stdout
    assert count_rows(bqlite, table, "duckdb") == count_rows(bqlite, table, "clickhouse") == 20_000

    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text("\n".join(MessageToJson(m, indent=None) for m in rides(3)) + "\n")
    assert bqlite("schemas", "ingest", schema_id, str(jsonl), "--engines", "duckdb").exit_code == 0
    piped = bqlite("schemas", "ingest", schema_id, "-", "--engines", "duckdb", input=delimited(rides(2)))
    assert piped.exit_code == 0, piped.stderr
    assert count_rows(bqlite, table, "duckdb") == 20_005

    assert "version 2" in register(bqlite, protos, table, "ride_v2.proto").stdout
    assert "Added column(s) tip" in bqlite("schemas", "show", schema_id).stdout

    deleted = bqlite("schemas", "delete", schema_id, "--drop-tables")
    assert deleted.exit_code == 0 and "deleted" in deleted.stdout
    assert table not in bqlite("schemas", "list").stdout
    assert bqlite("query", f"SELECT 1 FROM bigquery_lite.{table}").exit_code == 1


def test_bad_data_inserts_nothing(bqlite: Bqlite, protos: Path, tmp_path: Path):
    table = f"rides_{uuid.uuid4().hex[:8]}"
    register(bqlite, protos, table)
    schema_id = schema_id_of(bqlite, table)
    bqlite("schemas", "create-table", schema_id)
    body = delimited(rides(50))
    bad = tmp_path / "bad.bin"
    bad.write_bytes(body + b"\x0a\xff\xff")
    result = bqlite("schemas", "ingest", schema_id, str(bad))
    assert result.exit_code == 4 and "PROTOBUF_DECODE_FAILED" in result.stderr and "message 50" in result.stderr
    assert count_rows(bqlite, table, "duckdb") == count_rows(bqlite, table, "clickhouse") == 0


def test_a_body_over_the_limit_is_refused_before_upload(bqlite: Bqlite, protos: Path, tmp_path: Path):
    table = f"rides_{uuid.uuid4().hex[:8]}"
    register(bqlite, protos, table)
    schema_id = schema_id_of(bqlite, table)
    bqlite("schemas", "create-table", schema_id)
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as sparse:
        sparse.truncate(INGEST_LIMIT + 1)
    result = bqlite("schemas", "ingest", schema_id, str(huge))
    assert result.exit_code == 4 and "PAYLOAD_TOO_LARGE" in result.stderr
    assert count_rows(bqlite, table, "duckdb") == 0


def test_schema_errors(bqlite: Bqlite, protos: Path, tmp_path: Path):
    broken = tmp_path / "broken.proto"
    broken.write_text('syntax = "proto3";\nmessage Broken {\n  int32 id = 1\n}\n')
    result = bqlite("schemas", "register", str(broken), "--table", "broken")
    assert result.exit_code == 4 and "SCHEMA_PARSE_FAILED" in result.stderr and "broken.proto:" in result.stderr
    missing_import = bqlite("schemas", "register", str(protos / "ride.proto"), "--table", "no_import")
    assert missing_import.exit_code == 4 and "common/place.proto" in missing_import.stderr
    bad_name = register(bqlite, protos, "1-bad")
    assert bad_name.exit_code == 4 and "VALIDATION_FAILED" in bad_name.stderr
    for args in (["show", "sch_missing"], ["create-table", "sch_missing"], ["delete", "sch_missing"],
                 ["diff", "sch_missing", str(protos / "ride.proto")]):
        result = bqlite("schemas", *args)
        assert result.exit_code == 4 and "SCHEMA_NOT_FOUND" in result.stderr, args
    assert bqlite("schemas", "register", str(tmp_path / "nope.proto"), "--table", "t").exit_code == 2
    assert bqlite("schemas", "ingest", "sch_missing", str(tmp_path / "nope.bin")).exit_code == 2


def test_create_table_reports_an_existing_table_when_asked_to(bqlite: Bqlite, protos: Path):
    table = f"rides_{uuid.uuid4().hex[:8]}"
    register(bqlite, protos, table)
    schema_id = schema_id_of(bqlite, table)
    assert bqlite("schemas", "create-table", schema_id, "--engines", "duckdb").exit_code == 0
    again = bqlite("schemas", "create-table", schema_id, "--engines", "duckdb", "--fail-if-exists")
    assert again.exit_code == 1 and "already exists" in again.stdout
    kept = bqlite("schemas", "create-table", schema_id, "--engines", "duckdb")
    assert kept.exit_code == 0 and "exists" in kept.stdout
