"""The native (chdb) decode path must give exactly the Python path's batches, or step aside.

Every equality test decodes the same body both ways: ``native_batches`` on the session's embedded ClickHouse engine
and ``ingest.decode_batches``. Maps are compared as key -> value sets, since the Python path emits upb's hash order.
"""

from __future__ import annotations

import io
import itertools
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bqlite_app.errors import ProtobufDecodeFailed
from bqlite_app.schemas import ingest, translate
from bqlite_app.schemas.compiler import CompiledSchema, ProtoFile, compile_schema
from bqlite_app.schemas.native import NativeDecodeError, native_batches
from engines.errors import QueryCancelled
from tests.conftest import embedded_only

# The native decoder reads a local file, which only embedded chdb can; server mode decodes in Python.
pytestmark = embedded_only

EVERYTHING = """
syntax = "proto3";
package nt.v1;
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/wrappers.proto";

enum Color { COLOR_UNSPECIFIED = 0; RED = 1; GREEN = 2; MINUS = -1; }
enum Alias { option allow_alias = true; ALIAS_ZERO = 0; FIRST = 1; SECOND = 1; }

message Point { double x = 1; double y = 2; optional string label = 3; }
message Leg {
  string name = 1;
  Point from = 2;
  repeated Point path = 3;
  google.protobuf.Timestamp at = 4;
  repeated bytes blobs = 5;
  map<string, Color> tags = 6;
  oneof how { string walk = 7; int32 ride = 8; Point fly = 9; }
}
message Everything {
  int32 i32 = 1; int64 i64 = 2; uint32 u32 = 3; uint64 u64 = 4;
  sint32 s32 = 5; sint64 s64 = 6; fixed32 f32 = 7; fixed64 f64 = 8;
  sfixed32 sf32 = 9; sfixed64 sf64 = 10; float fl = 11; double db = 12;
  bool flag = 13; string text = 14; bytes raw = 15;
  Color color = 16; Alias alias = 17;
  optional int64 maybe = 18; optional string maybe_text = 19; optional bytes maybe_raw = 20;
  Point point = 21; Leg leg = 22; repeated Leg legs = 23;
  repeated int64 ids = 24; repeated string names = 25; repeated Color colors = 26; repeated double weights = 27;
  map<string, int64> counts = 28; map<int32, Point> points = 29; map<bool, string> flags = 30;
  map<uint64, bytes> blobs = 31;
  google.protobuf.Timestamp created = 32; google.protobuf.Duration took = 33;
  repeated google.protobuf.Timestamp stamps = 34;
  google.protobuf.Int64Value w_i64 = 35; google.protobuf.StringValue w_str = 36;
  google.protobuf.BytesValue w_bytes = 37; google.protobuf.BoolValue w_bool = 38;
  google.protobuf.DoubleValue w_dbl = 39; google.protobuf.UInt64Value w_u64 = 40;
  repeated google.protobuf.StringValue w_strs = 41;
  map<string, google.protobuf.Timestamp> when = 42;
  oneof choice {
    int32 pick_int = 43; string pick_text = 44; Point pick_point = 45; google.protobuf.Duration pick_for = 46;
  }
  int32 select = 47;
}
message Outer { message Inner { int32 a = 1; } Inner inner = 1; }
"""

LEGACY = """
syntax = "proto2";
package nt.v2;
import "google/protobuf/struct.proto";

enum Level { LOW = 1; HIGH = 2; }
enum Mode { MODE_OFF = 0; MODE_ON = 1; }
message Legacy { optional int32 a = 1 [default = 7]; optional Level level = 2; optional string s = 3;
                 repeated int32 xs = 4 [packed = true]; map<string, Mode> by_name = 5; }
message WithRequired { required int32 id = 1; }
message WithRepeatedClosed { repeated Level levels = 1; }
message WithStruct { optional google.protobuf.Struct extra = 1; }
message Node { optional int32 v = 1; optional Node child = 2; }
message CaseClash { optional int32 a = 1; optional int32 A = 2; }
"""

