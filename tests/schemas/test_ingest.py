"""Bytes -> Arrow batches -> engines: values for every mapping row, strict errors, all-or-nothing ingests."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import pyarrow as pa
import pytest

from bqlite_app.errors import ProtobufDecodeFailed, ValidationFailed
from bqlite_app.schemas import _frames
from bqlite_app.schemas import ingest as ingest_module
from bqlite_app.schemas.ingest import decode_batches, ingest
from bqlite_app.schemas.translate import arrow_schema, columns_for
from tests.schemas._mapping_cases import delimited, legacy_schema, trip_class, trip_schema, varint

UTC = dt.UTC
Trip = trip_class()
Location = trip_class("bq.test.Location")
Node = trip_class("bq.test.Node")


def rows(body: io.BytesIO | bytes, fmt: str = "delimited", schema=None, message: str = "bq.test.Trip",
         max_depth: int = 6, **kwargs) -> list[dict]:
    source = io.BytesIO(body) if isinstance(body, bytes) else body
    batches = list(decode_batches(schema or trip_schema(), message, source, fmt, max_depth=max_depth, **kwargs))
    return pa.Table.from_batches(batches).to_pylist() if batches else []


def one(message) -> dict:
    [row] = rows(delimited(message), message=message.DESCRIPTOR.full_name)
    return row


def failure(body, fmt: str = "delimited", schema=None, message: str = "bq.test.Trip") -> str:
    with pytest.raises(ProtobufDecodeFailed) as info:
        rows(body, fmt, schema=schema, message=message)
    return info.value.detail


# -- values, one mapping row at a time ----------------------------------------------------------------------------

def test_scalars_including_uint64_max_and_bytes_with_newlines():
    Scalars = trip_class("bq.test.Scalars")
    message = Scalars(f_double=-1.5, f_float=0.25, f_int32=-(2**31), f_int64=-(2**63), f_uint32=2**32 - 1,
                      f_uint64=2**64 - 1, f_sint32=-7, f_sint64=2**63 - 1, f_fixed32=2**32 - 1, f_fixed64=2**64 - 1,
                      f_sfixed32=-3, f_sfixed64=-(2**63), f_bool=True, f_string="héllo\nwörld", f_bytes=b"\n\x00\n\xff")
    assert one(message) == {
        "f_double": -1.5, "f_float": 0.25, "f_int32": -(2**31), "f_int64": -(2**63), "f_uint32": 2**32 - 1,
        "f_uint64": 2**64 - 1, "f_sint32": -7, "f_sint64": 2**63 - 1, "f_fixed32": 2**32 - 1,
        "f_fixed64": 2**64 - 1, "f_sfixed32": -3, "f_sfixed64": -(2**63), "f_bool": True,
        "f_string": "héllo\nwörld", "f_bytes": b"\n\x00\n\xff"}


def test_proto3_implicit_scalars_read_as_their_defaults():
    row = one(trip_class("bq.test.Scalars")())
    assert row["f_int64"] == 0 and row["f_string"] == "" and row["f_bytes"] == b"" and row["f_bool"] is False


def test_many_messages_whose_payloads_are_full_of_newlines():
    messages = [Trip(id=i, raw=b"\n" * (i % 13), voucher="\n" * i) for i in range(300)]
    got = rows(delimited(*messages), batch_rows=64)
    assert [r["id"] for r in got] == list(range(300))
    assert all(r["raw"] == b"\n" * (r["id"] % 13) and r["voucher"] == "\n" * r["id"] for r in got)


def test_enum_labels_and_unknown_numbers_kept_as_strings():
    wire = Trip(id=1, payment=2, history=[1, 0]).SerializeToString()
    wire += b"\x98\x01\x63"       # history += 99 (field 19, varint)
    wire += b"\x10\x2a"           # payment = 42
    row = rows(delimited(wire))[0]
    assert row["payment"] == "42"
    assert row["history"] == ["CARD", "PAYMENT_UNSPECIFIED", "99"]
    assert one(Trip(modes={"a": 1, "b": 7}))["modes"] == [("a", "CARD"), ("b", "7")] or \
        sorted(one(Trip(modes={"a": 1, "b": 7}))["modes"]) == [("a", "CARD"), ("b", "7")]


def test_negative_unknown_enum_number():
    assert one(Trip(payment=-5))["payment"] == "-5"


def test_nested_message_and_unset_message_is_null():
    row = one(Trip(pickup=Location(lat=40.7, lon=-74.0, name="JFK")))
    assert row["pickup"] == {"lat": 40.7, "lon": -74.0, "name": "JFK"}
    assert one(Trip())["pickup"] is None
    assert one(Trip(pickup=Location()))["pickup"] == {"lat": 0.0, "lon": 0.0, "name": ""}   # set but empty


def test_repeated_scalars_and_messages_are_lists_never_null():
    row = one(Trip(counts=[3, -1, 0], stops=[Location(name="a"), Location(lat=1.0)]))
    assert row["counts"] == [3, -1, 0]
    assert row["stops"] == [{"lat": 0.0, "lon": 0.0, "name": "a"}, {"lat": 1.0, "lon": 0.0, "name": ""}]
    empty = one(Trip())
    assert empty["counts"] == [] and empty["stops"] == [] and empty["marks"] == []


def test_maps_with_scalar_and_message_values():
    message = Trip(tags={"x": 1, "y": -(2**63)})
    message.places[7].name = "seven"
    message.places[-1].lat = 2.5
    row = one(message)
    assert dict(row["tags"]) == {"x": 1, "y": -(2**63)}
    assert dict(row["places"]) == {7: {"lat": 0.0, "lon": 0.0, "name": "seven"},
                                   -1: {"lat": 2.5, "lon": 0.0, "name": ""}}
    assert one(Trip())["tags"] == []


def test_oneof_members_and_case_column():
    assert {k: v for k, v in one(Trip(amount=0.0)).items() if k in ("amount", "voucher", "refund_at", "fare_case")} \
        == {"amount": 0.0, "voucher": None, "refund_at": None, "fare_case": "amount"}
    row = one(Trip(refund_at=Location(name="r")))
    assert row["refund_at"]["name"] == "r" and row["amount"] is None and row["fare_case"] == "refund_at"
    row = one(Trip())
    assert row["fare_case"] is None and row["amount"] is None and row["voucher"] is None


def test_proto3_optional_and_wrappers_are_null_when_unset_and_zero_when_set_to_zero():
    row = one(Trip(passengers=0, tip={"value": 0}, note={"value": ""}))
    assert row["passengers"] == 0 and row["tip"] == 0 and row["note"] == ""
    row = one(Trip())
    assert row["passengers"] is None and row["tip"] is None and row["note"] is None


def test_timestamp_and_duration_in_microseconds():
    message = Trip()
    message.at.FromDatetime(dt.datetime(2024, 2, 29, 12, 30, 15, 123456, tzinfo=UTC))
    message.at.nanos += 999   # sub-microsecond digits are dropped (floor)
    message.took.FromMicroseconds(-1_500_001)
    message.took.nanos -= 999
    message.marks.add(seconds=-1, nanos=500_000_000)
    row = one(message)
    assert row["at"] == dt.datetime(2024, 2, 29, 12, 30, 15, 123456, tzinfo=UTC)
    assert row["took"] == dt.timedelta(microseconds=-1_500_001)   # toward zero
    assert row["marks"] == [dt.datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)]
    assert one(Trip())["at"] is None and one(Trip())["took"] is None


def test_timestamp_outside_its_documented_range_is_rejected():
    message = Trip(id=1)
    message.at.seconds = 253_402_300_800   # year 10000
    assert "at: google.protobuf.Timestamp outside" in failure(delimited(Trip(), message))


def test_struct_value_and_any_become_compact_json():
    message = Trip()
    message.extra.update({"k": ["x", True, None], "n": {"z": 1.5}})
    message.detail.Pack(Location(name="packed"))
    message.any_value.list_value.values.add().string_value = "v"
    row = one(message)
    assert json.loads(row["extra"]) == {"k": ["x", True, None], "n": {"z": 1.5}}
    assert " " not in row["extra"]
    assert json.loads(row["detail"]) == {"@type": "type.googleapis.com/bq.test.Location", "name": "packed"}
    assert row["any_value"] == '["v"]'


def test_any_of_a_type_outside_the_schema_is_kept_whole():
    message = Trip()
    message.detail.type_url = "type.googleapis.com/elsewhere.Unknown"
    message.detail.value = b"\x08\x01"
    assert json.loads(one(message)["detail"]) == {"@type": "type.googleapis.com/elsewhere.Unknown", "value": "CAE="}


def test_recursion_beyond_the_cap_is_json_with_proto_field_names():
    tree = Node(name="root", child=Node(name="c1", child=Node(name="c2", kids=[Node(name="k")])))
    [row] = rows(delimited(tree), message="bq.test.Node", max_depth=1)
    assert row["name"] == "root"
    assert row["child"]["name"] == "c1"
    assert json.loads(row["child"]["child"]) == {"name": "c2", "kids": [{"name": "k"}]}
    assert row["child"]["kids"] == []


def test_proto2_defaults_required_and_closed_enums():
    schema = legacy_schema()
    Legacy = schema.message_class("bq.legacy.Legacy")
    full = Legacy(id=2, label="x", count=0, level=2, levels=[1, 2], mode_by_name={"a": 1}, packed_nums=[1, 2])
    full.inner.code = "c"
    # Unknown closed-enum numbers, which upb keeps among the unknown fields: level=9, levels+=9, a map entry with
    # value 9, packed_levels=[1, 9].
    unknown = Legacy(id=3).SerializeToString() + b"\x20\x09\x28\x09\x32\x05\x0a\x01k\x10\x09\x4a\x02\x01\x09"
    got = rows(delimited(Legacy(id=1), full, unknown), schema=schema, message="bq.legacy.Legacy")
    assert got[0] == {"id": 1, "label": None, "count": None, "level": None, "levels": [], "mode_by_name": [],
                      "inner": None, "packed_nums": [], "packed_levels": []}   # [default = ...] is not applied
    assert got[1]["label"] == "x" and got[1]["count"] == 0 and got[1]["level"] == "HIGH"
    assert got[1]["levels"] == ["LOW", "HIGH"] and got[1]["inner"] == {"code": "c", "flag": None}
    assert got[1]["mode_by_name"] == [("a", "MODE_ON")] and got[1]["packed_nums"] == [1, 2]
    assert got[2]["level"] == "9" and got[2]["levels"] == ["9"] and got[2]["mode_by_name"] == [("k", "9")]
    assert got[2]["packed_levels"] == ["LOW", "9"]


def test_batches_match_the_translated_schema():
    batches = list(decode_batches(trip_schema(), "bq.test.Trip", delimited(Trip(), Trip(id=1)), "delimited",
                                  max_depth=6))
    assert batches[0].schema == arrow_schema(columns_for(trip_schema().descriptor("bq.test.Trip")))


def test_batches_are_cut_at_batch_rows_and_progress_is_reported():
    progress = []
    body = delimited(*[Trip(id=i) for i in range(12000)])
    batches = list(decode_batches(trip_schema(), "bq.test.Trip", body, "delimited", max_depth=6, batch_rows=5000,
                                  on_progress=lambda b, n: progress.append((b, n))))
    assert [b.num_rows for b in batches] == [5000, 5000, 2000]
    assert [n for _, n in progress] == [5000, 10000, 12000]
    assert progress[-1][0] == len(body.getvalue())
    assert progress[0][0] < progress[1][0] < progress[2][0]


def test_the_body_is_read_in_chunks():
    class Recording(io.BytesIO):
        sizes: list[int] = []

        def read(self, size=-1):
            self.sizes.append(size)
            return super().read(size)

    body = delimited(*[Trip(id=i, raw=b"x" * 1000) for i in range(5000)]).getvalue()   # ~5 MB
    source = Recording(body)
    assert sum(1 for _ in rows(source)) == 5000
    assert len(source.sizes) > 3 and all(0 < size <= 1 << 20 for size in source.sizes)


# -- other formats ------------------------------------------------------------------------------------------------

def test_single_message_format():
    assert rows(Trip(id=5, raw=b"\n\n").SerializeToString(), "single") [0]["raw"] == b"\n\n"
    assert rows(b"", "single")[0]["id"] == 0   # an empty body is the all-default message


def test_jsonl_accepts_proto_and_json_names_and_skips_blank_lines():
    body = (b'{"id": "1", "refund_at": {"name": "snake"}, "payment": "CASH"}\n'
            b"\n   \n"
            b'{"id": 2, "refundAt": {"name": "camel"}, "payment": 7, "raw": "CgA=", "at": "2024-01-01T00:00:00.5Z"}\r\n'
            b'{"id": 3, "tags": {"a": "5"}, "extra": {"k": [1, "x"]}}')
    got = rows(body, "jsonl")
    assert [r["id"] for r in got] == [1, 2, 3]
    assert got[0]["refund_at"]["name"] == "snake" and got[0]["payment"] == "CASH"
    assert got[1]["refund_at"]["name"] == "camel" and got[1]["payment"] == "7" and got[1]["raw"] == b"\n\x00"
    assert got[1]["at"] == dt.datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    assert got[2]["tags"] == [("a", 5)] and json.loads(got[2]["extra"]) == {"k": [1, "x"]}


def test_jsonl_accepts_a_byte_order_mark():
    assert rows(b'\xef\xbb\xbf{"id": 4}\n', "jsonl")[0]["id"] == 4


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_framing_does_not_depend_on_chunk_boundaries(chunk):
    messages = [Trip(id=i, raw=b"\n" * i, voucher="x" * (i * 13)) for i in range(40)]
    body = delimited(*messages).getvalue()
    want = list(_frames.delimited(io.BytesIO(body)))
    assert list(_frames.delimited(io.BytesIO(body), chunk=chunk)) == want
    assert [Trip.FromString(payload) for _, _, payload, _ in want] == messages
    assert want[-1][1] == len(body) and all(a[1] == b[0] for a, b in zip(want, want[1:]))
    text = b'{"id": 1}\n\n{"id": 22}\r\n  \n{"voucher": "\xc3\xa9"}'
    lines = list(_frames.jsonl(io.BytesIO(text), chunk=chunk))
    assert lines == list(_frames.jsonl(io.BytesIO(text)))
    assert [(offset, end, line) for offset, end, _, line in lines] == [(0, 10, 1), (11, 23, 3), (26, 43, 5)]


def test_unknown_format_is_a_validation_error():
    with pytest.raises(ValidationFailed):
        rows(b"", "csv")


# -- errors: every kind names the message index (0-based) and its byte offset -------------------------------------

def _good_prefix() -> tuple[bytes, int]:
    """Two good messages; returns the body and the offset of the third message."""
    body = delimited(Trip(id=1), Trip(id=2, voucher="v")).getvalue()
    return body, len(body)


def test_truncated_frame():
    body, offset = _good_prefix()
    detail = failure(body + varint(50) + b"only ten b")
    assert detail.startswith(f"message 2 at byte offset {offset}: truncated message")
    assert "declares 50 bytes but only 10 remain" in detail


def test_truncated_and_overlong_length_prefix():
    body, offset = _good_prefix()
    assert failure(body + b"\xff\xff") == f"message 2 at byte offset {offset}: truncated length prefix"
    assert failure(body + b"\xff" * 11).startswith(
        f"message 2 at byte offset {offset}: invalid varint: longer than 10 bytes")


def test_truncated_field_inside_a_message():
    body, offset = _good_prefix()
    payload = b"\x4a\x09abc"          # voucher declares 9 bytes, has 3
    detail = failure(body + varint(len(payload)) + payload)
    assert detail == (f"message 2 at byte offset {offset}: field 9 (voucher): truncated, declares 9 bytes but "
                      f"3 remain")


def test_bad_varint_inside_a_message():
    body, offset = _good_prefix()
    payload = b"\x08" + b"\xff" * 11  # id with an 11-byte varint
    detail = failure(body + varint(len(payload)) + payload)
    assert detail.startswith(f"message 2 at byte offset {offset}: field 1 (id): invalid varint")


def test_invalid_wire_type():
    body, offset = _good_prefix()
    payload = b"\x0f"                 # field 1, wire type 7
    assert failure(body + varint(1) + payload) == (
        f"message 2 at byte offset {offset}: field 1 (id) has invalid wire type 7 at payload byte 0")


def test_known_field_with_the_wrong_wire_type():
    body, offset = _good_prefix()
    payload = b"\x0a\x01x"            # id (uint64) sent length-delimited
    detail = failure(body + varint(len(payload)) + payload)
    assert detail.startswith(f"message 2 at byte offset {offset}: field id (number 1, uint64) arrived with wire "
                             f"type 2")


def test_wrong_wire_type_in_a_nested_message():
    inner = b"\x19" + b"\x00" * 8     # Location.name (string) sent as 64-bit
    payload = b"\x1a" + varint(len(inner)) + inner
    detail = failure(varint(len(payload)) + payload)
    assert detail.startswith("message 0 at byte offset 0: field pickup.name (number 3, string) arrived with wire")


def test_invalid_utf8_proto3_string():
    body, offset = _good_prefix()
    payload = b"\x4a\x02\xc3\x28"     # voucher = bad UTF-8
    detail = failure(body + varint(len(payload)) + payload)
    assert detail.startswith(f"message 2 at byte offset {offset}: ") and "UTF-8" in detail


def test_invalid_utf8_proto2_strings_are_caught_even_though_upb_lets_them_through():
    schema = legacy_schema()
    good = schema.message_class("bq.legacy.Legacy")(id=1).SerializeToString()
    first = varint(len(good)) + good
    for tail, field in [(b"\x12\x02\xff\xfe", "label"), (b"\x3a\x04\x0a\x02\xc3\x28", "inner.code"),
                        (b"\x32\x06\x0a\x02\xff\xfe\x10\x01", "mode_by_name.key")]:
        bad = good + tail
        detail = failure(first + varint(len(bad)) + bad, schema=schema, message="bq.legacy.Legacy")
        assert detail == f"message 1 at byte offset {len(first)}: field {field}: string is not valid UTF-8"


def test_nan_in_a_struct_value_cannot_be_json():
    message = Trip()
    message.any_value.number_value = float("nan")
    assert failure(delimited(message)).startswith("message 0 at byte offset 0: field any_value: cannot be written")


def test_unbalanced_group():
    detail = failure(delimited(b"\x13\x08\x01"))   # field 2 starts a group that never ends
    assert detail == "message 0 at byte offset 0: field 2: group not closed before the end of the data"


def test_missing_required_fields():
    schema = legacy_schema()
    assert failure(varint(0), schema=schema, message="bq.legacy.Legacy") == (
        "message 0 at byte offset 0: missing required field(s): id")
    payload = b"\x08\x01\x3a\x00"     # id=1, inner={} without its required code
    assert failure(varint(len(payload)) + payload, schema=schema, message="bq.legacy.Legacy") == (
        "message 0 at byte offset 0: missing required field(s): inner.code")


def test_bad_json_line_names_line_and_offset():
    body = b'{"id": 1}\n\n{"id": 2, "nope": 3}\n'
    assert failure(body, "jsonl").startswith(
        "message 1 (line 3) at byte offset 11: invalid JSON message: Message type \"bq.test.Trip\" has no field "
        "named \"nope\"")
    assert failure(b'{"id": 1}\n{"id": ', "jsonl").startswith(
        "message 1 (line 2) at byte offset 10: invalid JSON message: Failed to load JSON")
    assert failure(b'{"voucher": "\xff"}', "jsonl").startswith("message 0 (line 1) at byte offset 0: the line is")


def test_a_bad_message_in_a_later_batch_is_named_by_its_global_index():
    messages = [Trip(id=i).SerializeToString() for i in range(5000)]
    messages[4321] = b"\x0a\x01x"
    offset = sum(len(varint(len(m))) + len(m) for m in messages[:4321])
    with pytest.raises(ProtobufDecodeFailed, match=rf"^message 4321 at byte offset {offset}: field id"):
        rows(delimited(*messages), batch_rows=1000)


def test_big_messages_cut_batches_by_bytes(monkeypatch):
    monkeypatch.setattr(ingest_module, "CHUNK_BYTES", 10_000)
    monkeypatch.setattr(ingest_module, "BATCH_BYTES", 30_000)
    body = delimited(*[Trip(id=i, raw=b"x" * 1000) for i in range(100)])
    sizes = [b.num_rows for b in decode_batches(trip_schema(), "bq.test.Trip", body, "delimited", max_depth=6)]
    assert sum(sizes) == 100 and max(sizes) <= 30


def test_oversized_length_prefix_is_refused_without_reading_it(monkeypatch):
    monkeypatch.setattr(ingest_module._frames, "MAX_MESSAGE_BYTES", 1000)
    assert "over the 1000-byte limit" in failure(varint(5000) + b"x" * 5000)


# -- ingest: all targets or none ----------------------------------------------------------------------------------

class Collecting:
    """A BulkInsert test double: keeps written batches, records commit/abort."""

    def __init__(self, fail_on_write: int | None = None, fail_on_commit: bool = False) -> None:
        self.batches: list[pa.RecordBatch] = []
        self.committed = self.aborted = False
        self._fail_on_write, self._fail_on_commit = fail_on_write, fail_on_commit

    def write(self, batch: pa.RecordBatch) -> None:
        if self._fail_on_write is not None and len(self.batches) == self._fail_on_write:
            raise RuntimeError("disk full")
        self.batches.append(batch)

    def write_stream(self, batches: pa.RecordBatchReader) -> None:
        for batch in batches:
            self.write(batch)

    def commit(self) -> int:
        if self._fail_on_commit:
            raise RuntimeError("commit failed")
        self.committed = True
        return sum(b.num_rows for b in self.batches)

    def abort(self) -> None:
        self.aborted = True


def run_ingest(body: io.BytesIO, targets: dict, **kwargs):
    return ingest(trip_schema(), "bq.test.Trip", body, "delimited", targets, max_depth=6, **kwargs)


def test_ingest_writes_every_batch_to_every_target_and_commits():
    a, b = Collecting(), Collecting()
    body = delimited(*[Trip(id=i) for i in range(100)])
    progress = []
    result = run_ingest(body, {"duckdb": a, "clickhouse": b}, on_progress=lambda *p: progress.append(p))
    assert result.rows == 100 and result.bytes == len(body.getvalue()) and result.duration_ms >= 0
    assert result.engines == {"duckdb": 100, "clickhouse": 100}
    assert a.committed and b.committed and not a.aborted
    assert progress == [(len(body.getvalue()), 100)]


def test_a_decode_error_aborts_every_target_and_commits_none():
    a, b = Collecting(), Collecting()
    body = delimited(*([Trip(id=i) for i in range(5000)] + [b"\x0f"]))
    with pytest.raises(ProtobufDecodeFailed, match="^message 5000 "):
        ingest(trip_schema(), "bq.test.Trip", body, "delimited", {"a": a, "b": b}, max_depth=6, batch_rows=1000)
    assert a.aborted and b.aborted and not a.committed and not b.committed
    assert len(a.batches) == 5   # earlier batches went out, but nothing was committed


def test_an_engine_error_aborts_every_target():
    a, b = Collecting(), Collecting(fail_on_write=1)
    with pytest.raises(RuntimeError, match="disk full"):
        run_ingest(delimited(*[Trip(id=i) for i in range(3000)]), {"a": a, "b": b}, batch_rows=1000)
    assert a.aborted and b.aborted and not a.committed


def test_a_failed_commit_aborts_the_targets_not_yet_committed():
    a, b, c = Collecting(), Collecting(fail_on_commit=True), Collecting()
    with pytest.raises(RuntimeError, match="commit failed"):
        run_ingest(delimited(Trip(id=1)), {"a": a, "b": b, "c": c})
    assert a.committed and not a.aborted
    assert b.aborted and c.aborted and not c.committed


def test_progress_callback_can_stop_the_ingest():
    target = Collecting()

    def stop(_bytes: int, _messages: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_ingest(delimited(Trip(id=1)), {"a": target}, on_progress=stop)
    assert target.aborted and not target.committed


# -- ingest into the real engines ---------------------------------------------------------------------------------

def _table(engine, message: str = "bq.test.Trip") -> tuple[str, str]:
    db, table = f"ing_{uuid.uuid4().hex[:8]}", f"t_{uuid.uuid4().hex[:8]}"
    engine.create_table(db, table, columns_for(trip_schema().descriptor(message)))
    return db, table


def _query(engine, sql: str) -> list[dict]:
    return pa.Table.from_batches(list(engine.execute(sql, query_tag=uuid.uuid4().hex))).to_pylist()


def test_ingest_into_both_engines(duckdb_engine, clickhouse_engine):
    engines = {"duckdb": duckdb_engine, "clickhouse": clickhouse_engine}
    tables = {name: _table(engine) for name, engine in engines.items()}
    message = Trip(id=2**64 - 1, payment=9, voucher="v", raw=b"\n\x00", tags={"k": 1}, counts=[1, 2])
    message.pickup.name = "p"
    message.at.FromMicroseconds(1_700_000_000_000_001)
    message.took.FromMicroseconds(-2_500_000)
    message.extra.update({"a": 1})
    body = delimited(message, Trip(id=1))
    targets = {name: engine.open_insert(*tables[name]) for name, engine in engines.items()}
    result = ingest(trip_schema(), "bq.test.Trip", body, "delimited", targets, max_depth=6)
    assert result.engines == {"duckdb": 2, "clickhouse": 2}
    for name, engine in engines.items():
        db, table = tables[name]
        got = _query(engine, f"SELECT id, payment, voucher, fare_case, pickup.name AS pickup_name, \"at\", counts, "
                             f"hex(raw) AS raw_hex FROM {db}.{table} ORDER BY id")
        assert [r["id"] for r in got] == [1, 2**64 - 1], name
        last = got[1]
        assert last["payment"] == "9" and last["voucher"] == "v" and last["fare_case"] == "voucher", name
        assert last["pickup_name"] == "p" and last["counts"] == [1, 2], name
        assert last["raw_hex"].upper() == "0A00", name
        assert last["at"] == dt.datetime.fromtimestamp(1_700_000_000.000001, UTC), name
        assert got[0]["pickup_name"] is None and got[0]["fare_case"] is None, name


def test_a_bad_message_leaves_no_rows_in_either_engine(duckdb_engine, clickhouse_engine):
    engines = {"duckdb": duckdb_engine, "clickhouse": clickhouse_engine}
    tables = {name: _table(engine) for name, engine in engines.items()}
    body = delimited(*([Trip(id=i) for i in range(3000)] + [b"\x4a\x02\xc3\x28"]))
    targets = {name: engine.open_insert(*tables[name]) for name, engine in engines.items()}
    with pytest.raises(ProtobufDecodeFailed, match="^message 3000 "):
        ingest(trip_schema(), "bq.test.Trip", body, "delimited", targets, max_depth=6)
    for name, engine in engines.items():
        db, table = tables[name]
        assert _query(engine, f"SELECT count(*) AS n FROM {db}.{table}") == [{"n": 0}], name


@pytest.mark.parametrize("engine_name", ["duckdb", "clickhouse"])
def test_one_target_streams_and_its_errors_stay_ours(duckdb_engine, clickhouse_engine, engine_name):
    """One target takes the whole stream at once (one INSERT for DuckDB); a bad message or a cancel raised by the
    decode still arrives as itself, after earlier batches went in, and nothing is committed."""
    engine = {"duckdb": duckdb_engine, "clickhouse": clickhouse_engine}[engine_name]
    db, table = _table(engine)
    body = delimited(*([Trip(id=i) for i in range(3000)] + [b"\x4a\x02\xc3\x28"]))
    with pytest.raises(ProtobufDecodeFailed, match="^message 3000 at byte offset "):
        ingest(trip_schema(), "bq.test.Trip", body, "delimited", {"t": engine.open_insert(db, table)}, max_depth=6,
               batch_rows=1000)

    class Stop(Exception):
        pass

    def stop(_bytes: int, messages: int) -> None:
        if messages >= 2000:
            raise Stop

    with pytest.raises(Stop):
        ingest(trip_schema(), "bq.test.Trip", delimited(*[Trip(id=i) for i in range(5000)]), "delimited",
               {"t": engine.open_insert(db, table)}, max_depth=6, batch_rows=1000, on_progress=stop)
    assert _query(engine, f"SELECT count(*) AS n FROM {db}.{table}") == [{"n": 0}]
    result = ingest(trip_schema(), "bq.test.Trip", delimited(*[Trip(id=i) for i in range(2500)]), "delimited",
                    {"t": engine.open_insert(db, table)}, max_depth=6, batch_rows=1000)
    assert result.engines == {"t": 2500}
    assert _query(engine, f"SELECT count(*) AS n FROM {db}.{table}") == [{"n": 2500}]
