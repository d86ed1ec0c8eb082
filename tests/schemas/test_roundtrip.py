"""Property test: random messages -> delimited body -> decode -> both real engines -> SQL -> the same values.

The expected values are computed straight from the messages with protobuf's own helpers (``ToMicroseconds``,
``MessageToDict``), not through the batch builder, so the builder is checked against an independent oracle.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bqlite_app.schemas.ingest import decode_batches
from bqlite_app.schemas.translate import columns_for
from tests.schemas._mapping_cases import delimited, trip_class, trip_schema

MAX_DEPTH = 2          # Everything.tree is a struct, tree.child too, and tree.child.child is JSON
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
PAYMENTS = {0: "PAYMENT_UNSPECIFIED", 1: "CARD", 2: "CASH"}
SCALAR_FIELDS = ["f_double", "f_float", "f_int32", "f_int64", "f_uint32", "f_uint64", "f_sint32", "f_sint64",
                 "f_fixed32", "f_fixed64", "f_sfixed32", "f_sfixed64", "f_bool", "f_string"]
# ClickHouse's DateTime64 covers 1900..2299; DuckDB covers more.
TS_SECONDS = st.integers(-2_208_988_800, 7_258_118_399)
# DuckDB hands INTERVALs to Arrow as month_day_nano, whose int64 nanoseconds wrap beyond ~292 years (the stored
# value is right; only that read path overflows). Protobuf allows +-10000 years.
DURATION_SECONDS = st.integers(-(2**63 // 10**9) + 1, 2**63 // 10**9 - 1)

Everything = trip_class("bq.test.Everything")
Location = trip_class("bq.test.Location")
Node = trip_class("bq.test.Node")
Scalars = trip_class("bq.test.Scalars")


# -- strategies ---------------------------------------------------------------------------------------------------

def ints(bits: int, signed: bool = True) -> st.SearchStrategy[int]:
    return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else st.integers(0, 2**bits - 1)


enum_numbers = st.one_of(st.sampled_from(list(PAYMENTS)), ints(32))
text = st.text(max_size=12)
locations = st.builds(Location, lat=st.floats(allow_nan=False), lon=st.floats(width=32), name=text)
json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=8)


@st.composite
def nodes(draw, depth: int = 0) -> Any:
    node = Node(name=draw(text))
    if depth < 4 and draw(st.booleans()):
        node.child.CopyFrom(draw(nodes(depth + 1)))
    if depth < 3:
        node.kids.extend(draw(st.lists(nodes(depth + 2), max_size=2)))
    return node


@st.composite
def scalars(draw) -> Any:
    return Scalars(
        f_double=draw(st.floats()), f_float=draw(st.floats(width=32)), f_int32=draw(ints(32)),
        f_int64=draw(ints(64)), f_uint32=draw(ints(32, False)), f_uint64=draw(ints(64, False)),
        f_sint32=draw(ints(32)), f_sint64=draw(ints(64)), f_fixed32=draw(ints(32, False)),
        f_fixed64=draw(ints(64, False)), f_sfixed32=draw(ints(32)), f_sfixed64=draw(ints(64)),
        f_bool=draw(st.booleans()), f_string=draw(text), f_bytes=draw(st.binary(max_size=8)))


@st.composite
def everything(draw, seq: int) -> Any:
    m = Everything(seq=seq, payment=draw(enum_numbers), counts=draw(st.lists(ints(64), max_size=4)),
                   raw=draw(st.binary(max_size=16)), history=draw(st.lists(enum_numbers, max_size=3)),
                   ratio=draw(st.floats(width=32)))
    if draw(st.booleans()):
        m.scalars.CopyFrom(draw(scalars()))
    m.stops.extend(draw(st.lists(locations, max_size=3)))
    m.tags.update(draw(st.dictionaries(text, ints(64), max_size=3)))
    for key, location in draw(st.dictionaries(ints(64, False), locations, max_size=2)).items():
        m.places[key].CopyFrom(location)
    m.modes.update(draw(st.dictionaries(text, enum_numbers, max_size=2)))
    fare = draw(st.sampled_from(["amount", "voucher", "refund_at", None]))
    if fare == "amount":
        m.amount = draw(st.floats())
    elif fare == "voucher":
        m.voucher = draw(text)
    elif fare == "refund_at":
        m.refund_at.CopyFrom(draw(locations))
    if draw(st.booleans()):
        m.passengers = draw(ints(32))
    if draw(st.booleans()):
        m.big.value = draw(ints(64, False))
    if draw(st.booleans()):
        m.note.value = draw(text)
    if draw(st.booleans()):
        m.at.seconds, m.at.nanos = draw(TS_SECONDS), draw(st.integers(0, 999_999_999))
    if draw(st.booleans()):
        seconds = draw(DURATION_SECONDS)
        nanos = draw(st.integers(0, 999_999_999)) * (-1 if seconds < 0 else 1)
        m.took.seconds, m.took.nanos = seconds, (nanos if seconds else draw(st.integers(-999_999_999, 999_999_999)))
    if draw(st.booleans()):
        m.extra.update(draw(st.dictionaries(text, json_values, max_size=3)))
    for seconds in draw(st.lists(TS_SECONDS, max_size=2)):
        m.marks.add(seconds=seconds, nanos=draw(st.integers(0, 999_999_999)))
    if draw(st.booleans()):
        m.tree.CopyFrom(draw(nodes()))
    if draw(st.booleans()):
        m.blob.value = draw(st.binary(max_size=8))
    return m


message_lists = st.integers(0, 12).flatmap(lambda n: st.tuples(*[everything(i) for i in range(n)]))


# -- the oracle ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Json:
    value: Any


@dataclass(frozen=True)
class Micros:
    value: int


def label(number: int) -> str:
    return PAYMENTS.get(number, str(number))


def loc(m: Any) -> dict:
    return {"lat": m.lat, "lon": m.lon, "name": m.name}


def node(m: Any, level: int) -> Any:
    if level > MAX_DEPTH:
        return Json(json_format.MessageToDict(m, preserving_proto_field_name=True))
    return {"name": m.name, "child": node(m.child, level + 1) if m.HasField("child") else None,
            "kids": [node(k, level + 1) for k in m.kids]}


def expected(m: Any) -> dict:
    def opt(name: str, value: Any) -> Any:
        return value if m.HasField(name) else None

    return {
        "seq": m.seq,
        "scalars": opt("scalars", {f: getattr(m.scalars, f) for f in SCALAR_FIELDS}),
        "scalars_bytes": opt("scalars", m.scalars.f_bytes.hex()),
        "payment": label(m.payment), "counts": list(m.counts), "stops": [loc(s) for s in m.stops],
        "tags": dict(m.tags), "places": {k: loc(v) for k, v in m.places.items()},
        "amount": opt("amount", m.amount), "voucher": opt("voucher", m.voucher),
        "refund_at": opt("refund_at", loc(m.refund_at)), "fare_case": m.WhichOneof("fare"),
        "passengers": opt("passengers", m.passengers), "big": opt("big", m.big.value),
        "note": opt("note", m.note.value), "at": opt("at", Micros(m.at.ToMicroseconds())),
        "took": opt("took", Micros(m.took.ToMicroseconds())),
        "extra": opt("extra", Json(json_format.MessageToDict(m.extra))), "raw": m.raw.hex(),
        "history": [label(v) for v in m.history], "modes": {k: label(v) for k, v in m.modes.items()},
        "marks": [Micros(t.ToMicroseconds()) for t in m.marks],
        "tree": opt("tree", node(m.tree, 1)), "ratio": m.ratio, "blob": opt("blob", m.blob.value.hex()),
    }


def micros(value: Any) -> int:
    if isinstance(value, dt.datetime):
        return (value - EPOCH) // dt.timedelta(microseconds=1)
    if isinstance(value, dt.timedelta):
        return value // dt.timedelta(microseconds=1)
    if isinstance(value, pa.MonthDayNano):
        assert value.months == 0
        return value.days * 86_400_000_000 + value.nanoseconds // 1000
    return int(value)   # ClickHouse stores intervals as Int64 microseconds


def same(want: Any, got: Any, path: str = "") -> None:
    if isinstance(want, Json):
        assert got is not None and json.loads(got) == want.value, path
    elif isinstance(want, Micros):
        assert micros(got) == want.value, path
    elif isinstance(want, float):
        assert (math.isnan(want) and math.isnan(got)) or want == got, path
    elif isinstance(want, dict):
        got_dict = dict(got) if isinstance(got, list) else got   # maps come back as lists of pairs
        assert isinstance(got_dict, dict) and set(got_dict) == set(want), (path, got)
        for key, value in want.items():
            same(value, got_dict[key], f"{path}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), (path, got)
        for i, (w, g) in enumerate(zip(want, got)):
            same(w, g, f"{path}[{i}]")
    else:
        assert want == got, (path, want, got)


# -- the test -----------------------------------------------------------------------------------------------------

COLUMNS = [c.name for c in columns_for(trip_schema().descriptor("bq.test.Everything"), max_depth=MAX_DEPTH)]
BINARY = {"raw": "hex(raw)", "blob": "hex(blob)", "scalars_bytes": "hex(scalars.f_bytes)"}


def select_list() -> str:
    plain = [f'"{name}"' for name in COLUMNS if name not in BINARY]
    return ", ".join(plain + [f'lower({expr}) AS "{name}"' for name, expr in BINARY.items()])


def drop_bytes(row: dict) -> dict:
    if row["scalars"] is not None:
        row["scalars"] = {k: v for k, v in row["scalars"].items() if k != "f_bytes"}
    return row


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(messages=message_lists)
def test_random_messages_survive_both_engines(duckdb_engine, clickhouse_engine, messages):
    body = delimited(*messages)
    batches = list(decode_batches(trip_schema(), "bq.test.Everything", body, "delimited", max_depth=MAX_DEPTH,
                                  batch_rows=5))
    columns = columns_for(trip_schema().descriptor("bq.test.Everything"), max_depth=MAX_DEPTH)
    for engine in (duckdb_engine, clickhouse_engine):
        db, table = f"rt_{uuid.uuid4().hex[:8]}", f"t_{uuid.uuid4().hex[:8]}"
        engine.create_table(db, table, columns)
        bulk = engine.open_insert(db, table)
        for batch in batches:
            bulk.write(batch)
        assert bulk.commit() == len(messages)
        result = engine.execute(f"SELECT {select_list()} FROM {db}.{table} ORDER BY seq", query_tag=uuid.uuid4().hex)
        got = [drop_bytes(row) for row in pa.Table.from_batches(list(result)).to_pylist()]
        assert len(got) == len(messages), engine.name
        for message, row in zip(messages, got):
            same(expected(message), row, f"{engine.name}:{message.seq}")
        engine.drop_table(db, table)