_VARINT_CUTOFF = 0x80


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("native")


def _compile(text: str, name: str = "nt/v1/everything.proto", imports: tuple[ProtoFile, ...] = ()) -> CompiledSchema:
    return compile_schema(ProtoFile(name, text.encode()), imports)


EVERY = _compile(EVERYTHING)
OLD = _compile(LEGACY, "nt/v2/legacy.proto")
_bodies = itertools.count()


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= _VARINT_CUTOFF:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _body(work_dir: Path, payloads: list[bytes | Message], fmt: str = "delimited") -> Path:
    data = [p if isinstance(p, bytes) else p.SerializeToString() for p in payloads]
    raw = data[0] if fmt == "single" else b"".join(_varint(len(d)) + d for d in data)
    path = work_dir / f"body-{next(_bodies)}.bin"
    path.write_bytes(raw)
    return path


def _native(engine, compiled: CompiledSchema, message: str, body: Path, work_dir: Path, fmt: str = "delimited",
            **kwargs: Any) -> pa.Table | None:
    columns = translate.columns_for(compiled.descriptor(message))
    batches = native_batches(engine, compiled, message, body, fmt, columns, work_dir=work_dir / "schemas", **kwargs)
    if batches is None:
        return None
    return pa.Table.from_batches(list(batches), schema=translate.arrow_schema(columns))


def _python(compiled: CompiledSchema, message: str, body: Path, fmt: str = "delimited") -> pa.Table:
    columns = translate.columns_for(compiled.descriptor(message))
    with body.open("rb") as source:
        batches = list(ingest.decode_batches(compiled, message, source, fmt, max_depth=translate.DEFAULT_MAX_DEPTH))
    return pa.Table.from_batches(batches, schema=translate.arrow_schema(columns))


def _canonical(value: Any, arrow: pa.DataType) -> Any:
    """Python values with map entries sorted by key (the only order the two paths may disagree on)."""
    if value is None:
        return None
    if pa.types.is_map(arrow):
        return sorted((k, _canonical(v, arrow.item_type)) for k, v in value)
    if pa.types.is_list(arrow):
        return [_canonical(v, arrow.value_type) for v in value]
    if pa.types.is_struct(arrow):
        return {f.name: _canonical(value[f.name], f.type) for f in arrow}
    return value


def _assert_same(engine, compiled: CompiledSchema, message: str, body: Path, work_dir: Path,
                 fmt: str = "delimited") -> pa.Table:
    native = _native(engine, compiled, message, body, work_dir, fmt)
    assert native is not None, "the native path declined a supported shape"
    python = _python(compiled, message, body, fmt)
    assert native.schema == python.schema
    assert native.num_rows == python.num_rows
    for field in native.schema:
        got = [_canonical(v, field.type) for v in native.column(field.name).to_pylist()]
        want = [_canonical(v, field.type) for v in python.column(field.name).to_pylist()]
        assert got == want, field.name
    return native


# -- random messages -------------------------------------------------------------------------------------------

_T = FieldDescriptor
_INT_RANGES = {
    _T.TYPE_INT32: (-2**31, 2**31 - 1), _T.TYPE_SINT32: (-2**31, 2**31 - 1), _T.TYPE_SFIXED32: (-2**31, 2**31 - 1),
    _T.TYPE_INT64: (-2**63, 2**63 - 1), _T.TYPE_SINT64: (-2**63, 2**63 - 1), _T.TYPE_SFIXED64: (-2**63, 2**63 - 1),
    _T.TYPE_UINT32: (0, 2**32 - 1), _T.TYPE_FIXED32: (0, 2**32 - 1),
    _T.TYPE_UINT64: (0, 2**64 - 1), _T.TYPE_FIXED64: (0, 2**64 - 1),
}


