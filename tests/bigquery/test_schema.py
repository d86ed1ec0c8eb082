"""BigQuery TableFieldSchema <-> neutral columns <-> Arrow, and the engines' DDL for the types BigQuery adds."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from bqlite_app.bigquery.schema import columns_to_fields, fields_to_columns, normalize_fields
from bqlite_app.bigquery.schema_arrow import arrow_to_fields, fields_to_arrow
from bqlite_app.bigquery.schema_proto import message_to_fields
from bqlite_app.errors import ValidationFailed
from bqlite_app.schemas.compiler import ProtoFile, compile_schema
from bqlite_app.schemas.translate import columns_for
from engines import _ddl_clickhouse, _ddl_duckdb
from engines.types import Column, Decimal, Enum, Interval, ListOf, MapOf, Scalar, Struct, Timestamp


def f(name: str, kind: str, mode: str = "NULLABLE", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "mode": mode, **extra}


EVERY_TYPE = [
    f("i", "INTEGER", "REQUIRED"), f("i64", "INT64"), f("fl", "FLOAT"), f("f64", "FLOAT64"),
    f("num", "NUMERIC"), f("num_p", "NUMERIC", precision="10", scale="2"), f("big", "BIGNUMERIC"),
    f("b", "BOOLEAN"), f("b2", "BOOL"), f("s", "STRING"), f("by", "BYTES"), f("ts", "TIMESTAMP"), f("d", "DATE"),
    f("t", "TIME"), f("dt", "DATETIME"), f("j", "JSON"), f("g", "GEOGRAPHY"), f("iv", "INTERVAL"),
    f("tags", "STRING", "REPEATED"),
    f("rec", "RECORD", fields=[f("x", "INTEGER", "REQUIRED"), f("inner", "STRUCT", fields=[f("y", "DATE")])]),
    f("recs", "RECORD", "REPEATED", fields=[f("k", "STRING"), f("v", "FLOAT", "REPEATED")]),
]


def test_every_bigquery_type_maps_to_a_neutral_column() -> None:
    columns = fields_to_columns(EVERY_TYPE)
    assert [c.type for c in columns] == [
        Scalar("int64"), Scalar("int64"), Scalar("float64"), Scalar("float64"),
        Decimal(38, 9), Decimal(10, 2), Decimal(76, 38),
        Scalar("bool"), Scalar("bool"), Scalar("string"), Scalar("binary"), Timestamp(), Scalar("date"),
        Scalar("time"), Timestamp(tz=None), Scalar("json"), Scalar("string"), Interval(),
        ListOf(Scalar("string")),
        Struct((Column("x", Scalar("int64"), nullable=False),
                Column("inner", Struct((Column("y", Scalar("date")),))))),
        ListOf(Struct((Column("k", Scalar("string")), Column("v", ListOf(Scalar("float64")), nullable=False)))),
    ]
    assert [c.nullable for c in columns][:2] == [False, True]
    assert columns[-2].nullable and not columns[-1].nullable   # REPEATED is never null


def test_columns_back_to_fields_use_canonical_names() -> None:
    fields = columns_to_fields(fields_to_columns(EVERY_TYPE))
    by_name = {field["name"]: field for field in fields}
    assert by_name["i"] == f("i", "INTEGER", "REQUIRED")
    assert by_name["i64"]["type"] == "INTEGER" and by_name["f64"]["type"] == "FLOAT"
    assert by_name["num"] == f("num", "NUMERIC")
    assert by_name["num_p"] == f("num_p", "NUMERIC", precision="10", scale="2") | {"mode": "NULLABLE"}
    assert by_name["big"]["type"] == "BIGNUMERIC" and "precision" not in by_name["big"]
    assert by_name["b2"]["type"] == "BOOLEAN" and by_name["dt"]["type"] == "DATETIME"
    assert by_name["g"]["type"] == "STRING"   # WKT text: the engines have no geography type
    assert by_name["tags"] == f("tags", "STRING", "REPEATED")
    assert by_name["rec"]["fields"][1] == f("inner", "RECORD", fields=[f("y", "DATE")])
    assert by_name["recs"]["mode"] == "REPEATED" and by_name["recs"]["fields"][1]["mode"] == "REPEATED"


def test_normalize_fields_echoes_what_bigquery_answers() -> None:
    answer = normalize_fields([{"name": "a", "type": "int64"}, {"name": "r", "type": "STRUCT", "mode": "repeated",
                                                                "fields": [{"name": "x", "type": "BOOL"}]}])
    assert answer == [f("a", "INTEGER"), f("r", "RECORD", "REPEATED", fields=[f("x", "BOOLEAN")])]


@pytest.mark.parametrize(("fields", "message"), [
    ([], "non-empty"),
    ([{"name": "a", "type": "VARCHAR"}], "schema.fields[0] (a): unsupported type 'VARCHAR'"),
    ([{"name": "a", "type": "STRING", "mode": "OPTIONAL"}], "invalid mode"),
    ([{"name": "a", "type": "RECORD"}], "schema.fields[0].fields (a)"),
    ([{"name": "a", "type": "STRING"}, {"name": "A", "type": "INTEGER"}], "duplicate field name 'A'"),
    ([{"name": "a.b", "type": "STRING"}], "invalid field name"),
    ([{"name": "", "type": "STRING"}], "invalid field name"),
    ([{"type": "STRING"}], "invalid field name"),
    (["a"], "must be an object"),
    ([{"name": "a", "type": "STRING", "fields": [{"name": "b", "type": "STRING"}]}], "only a RECORD has fields"),
    ([{"name": "a", "type": "NUMERIC", "precision": "50", "scale": "2"}], "invalid NUMERIC(50, 2)"),
    ([{"name": "a", "type": "BIGNUMERIC", "precision": "10", "scale": "20"}], "invalid BIGNUMERIC"),
    ([{"name": "a", "type": "NUMERIC", "scale": "2"}], "scale needs a precision"),
    ([{"name": "a", "type": "INTEGER", "precision": "3"}], "apply to NUMERIC and BIGNUMERIC only"),
    ([{"name": "r", "type": "RECORD", "fields": [{"name": "ok", "type": "STRING"}, {"name": "x", "type": "NOPE"}]}],
     "schema.fields[0].fields[1] (r.x): unsupported type 'NOPE'"),
])
def test_bad_schemas_name_the_field(fields: Any, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        fields_to_columns(fields)
    assert message in str(caught.value)


def test_records_nest_at_most_fifteen_levels() -> None:
    field: dict[str, Any] = f("leaf", "STRING")
    for level in range(15):
        field = f(f"r{level}", "RECORD", fields=[field])
    with pytest.raises(ValidationFailed, match="nest at most 15"):
        fields_to_columns([field])
    fields_to_columns([field["fields"][0]])


def test_arrow_schema_round_trips_json_and_geography() -> None:
    fields = normalize_fields(EVERY_TYPE)
    schema = fields_to_arrow(fields)
    assert schema.field("big").type == pa.decimal256(76, 38)
    assert schema.field("ts").type == pa.timestamp("us", tz="UTC") and schema.field("dt").type == pa.timestamp("us")
    assert schema.field("t").type == pa.time64("us") and schema.field("iv").type == pa.duration("us")
    assert not schema.field("i").nullable and not schema.field("tags").nullable
    back = arrow_to_fields(schema)
    for mine, theirs in zip(back, fields, strict=True):
        expected = {k: v for k, v in theirs.items() if k not in ("precision", "scale")}
        assert mine == expected


def test_duckdb_arrow_narrows_bignumeric_like_its_ddl() -> None:
    schema = fields_to_arrow([f("big", "BIGNUMERIC"), f("num", "NUMERIC")], engine="duckdb")
    assert schema.field("big").type == pa.decimal128(38, 19)
    assert schema.field("num").type == pa.decimal128(38, 9)
    assert _ddl_duckdb.render_type(Decimal(76, 38)) == "DECIMAL(38, 19)"
    assert fields_to_arrow([f("big", "BIGNUMERIC")], engine="clickhouse").field("big").type == pa.decimal256(76, 38)


@pytest.mark.parametrize(("arrow", "expected"), [
    (pa.int8(), "INTEGER"), (pa.int16(), "INTEGER"), (pa.int32(), "INTEGER"), (pa.uint8(), "INTEGER"),
    (pa.uint16(), "INTEGER"), (pa.uint32(), "INTEGER"), (pa.uint64(), "INTEGER"),
    (pa.float16(), "FLOAT"), (pa.float32(), "FLOAT"), (pa.float64(), "FLOAT"),
    (pa.large_string(), "STRING"), (pa.string_view(), "STRING"), (pa.large_binary(), "BYTES"),
    (pa.binary(4), "BYTES"), (pa.decimal128(38, 9), "NUMERIC"), (pa.decimal128(10, 2), "NUMERIC"),
    (pa.decimal128(38, 19), "BIGNUMERIC"), (pa.decimal256(76, 38), "BIGNUMERIC"),
    (pa.decimal128(38, 0), "INTEGER"),   # DuckDB's HUGEINT, the type of SUM(BIGINT)
    (pa.timestamp("s", tz="UTC"), "TIMESTAMP"), (pa.timestamp("ms", tz="Europe/Paris"), "TIMESTAMP"),
    (pa.timestamp("ns", tz="UTC"), "TIMESTAMP"), (pa.timestamp("s"), "DATETIME"), (pa.timestamp("ns"), "DATETIME"),
    (pa.time32("s"), "TIME"), (pa.time64("ns"), "TIME"), (pa.date32(), "DATE"), (pa.date64(), "DATE"),
    (pa.duration("us"), "INTERVAL"), (pa.month_day_nano_interval(), "INTERVAL"), (pa.null(), "INTEGER"),
    (pa.dictionary(pa.int8(), pa.string()), "STRING"), (pa.dictionary(pa.uint16(), pa.int64()), "INTEGER"),
])
def test_engine_arrow_types_have_a_bigquery_type(arrow: pa.DataType, expected: str) -> None:
    assert arrow_to_fields(pa.schema([pa.field("c", arrow)])) == [f("c", expected)]


def test_nested_arrow_types_become_records_and_repeated_fields() -> None:
    schema = pa.schema([
        pa.field("l", pa.large_list(pa.int32())),
        pa.field("fl", pa.list_(pa.string(), 2)),
        pa.field("s", pa.struct([pa.field("a", pa.int64(), nullable=False), pa.field("b", pa.list_(pa.date32()))])),
        pa.field("m", pa.map_(pa.string(), pa.float64())),
        pa.field("ll", pa.list_(pa.list_(pa.int64()))),
        pa.field("req", pa.int64(), nullable=False),
    ])
    assert arrow_to_fields(schema) == [
        f("l", "INTEGER", "REPEATED"),
        f("fl", "STRING", "REPEATED"),
        f("s", "RECORD", fields=[f("a", "INTEGER", "REQUIRED"), f("b", "DATE", "REPEATED")]),
        f("m", "RECORD", "REPEATED", fields=[f("key", "STRING", "REQUIRED"), f("value", "FLOAT")]),
        f("ll", "RECORD", "REPEATED", fields=[f("item", "INTEGER", "REPEATED")]),
        f("req", "INTEGER", "REQUIRED"),
    ]


def test_neutral_columns_from_protobuf_tables_map_like_protoc_gen_bq_schema() -> None:
    columns = [
        Column("id", Scalar("uint64"), nullable=False), Column("score", Scalar("float32")),
        Column("state", Enum((("A", 0), ("B", 1)))), Column("at", Timestamp()), Column("took", Interval()),
        Column("attrs", MapOf(Scalar("string"), Scalar("int64")), nullable=False),
        Column("grid", ListOf(ListOf(Scalar("int32"))), nullable=False),
    ]
    assert columns_to_fields(columns) == [
        f("id", "INTEGER", "REQUIRED"), f("score", "FLOAT"), f("state", "STRING"), f("at", "TIMESTAMP"),
        f("took", "INTERVAL"),
        f("attrs", "RECORD", "REPEATED", fields=[f("key", "STRING", "REQUIRED"), f("value", "INTEGER")]),
        f("grid", "RECORD", "REPEATED", fields=[f("item", "INTEGER", "REPEATED")]),
    ]


TRIP = """
syntax = "proto3";
package bq.test;
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/wrappers.proto";
import "google/protobuf/struct.proto";

