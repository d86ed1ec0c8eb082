"""Descriptor -> neutral columns, Arrow schema and the API field tree: one test per row of DESIGN.md's mapping."""

from __future__ import annotations

import pyarrow as pa
import pytest

from bqlite_app.schemas.compiler import ProtoFile, compile_schema
from bqlite_app.schemas.translate import DEFAULT_MAX_DEPTH, arrow_schema, columns_for, field_tree
from engines import _ddl_clickhouse, _ddl_duckdb
from engines.types import Column, Enum, Interval, ListOf, MapOf, Scalar, Struct, Timestamp
from tests.schemas._mapping_cases import legacy_schema, trip_schema

LOCATION = Struct((
    Column("lat", Scalar("float64"), nullable=False),
    Column("lon", Scalar("float64"), nullable=False),
    Column("name", Scalar("string"), nullable=False),
))
PAYMENT = Enum((("PAYMENT_UNSPECIFIED", 0), ("CARD", 1), ("CASH", 2)))


def columns(message: str, **kwargs) -> dict[str, Column]:
    return {c.name: c for c in columns_for(trip_schema().descriptor(message), **kwargs)}


def compiled(text: str, name: str = "t.proto"):
    return compile_schema(ProtoFile(name, text.encode()))


def test_scalars_map_to_their_neutral_kinds_and_are_not_null_in_proto3():
    got = [(c.name, c.type, c.nullable) for c in columns_for(trip_schema().descriptor("bq.test.Scalars"))]
    kinds = ["float64", "float32", "int32", "int64", "uint32", "uint64", "int32", "int64", "uint32", "uint64",
             "int32", "int64", "bool", "string", "binary"]
    names = ["f_double", "f_float", "f_int32", "f_int64", "f_uint32", "f_uint64", "f_sint32", "f_sint64",
             "f_fixed32", "f_fixed64", "f_sfixed32", "f_sfixed64", "f_bool", "f_string", "f_bytes"]
    assert got == [(n, Scalar(k), False) for n, k in zip(names, kinds)]


def test_enum_keeps_labels_and_numbers():
    assert columns("bq.test.Trip")["payment"] == Column("payment", PAYMENT, nullable=False)


def test_message_is_a_nullable_struct():
    assert columns("bq.test.Trip")["pickup"] == Column("pickup", LOCATION, nullable=True)


def test_repeated_is_a_list_that_is_never_null():
    cols = columns("bq.test.Trip")
    assert cols["counts"] == Column("counts", ListOf(Scalar("int32")), nullable=False)
    assert cols["stops"] == Column("stops", ListOf(LOCATION), nullable=False)
    assert cols["history"] == Column("history", ListOf(PAYMENT), nullable=False)
    assert cols["marks"] == Column("marks", ListOf(Timestamp()), nullable=False)


def test_maps():
    cols = columns("bq.test.Trip")
    assert cols["tags"] == Column("tags", MapOf(Scalar("string"), Scalar("int64")), nullable=False)
    assert cols["places"] == Column("places", MapOf(Scalar("int32"), LOCATION), nullable=False)
    assert cols["modes"] == Column("modes", MapOf(Scalar("string"), PAYMENT), nullable=False)


def test_oneof_members_are_nullable_and_a_case_column_follows_the_last_member():
    names = [c.name for c in columns_for(trip_schema().descriptor("bq.test.Trip"))]
    assert names[names.index("amount"):names.index("amount") + 4] == ["amount", "voucher", "refund_at", "fare_case"]
    cols = columns("bq.test.Trip")
    assert cols["amount"] == Column("amount", Scalar("float64"), nullable=True)
    assert cols["refund_at"] == Column("refund_at", LOCATION, nullable=True)
    assert cols["fare_case"] == Column("fare_case", Scalar("string"), nullable=True)


def test_proto3_optional_is_nullable_and_gets_no_case_column():
    cols = columns("bq.test.Trip")
    assert cols["passengers"] == Column("passengers", Scalar("int32"), nullable=True)
    assert "_passengers_case" not in cols and "passengers_case" not in cols