def _scalar(draw: Any, field: FieldDescriptor) -> Any:
    if field.type in _INT_RANGES:
        low, high = _INT_RANGES[field.type]
        return draw(st.one_of(st.sampled_from([low, high, 0, 1, -1 if low else 2]), st.integers(low, high)))
    if field.type == _T.TYPE_DOUBLE:
        return draw(st.floats(allow_nan=False))
    if field.type == _T.TYPE_FLOAT:
        return draw(st.floats(allow_nan=False, width=32))
    if field.type == _T.TYPE_BOOL:
        return draw(st.booleans())
    if field.type == _T.TYPE_STRING:
        return draw(st.text(max_size=6))
    if field.type == _T.TYPE_BYTES:
        return draw(st.binary(max_size=6))
    if field.type == _T.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        extra = [] if field.enum_type.is_closed else [7, 1000, -5]
        return draw(st.sampled_from(known + extra))
    raise AssertionError(field.type)


def _fill(draw: Any, message: Message, depth: int = 0) -> None:
    descriptor = message.DESCRIPTOR
    name = descriptor.full_name
    if name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
        if name.endswith("Timestamp"):
            message.seconds = draw(st.integers(-62_135_596_800, 253_402_300_799))
            message.nanos = draw(st.integers(0, 999_999_999))
        else:
            message.seconds = draw(st.integers(-315_576_000_000, 315_576_000_000))
            nanos = draw(st.integers(0, 999_999_999))
            message.nanos = -nanos if message.seconds < 0 else (nanos if message.seconds > 0 else draw(
                st.sampled_from([nanos, -nanos])))
        return
    chosen = {o.name: draw(st.sampled_from([None, *o.fields])) for o in descriptor.oneofs
              if len(o.fields) > 1}
    for field in descriptor.fields:
        oneof = field.containing_oneof
        if oneof is not None and oneof.name in chosen and chosen[oneof.name] is not field:
            continue
        if oneof is None and not field.is_repeated and not draw(st.booleans()):
            continue
        _set(draw, message, field, depth)


def _set(draw: Any, message: Message, field: FieldDescriptor, depth: int) -> None:
    count = draw(st.integers(0, 3)) if field.is_repeated else 1
    target = getattr(message, field.name)
    if translate.is_map(field):
        value_field = field.message_type.fields_by_name["value"]
        for _ in range(count):
            key = _scalar(draw, field.message_type.fields_by_name["key"])
            if value_field.message_type is not None:
                _fill(draw, target[key], depth + 1)
            else:
                target[key] = _scalar(draw, value_field)
    elif field.is_repeated:
        for _ in range(count):
            if field.message_type is not None:
                _fill(draw, target.add(), depth + 1)
            else:
                target.append(_scalar(draw, field))
    elif field.message_type is not None:
        target.SetInParent()
        if depth < 3:
            _fill(draw, target, depth + 1)
    else:
        setattr(message, field.name, _scalar(draw, field))


@st.composite
def _messages(draw: Any, cls: type[Message]) -> list[Message]:
    out = []
    for _ in range(draw(st.integers(1, 5))):
        message = cls()
        _fill(draw, message)
        out.append(message)
    return out


# -- equal to the Python path ----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_messages_decode_exactly_as_the_python_path(clickhouse_engine, work_dir, data):
    messages = data.draw(_messages(EVERY.message_class("nt.v1.Everything")))
    _assert_same(clickhouse_engine, EVERY, "nt.v1.Everything", _body(work_dir, messages), work_dir)


