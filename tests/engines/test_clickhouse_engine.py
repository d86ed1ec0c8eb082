"""ClickHouse-only behaviour: the Native -> Arrow type mapping, the tag comment, the native Protobuf read."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
from pathlib import Path

import pyarrow as pa
import pytest

from engines.base import Engine
from engines.errors import EngineQueryError
from engines.protobuf_read import ProtobufRead, ReadEnum, ReadField, ReadScalar
from tests.conftest import embedded_only


def test_native_types_map_to_sensible_arrow(clickhouse_engine: Engine) -> None:
    sql = """
        SELECT toDateTime('2024-01-02 03:04:05', 'UTC') AS dt,
               toDateTime64('2024-01-02 03:04:05.123', 3, 'Europe/Paris') AS dt3,
               [toDateTime64('2024-01-02 03:04:05.12', 2, 'UTC')] AS odd_scale,
               toDate32('1960-05-06') AS d,
               toDecimal64(1.25, 3) AS dec,
               toUUID('61f0c404-5cb3-11e7-907b-a6006ad3dba0') AS u,
               CAST('b', 'Enum8(\\'a\\' = 1, \\'b\\' = 2)') AS e,
               toLowCardinality('x') AS lc,
               toInt128(5) AS big,
               tuple(1, 'a') AS unnamed,
               toFixedString('ab', 3) AS fs,
               map('k', [1]) AS m"""
    batch = list(clickhouse_engine.execute(sql, query_tag="types"))[0]
    schema = batch.schema
    assert schema.field("dt").type == pa.timestamp("s", tz="UTC")
    assert schema.field("dt3").type == pa.timestamp("ms", tz="Europe/Paris")
    assert schema.field("odd_scale").type == pa.list_(pa.timestamp("ms", tz="UTC"))
    assert schema.field("d").type == pa.date32()
    assert schema.field("dec").type == pa.decimal128(18, 3)
    for name in ("u", "e", "lc", "big"):
        assert schema.field(name).type == pa.string()
    row = batch.to_pylist()[0]
    utc = dt.UTC
    assert row["dt"] == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=utc)
    assert row["dt3"] == dt.datetime(2024, 1, 2, 2, 4, 5, 123000, tzinfo=utc)
    assert row["odd_scale"] == [dt.datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=utc)]
    assert row["d"] == dt.date(1960, 5, 6)
    assert row["dec"] == decimal.Decimal("1.250")
    assert (row["u"], row["e"], row["lc"], row["big"]) == ("61f0c404-5cb3-11e7-907b-a6006ad3dba0", "b", "x", "5")
    assert row["unnamed"] == {"1": 1, "2": "a"}
    assert row["fs"] == b"ab\x00"
    assert row["m"] == [("k", [1])]


def test_empty_result_of_a_table_function_keeps_its_columns(clickhouse_engine: Engine) -> None:
    batches = list(clickhouse_engine.execute("SELECT number, toString(number) AS s FROM numbers(10) WHERE number > 99",
                                             query_tag="empty"))
    assert [b.num_rows for b in batches] == [0]
    assert batches[0].schema == pa.schema([("number", pa.uint64()), ("s", pa.string())])


def test_tag_with_like_wildcards_only_matches_itself(clickhouse_engine: Engine) -> None:
    # "_" and "%" are LIKE wildcards; a tag containing them must not reach another query.
    assert clickhouse_engine.cancel("a_%") is False
    batches = list(clickhouse_engine.execute("SELECT 1 AS one", query_tag="a_%'*/ x"))
    assert batches[0].column(0).to_pylist() == [1]


# -- read_protobuf: the description in, Arrow out ---------------------------------------------------------------

_PROTO = 'syntax = "proto3";\nmessage M {\n  bytes raw = 1;\n  int32 level = 2;\n  string name = 3;\n}\n'


def _message(raw: bytes, level: int, name: bytes) -> bytes:
    """M on the wire (fields 1 and 3 length-delimited, 2 a varint), without a library."""
    return b"\x0a" + bytes([len(raw)]) + raw + b"\x10" + bytes([level]) + b"\x1a" + bytes([len(name)]) + name


def _protobuf_read(tmp_path: Path, *messages: bytes) -> ProtobufRead:
    (tmp_path / "m.proto").write_text(_PROTO)
    body = tmp_path / "body.bin"
    body.write_bytes(b"".join(bytes([len(m)]) + m for m in messages))
    fields = (ReadField("raw", ReadScalar("binary")), ReadField("level", ReadEnum(((1, "ONE"),))),
              ReadField("name", ReadScalar("string")))
    return ProtobufRead(body=body, delimited=True, schema_file=tmp_path / "m.proto", message="M", fields=fields,
                        rejected="bqlite test: rejected")


@embedded_only
def test_read_protobuf_follows_the_description(clickhouse_engine: Engine, tmp_path: Path) -> None:
    read = _protobuf_read(tmp_path, _message(b"\x00\xff\n", 1, b"a"), _message(b"", 7, b"b"))
    table = pa.Table.from_batches(list(clickhouse_engine.read_protobuf(read, query_tag="pb-read")))
    assert table.schema.field("raw").type == pa.binary()      # not the hex text it travels as
    assert table.to_pylist() == [{"raw": b"\x00\xff\n", "level": "ONE", "name": "a"},
                                 {"raw": b"", "level": "7", "name": "b"}]   # an unknown number keeps its digits


@embedded_only
def test_read_protobuf_fails_on_a_row_that_breaks_a_rule(clickhouse_engine: Engine, tmp_path: Path) -> None:
    read = _protobuf_read(tmp_path, _message(b"x", 1, b"\xff\xfe"))   # invalid UTF-8 in a string field
    with pytest.raises(EngineQueryError, match="bqlite test: rejected"):
        list(clickhouse_engine.read_protobuf(read, query_tag="pb-reject"))


def test_read_protobuf_refuses_paths_that_file_would_expand(clickhouse_engine: Engine, tmp_path: Path) -> None:
    read = dataclasses.replace(_protobuf_read(tmp_path, _message(b"x", 1, b"a")), body=tmp_path / "b*.bin")
    with pytest.raises(EngineQueryError):
        clickhouse_engine.read_protobuf(read, query_tag="pb-glob")