def test_wrappers_are_nullable_scalars():
    text = """
    syntax = "proto3";
    import "google/protobuf/wrappers.proto";
    message W {
      google.protobuf.DoubleValue d = 1; google.protobuf.FloatValue f = 2; google.protobuf.Int64Value i64 = 3;
      google.protobuf.UInt64Value u64 = 4; google.protobuf.Int32Value i32 = 5; google.protobuf.UInt32Value u32 = 6;
      google.protobuf.BoolValue b = 7; google.protobuf.StringValue s = 8; google.protobuf.BytesValue by = 9;
      repeated google.protobuf.Int64Value many = 10;
    }
    """
    got = {c.name: c for c in columns_for(compiled(text).descriptor("W"))}
    kinds = {"d": "float64", "f": "float32", "i64": "int64", "u64": "uint64", "i32": "int32", "u32": "uint32",
             "b": "bool", "s": "string", "by": "binary"}
    for name, kind in kinds.items():
        assert got[name] == Column(name, Scalar(kind), nullable=True)
    assert got["many"] == Column("many", ListOf(Scalar("int64")), nullable=False)


def test_timestamp_and_duration():
    cols = columns("bq.test.Trip")
    assert cols["at"] == Column("at", Timestamp(unit="us", tz="UTC"), nullable=True)
    assert cols["took"] == Column("took", Interval(), nullable=True)


def test_struct_value_and_any_are_json():
    cols = columns("bq.test.Trip")
    for name in ("extra", "detail", "any_value"):
        assert cols[name] == Column(name, Scalar("json"), nullable=True)


def test_recursion_unrolls_to_the_depth_cap_then_becomes_json():
    cols = columns("bq.test.Node", max_depth=2)
    child = cols["child"].type
    assert isinstance(child, Struct)
    grandchild = {c.name: c for c in child.fields}["child"]
    assert isinstance(grandchild.type, Struct)
    assert {c.name: c for c in grandchild.type.fields}["child"] == Column("child", Scalar("json"), nullable=True)
    assert {c.name: c for c in grandchild.type.fields}["kids"] == Column("kids", ListOf(Scalar("json")),
                                                                         nullable=False)
    assert columns("bq.test.Node", max_depth=0)["child"] == Column("child", Scalar("json"), nullable=True)


def test_default_depth_cap_bounds_a_recursive_message():
    def depth(column_type) -> int:
        if isinstance(column_type, ListOf):
            return depth(column_type.item)
        if isinstance(column_type, Struct):
            return 1 + max(depth(c.type) for c in column_type.fields)
        return 0

    assert depth(columns("bq.test.Node")["child"].type) == DEFAULT_MAX_DEPTH


def test_proto2_required_is_not_null_and_optional_is_nullable_whatever_its_default():
    cols = {c.name: c for c in columns_for(legacy_schema().descriptor("bq.legacy.Legacy"))}
    assert cols["id"] == Column("id", Scalar("int64"), nullable=False)
    assert cols["label"] == Column("label", Scalar("string"), nullable=True)
    assert cols["count"] == Column("count", Scalar("int32"), nullable=True)
    assert cols["level"] == Column("level", Enum((("LOW", 1), ("HIGH", 2))), nullable=True)
    inner = cols["inner"]
    assert inner.nullable and inner.type == Struct((
        Column("code", Scalar("string"), nullable=False), Column("flag", Scalar("bool"), nullable=True)))


def test_empty_message_is_json_and_case_column_never_shadows_a_field():
    text = """
    syntax = "proto3";
    import "google/protobuf/empty.proto";
    message E {
      google.protobuf.Empty nothing = 1;
      oneof pick { int32 a = 2; string b = 3; }
      string pick_case = 4;
    }
    """
    got = [(c.name, c.type) for c in columns_for(compiled(text).descriptor("E"))]
    assert got == [("nothing", Scalar("json")), ("a", Scalar("int32")), ("b", Scalar("string")),
                   ("pick_case_", Scalar("string")), ("pick_case", Scalar("string"))]


def test_editions_presence_follows_features():
    text = """
    edition = "2023";
    option features.field_presence = IMPLICIT;
    message Ed {
      int32 plain = 1;
      int32 tracked = 2 [features.field_presence = EXPLICIT];
    }
    """
    got = {c.name: c.nullable for c in columns_for(compiled(text).descriptor("Ed"))}
    assert got == {"plain": False, "tracked": True}