def test_edge_values(clickhouse_engine, work_dir):
    cls = EVERY.message_class("nt.v1.Everything")
    full = cls(u64=2**64 - 1, i64=-2**63, f64=2**64 - 1, raw=b"\x00\n\xff\xfe", text="h\u00e9llo\n", color=7,
               alias=1, maybe=0, maybe_raw=b"", colors=[1, -1, 99], pick_point={"x": 1.5})
    full.created.FromMicroseconds(-1)
    full.took.seconds, full.took.nanos = -3, -999
    full.w_bytes.value = b"\n"
    full.w_str.SetInParent()
    full.counts["a"] = 1
    full.blobs[2**64 - 1] = b"\x0a\x0d"
    full.when["z"].seconds = 1
    full.leg.fly.SetInParent()
    table = _assert_same(clickhouse_engine, EVERY, "nt.v1.Everything", _body(work_dir, [full, cls()]), work_dir)
    first = table.slice(0, 1).to_pylist()[0]
    assert first["raw"] == b"\x00\n\xff\xfe" and first["color"] == "7" and first["alias"] == "FIRST"
    assert first["colors"] == ["RED", "MINUS", "99"] and first["choice_case"] == "pick_point"
    assert first["took"].total_seconds() == pytest.approx(-3.000000)     # toward zero: -999 ns is 0 us
    assert first["leg"]["how_case"] == "fly" and first["w_str"] == ""


def test_proto2_closed_enum_unknown_number_and_defaults(clickhouse_engine, work_dir):
    cls = OLD.message_class("nt.v2.Legacy")
    unknown_level = b"\x10\x63"                          # level = 99: upb keeps it aside, the Python path recovers it
    body = _body(work_dir, [cls(a=0, level=2, xs=[1, 2]), cls(), unknown_level, cls(s="x", by_name={"k": 1})])
    table = _assert_same(clickhouse_engine, OLD, "nt.v2.Legacy", body, work_dir)
    assert table.column("level").to_pylist() == ["HIGH", None, "99", None]
    assert table.column("a").to_pylist() == [0, None, None, None]


def test_single_format_and_imports_from_subdirectories(clickhouse_engine, work_dir):
    common = ProtoFile("events/common.proto", b'syntax = "proto3"; package ev; message Ctx { string user = 1; }')
    click = _compile('syntax = "proto3"; package ev; import "events/common.proto"; '
                     "message Click { Ctx ctx = 1; int32 x = 2; }", "events/click.proto", (common,))
    message = click.message_class("ev.Click")(ctx={"user": "ann"}, x=3)
    table = _assert_same(clickhouse_engine, click, "ev.Click", _body(work_dir, [message], "single"), work_dir, "single")
    assert table.to_pylist() == [{"ctx": {"user": "ann"}, "x": 3}]


def test_trip_workload_and_batch_size(clickhouse_engine, work_dir):
    trip = _compile('syntax = "proto3"; package b; import "google/protobuf/timestamp.proto"; '
                    "enum Pay { PAY_UNSPECIFIED = 0; CARD = 1; CASH = 2; } "
                    "message Trip { int64 id = 1; int32 vendor = 2; google.protobuf.Timestamp at = 3; "
                    "double miles = 4; Pay pay = 5; double fare = 6; string flag = 7; }", "trip.proto")
    cls, rng = trip.message_class("b.Trip"), random.Random(7)
    messages = [cls(id=i, vendor=rng.randint(1, 2), miles=rng.random() * 20, pay=rng.randint(0, 3),
                    fare=rng.random() * 80, flag=rng.choice("NY"), at={"seconds": 1_700_000_000 + i, "nanos": i})
                for i in range(20_000)]
    body = _body(work_dir, messages)
    _assert_same(clickhouse_engine, trip, "b.Trip", body, work_dir)
    columns = translate.columns_for(trip.descriptor("b.Trip"))
    sizes = [b.num_rows for b in native_batches(clickhouse_engine, trip, "b.Trip", body, "delimited", columns,
                                                work_dir=work_dir / "schemas", batch_rows=3000)]
    assert sum(sizes) == 20_000 and max(sizes) <= 3000


def test_empty_delimited_body_gives_no_batches(clickhouse_engine, work_dir):
    body = work_dir / "empty.bin"
    body.write_bytes(b"")
    assert _native(clickhouse_engine, EVERY, "nt.v1.Everything", body, work_dir).num_rows == 0