enum Kind { KIND_UNSPECIFIED = 0; CAB = 1; }
message Point { double lat = 1; double lon = 2; }
message Trip {
  int64 id = 1;
  uint32 passengers = 2;
  sint64 delta = 3;
  fixed64 fx = 4;
  double fare = 5;
  float tip = 6;
  bool paid = 7;
  string driver = 8;
  bytes raw = 9;
  Kind kind = 10;
  optional string note = 11;
  google.protobuf.Timestamp pickup = 12;
  google.protobuf.Duration took = 13;
  google.protobuf.Int64Value maybe = 14;
  google.protobuf.Struct extra = 15;
  Point start = 16;
  repeated Point path = 17;
  repeated string tags = 18;
  map<string, int64> counts = 19;
  oneof payment { string card = 20; string cash = 21; }
}
"""


def test_protobuf_tables_answer_protoc_gen_bq_schema_mapping() -> None:
    message = compile_schema(ProtoFile("bq/test/trip.proto", TRIP.encode())).descriptor("bq.test.Trip")
    fields = message_to_fields(message)
    point = [f("lat", "FLOAT"), f("lon", "FLOAT")]
    assert fields == [
        f("id", "INTEGER"), f("passengers", "INTEGER"), f("delta", "INTEGER"), f("fx", "INTEGER"),
        f("fare", "FLOAT"), f("tip", "FLOAT"), f("paid", "BOOLEAN"), f("driver", "STRING"), f("raw", "BYTES"),
        f("kind", "STRING"),   # enum-as-string: the tables keep labels
        f("note", "STRING"), f("pickup", "TIMESTAMP"), f("took", "INTERVAL"), f("maybe", "INTEGER"),
        f("extra", "JSON"), f("start", "RECORD", fields=point), f("path", "RECORD", "REPEATED", fields=point),
        f("tags", "STRING", "REPEATED"),
        f("counts", "RECORD", "REPEATED", fields=[f("key", "STRING"), f("value", "INTEGER")]),
        f("card", "STRING"), f("cash", "STRING"), f("payment_case", "STRING"),
    ]
    # One field per stored column, in the same order, so tabledata.list rows line up with tables.get.
    assert [field["name"] for field in fields] == [c.name for c in columns_for(message)]


def test_protobuf_proto2_required_is_required() -> None:
    body = 'syntax = "proto2"; package p; message M { required int32 a = 1; optional int32 b = 2; }'
    message = compile_schema(ProtoFile("p/m.proto", body.encode())).descriptor("p.M")
    assert message_to_fields(message) == [f("a", "INTEGER", "REQUIRED"), f("b", "INTEGER")]


def test_ddl_renders_the_new_types_on_both_engines() -> None:
    columns = [Column("t", Scalar("time")), Column("n", Decimal(38, 9)), Column("big", Decimal(76, 38)),
               Column("dt", Timestamp(tz=None), nullable=False)]
    duck = _ddl_duckdb.render_create("ds", "x", columns)
    assert '"t" TIME' in duck and '"n" DECIMAL(38, 9)' in duck and '"big" DECIMAL(38, 19)' in duck
    assert '"dt" TIMESTAMP NOT NULL' in duck
    house = _ddl_clickhouse.render_create("ds", "x", columns)
    assert "`t` Nullable(Time64(6))" in house and "`big` Nullable(Decimal(76, 38))" in house
    assert "`dt` DateTime64(6, 'UTC')" in house
    with pytest.raises(ValueError, match="time zone"):
        _ddl_clickhouse.render_type(Timestamp(tz="UTC') --"))
    with pytest.raises(ValueError, match="precision"):
        Decimal(77, 2)