def test_arrow_schema_types():
    schema = arrow_schema(columns_for(trip_schema().descriptor("bq.test.Trip")))
    assert schema.field("id").type == pa.uint64() and not schema.field("id").nullable
    assert schema.field("payment").type == pa.string()
    assert schema.field("pickup").type == pa.struct([
        pa.field("lat", pa.float64(), nullable=False), pa.field("lon", pa.float64(), nullable=False),
        pa.field("name", pa.string(), nullable=False)])
    assert schema.field("counts").type == pa.list_(pa.field("item", pa.int32(), nullable=False))
    assert schema.field("tags").type == pa.map_(pa.string(), pa.field("value", pa.int64(), nullable=False))
    assert schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("took").type == pa.duration("us")
    assert schema.field("extra").type == pa.string()
    assert schema.field("raw").type == pa.binary()
    assert schema.field("fare_case").type == pa.string() and schema.field("fare_case").nullable


def test_both_engines_render_ddl_for_the_rich_schema():
    cols = columns_for(trip_schema().descriptor("bq.test.Trip"))
    duck = _ddl_duckdb.render_create("db", "trips", cols)
    click = _ddl_clickhouse.render_create("db", "trips", cols)
    assert '"payment" VARCHAR NOT NULL' in duck and '"took" INTERVAL' in duck and '"extra" JSON' in duck
    assert "`payment` LowCardinality(String)" in click and "`took` Nullable(Int64)" in click
    assert "`at` Nullable(DateTime64(6, 'UTC'))" in click and "`counts` Array(Int32)" in click


def test_field_tree_names_types_modes_and_nests_like_the_columns():
    tree = {node["name"]: node for node in field_tree(trip_schema().descriptor("bq.test.Trip"))}
    assert "fare_case" not in tree   # a column, not a protobuf field
    assert tree["id"] == {"name": "id", "number": 1, "proto_type": "uint64", "mode": "REQUIRED", "fields": []}
    assert tree["payment"]["proto_type"] == "enum bq.test.Payment"
    assert tree["pickup"]["proto_type"] == "message bq.test.Location"
    assert tree["pickup"]["mode"] == "NULLABLE"
    assert [f["name"] for f in tree["pickup"]["fields"]] == ["lat", "lon", "name"]
    assert tree["stops"]["mode"] == "REPEATED" and len(tree["stops"]["fields"]) == 3
    assert tree["tags"]["proto_type"] == "map<string, int64>" and tree["tags"]["mode"] == "REPEATED"
    assert tree["places"]["proto_type"] == "map<int32, bq.test.Location>"
    assert [f["name"] for f in tree["places"]["fields"]] == ["key", "value"]
    assert tree["modes"]["proto_type"] == "map<string, bq.test.Payment>"
    assert tree["at"]["proto_type"] == "google.protobuf.Timestamp" and tree["at"]["fields"] == []
    assert tree["tip"]["proto_type"] == "google.protobuf.Int64Value" and tree["tip"]["mode"] == "NULLABLE"
    assert tree["extra"]["proto_type"] == "google.protobuf.Struct"
    assert tree["passengers"]["mode"] == "NULLABLE"


def test_field_tree_stops_where_the_columns_become_json():
    tree = field_tree(trip_schema().descriptor("bq.test.Node"), max_depth=1)
    child = next(n for n in tree if n["name"] == "child")
    assert [f["name"] for f in child["fields"]] == ["name", "child", "kids"]
    grandchild = next(f for f in child["fields"] if f["name"] == "child")
    assert grandchild["fields"] == [] and grandchild["proto_type"] == "message bq.test.Node"


def test_field_tree_proto2_required():
    tree = {n["name"]: n for n in field_tree(legacy_schema().descriptor("bq.legacy.Legacy"))}
    assert tree["id"]["mode"] == "REQUIRED"
    assert tree["label"]["mode"] == "NULLABLE"
    assert tree["mode_by_name"]["proto_type"] == "map<string, bq.legacy.Mode>"


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_columns_and_arrow_schema_agree_at_any_depth(depth):
    cols = columns_for(trip_schema().descriptor("bq.test.Node"), max_depth=depth)
    schema = arrow_schema(cols)
    assert schema.names == [c.name for c in cols]