@pytest.mark.parametrize("engine_name", ["duckdb", "clickhouse"])
def test_batches_insert_into_the_tables_both_engines_create(request, clickhouse_engine, work_dir, engine_name):
    """Null structs, bytes, maps, durations... land as they are. For ClickHouse the stream runs on a decode client
    of its own while the insert leases a pooled one."""
    target = request.getfixturevalue(f"{engine_name}_engine")
    cls = EVERY.message_class("nt.v1.Everything")
    rich = cls(raw=b"\xff", counts={"a": 1}, took={"seconds": 2}, legs=[{"name": "x", "blobs": [b"\n"]}],
               point={"x": 1.0})
    rich.leg.fly.SetInParent()
    body = _body(work_dir, [rich, cls(), *(cls(i64=i, text=str(i)) for i in range(3000))])
    columns = translate.columns_for(EVERY.descriptor("nt.v1.Everything"))
    target.create_table("native_test", "everything", columns, replace=True)
    insert = target.open_insert("native_test", "everything")
    for batch in native_batches(clickhouse_engine, EVERY, "nt.v1.Everything", body, "delimited", columns,
                                work_dir=work_dir / "schemas", batch_rows=1000):
        insert.write(batch)
    assert insert.commit() == 3002
    sql = "SELECT sum(i64) AS s, count(point) AS points FROM native_test.everything"
    result = next(iter(target.execute(sql, query_tag=f"native-{engine_name}")))
    assert result.to_pylist() == [{"s": sum(range(3000)), "points": 1}]


# -- bodies the native path must hand back to the Python path ---------------------------------------------------


@pytest.mark.parametrize("case", ["truncated", "bad_utf8", "timestamp_range", "duration_signs"])
def test_bodies_the_python_path_rejects_raise_native_decode_error(clickhouse_engine, work_dir, case):
    cls = EVERY.message_class("nt.v1.Everything")
    good = cls(i32=1).SerializeToString()
    bad = {
        "truncated": good + b"\x72\x0a\x41",                     # text: 10 bytes declared, 1 present
        "bad_utf8": b"\x72\x02\xff\xfe",                          # text = b"\xff\xfe"
        "timestamp_range": cls(created={"seconds": 253_402_300_800}).SerializeToString(),
        "duration_signs": cls(took={"seconds": 1, "nanos": -1}).SerializeToString(),
    }[case]
    body = _body(work_dir, [good, bad])
    with pytest.raises(NativeDecodeError):
        _native(clickhouse_engine, EVERY, "nt.v1.Everything", body, work_dir)
    with pytest.raises(ProtobufDecodeFailed, match="message 1"):
        _python(EVERY, "nt.v1.Everything", body)


@pytest.mark.parametrize("case", ["two_oneof_members", "map_key_twice"])
def test_bodies_protobuf_resolves_by_last_wins_are_left_to_the_python_path(clickhouse_engine, work_dir, case):
    cls = EVERY.message_class("nt.v1.Everything")
    parts = {"two_oneof_members": (cls(pick_int=1), cls(pick_text="b")),
             "map_key_twice": (cls(counts={"a": 1}), cls(counts={"a": 2}))}[case]
    body = _body(work_dir, [b"".join(p.SerializeToString() for p in parts)])   # a merge of two messages
    with pytest.raises(NativeDecodeError):
        _native(clickhouse_engine, EVERY, "nt.v1.Everything", body, work_dir)
    row = _python(EVERY, "nt.v1.Everything", body).to_pylist()[0]
    if case == "two_oneof_members":
        assert (row["pick_text"], row["pick_int"]) == ("b", None)
    else:
        assert row["counts"] == [("a", 2)]


def test_cancel_is_a_cancel_not_a_fallback(clickhouse_engine, work_dir):
    compiled = _compile('syntax = "proto3"; package c; message R { int64 id = 1; }', "c.proto")
    body = _body(work_dir, [compiled.message_class("c.R")(id=i) for i in range(300_000)])
    columns = translate.columns_for(compiled.descriptor("c.R"))
    batches = native_batches(clickhouse_engine, compiled, "c.R", body, "delimited", columns,
                             work_dir=work_dir / "schemas", batch_rows=1000, query_tag="native-cancel-test")
    next(batches)
    assert clickhouse_engine.cancel("native-cancel-test")
    with pytest.raises(QueryCancelled):
        for _ in batches:
            pass


# -- shapes the native path declines ----------------------------------------------------------------------------


class _ServerEngine:
    supports_native_protobuf = False   # as ClickHouse in server mode: it cannot read the app's files


@pytest.mark.parametrize("message", ["nt.v2.WithRequired", "nt.v2.WithRepeatedClosed", "nt.v2.WithStruct",
                                     "nt.v2.Node", "nt.v2.CaseClash"])
def test_unsupported_shapes_return_none(clickhouse_engine, work_dir, message):
    body = _body(work_dir, [b""])
    assert _native(clickhouse_engine, OLD, message, body, work_dir) is None


def test_other_inputs_return_none(clickhouse_engine, work_dir):
    body = _body(work_dir, [b"\x08\x01"])
    name = "nt.v1.Everything"
    columns = translate.columns_for(EVERY.descriptor(name))
    schemas = work_dir / "schemas"
    assert native_batches(clickhouse_engine, EVERY, name, body, "jsonl", columns, work_dir=schemas) is None
    assert native_batches(_ServerEngine(), EVERY, name, body, "delimited", columns, work_dir=schemas) is None
    empty = work_dir / "empty-single.bin"
    empty.write_bytes(b"")     # one all-default message for protobuf, no row for ClickHouse
    assert native_batches(clickhouse_engine, EVERY, name, empty, "single", columns, work_dir=schemas) is None
    uploaded_set = compile_schema(ProtoFile("set.pb", EVERY.descriptor_set))
    assert native_batches(clickhouse_engine, uploaded_set, name, body, "delimited", columns, work_dir=schemas) is None
    inner = "nt.v1.Outer.Inner"
    assert native_batches(clickhouse_engine, EVERY, inner, body, "delimited",
                          translate.columns_for(EVERY.descriptor(inner)), work_dir=schemas) is None


def test_python_path_still_reads_what_native_declines():
    """Sanity: the declined shapes are the Python path's to decode."""
    cls = OLD.message_class("nt.v2.WithRepeatedClosed")
    payload = cls(levels=[1, 2]).SerializeToString()
    body = io.BytesIO(_varint(len(payload)) + payload)
    batches = list(ingest.decode_batches(OLD, "nt.v2.WithRepeatedClosed", body, "delimited", max_depth=6))
    assert pa.Table.from_batches(batches).to_pylist() == [{"levels": ["LOW", "HIGH"]}]


# -- the engine capability --------------------------------------------------------------------------------------


def test_engines_declare_the_native_protobuf_capability(duckdb_engine, clickhouse_engine):
    from tests.conftest import SERVER_MODE

    assert duckdb_engine.supports_native_protobuf is False
    assert clickhouse_engine.supports_native_protobuf is (not SERVER_MODE)


@embedded_only
def test_a_path_file_would_expand_is_refused_by_the_engine(clickhouse_engine, tmp_path):
    body = tmp_path / "bo{d,y}.bin"
    body.write_bytes(_varint(2) + b"\x08\x01")
    name = "nt.v1.Everything"
    batches = native_batches(clickhouse_engine, EVERY, name, body, "delimited",
                             translate.columns_for(EVERY.descriptor(name)), work_dir=tmp_path / "schemas")
    with pytest.raises(NativeDecodeError, match="file\\(\\) expands"):
        list(batches)


def test_top_level_enum_numbers_are_labelled_in_arrow():
    from bqlite_app.schemas.native import _label

    known, names = pa.array([0, 1, -1], pa.int32()), pa.array(["ZERO", "ONE", "MINUS"])
    assert _label(pa.array([1, None, -1, 7], pa.int32()), known, names).to_pylist() == ["ONE", None, "MINUS", "7"]
    assert _label(pa.array([0, None, 1], pa.int32()), known, names).to_pylist() == ["ZERO", None, "ONE"]
