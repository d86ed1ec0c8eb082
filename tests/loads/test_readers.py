"""The format readers and autodetection on real files, without an engine: types, bad records, jagged rows, and
batches that stay bounded however large the file."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bqlite_app.errors import ValidationFailed
from bqlite_app.loads import BadRecords, LoadSpec, TooManyBadRecords, validate
from bqlite_app.loads._arrow import arrow_schema
from bqlite_app.loads.readers import Reader, detect
from engines.types import Column, ListOf, Scalar, Struct, Timestamp
from engines.types import Decimal as DecimalType

UTC = dt.UTC


def read(path: Path, spec: LoadSpec, columns: list[Column] | None = None, *, skip: int | None = None,
         bad: BadRecords | None = None, **sizes: int) -> list[dict]:
    if columns is None:
        detected = detect(path, spec)
        columns, skip = detected.columns, detected.skip_rows if skip is None else skip
    reader = Reader(path, spec, arrow_schema(columns), bad or BadRecords(spec.max_bad_records),
                    skip_rows=skip or 0, **sizes)
    return [row for batch in reader for row in batch.to_pylist()]


def test_csv_autodetect_names_types_and_header(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("id,full name,score,active,born,seen,at\n"
                    "1,\"Doe, Ann\",1.5,true,1990-01-02,2024-01-02 03:04:05,12:30:00\n"
                    "2,Bob,,FALSE,1991-02-03,2024-01-02T03:04:05+02:00,01:02:03.5\n")
    spec = LoadSpec("ds", "t", autodetect=True)
    detected = detect(path, spec)
    assert detected.skip_rows == 1
    assert [(c.name, c.type) for c in detected.columns] == [
        ("id", Scalar("int64")), ("full_name", Scalar("string")), ("score", Scalar("float64")),
        ("active", Scalar("bool")), ("born", Scalar("date")), ("seen", Timestamp()), ("at", Scalar("time"))]
    rows = read(path, spec)
    assert rows[0] == {"id": 1, "full_name": "Doe, Ann", "score": 1.5, "active": True, "born": dt.date(1990, 1, 2),
                       "seen": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "at": dt.time(12, 30)}
    assert rows[1]["score"] is None and rows[1]["active"] is False
    assert rows[1]["seen"] == dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)


def test_csv_without_header_gets_google_style_names(tmp_path: Path) -> None:
    path = tmp_path / "bare.csv"
    path.write_text("1,a\n2,b\n")
    spec = LoadSpec("ds", "t", autodetect=True, skip_leading_rows=0)
    assert [c.name for c in detect(path, spec).columns] == ["int64_field_0", "string_field_1"]
    assert read(path, spec) == [{"int64_field_0": 1, "string_field_1": "a"}, {"int64_field_0": 2,
                                                                               "string_field_1": "b"}]


def test_csv_options_delimiter_quote_null_marker_and_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("x\t'multi\nline'\t\\N\ny\t'it''s'\t7\n")
    columns = [Column("k", Scalar("string")), Column("text", Scalar("string")), Column("n", Scalar("int64"))]
    spec = LoadSpec("ds", "t", field_delimiter="tab", quote="'", null_marker="\\N", allow_quoted_newlines=True,
                    schema=tuple(columns))
    validate(spec)
    assert read(path, spec, columns) == [{"k": "x", "text": "multi\nline", "n": None},
                                         {"k": "y", "text": "it's", "n": 7}]


def test_csv_latin1_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("caf\xe9,1\n".encode("latin-1"))
    columns = [Column("w", Scalar("string")), Column("n", Scalar("int64"))]
    spec = LoadSpec("ds", "t", encoding="ISO-8859-1", schema=tuple(columns))
    assert read(path, spec, columns) == [{"w": "café", "n": 1}]


def test_csv_bad_records_are_counted_named_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("n,d\n1,2024-01-01\nabc,2024-01-02\n3,not a date\n4,2024-01-04\n")
    columns = [Column("n", Scalar("int64")), Column("d", Scalar("date"))]
    spec = LoadSpec("ds", "t", skip_leading_rows=1, max_bad_records=2, schema=tuple(columns))
    bad = BadRecords(2)
    assert read(path, spec, columns, skip=1, bad=bad) == [{"n": 1, "d": dt.date(2024, 1, 1)},
                                                         {"n": 4, "d": dt.date(2024, 1, 4)}]
    assert bad.count == 2
    assert [str(p) for p in bad.problems] == ["row 3: could not parse 'abc' as INT64 for field n",
                                              "row 4: could not parse 'not a date' as DATE for field d"]
    with pytest.raises(TooManyBadRecords, match=r"too many bad records .*row 3: could not parse 'abc'"):
        read(path, spec, columns, skip=1, bad=BadRecords(1))


def test_csv_jagged_rows(tmp_path: Path) -> None:
    path = tmp_path / "jagged.csv"
    path.write_text("1,a,x\n2,b\n3\n4,d,y\n")
    columns = [Column("n", Scalar("int64")), Column("s", Scalar("string")), Column("t", Scalar("string"))]
    jagged = LoadSpec("ds", "t", allow_jagged_rows=True, schema=tuple(columns))
    rows = sorted(read(path, jagged, columns), key=lambda r: r["n"])
    assert rows == [{"n": 1, "s": "a", "t": "x"}, {"n": 2, "s": "b", "t": None}, {"n": 3, "s": None, "t": None},
                    {"n": 4, "s": "d", "t": "y"}]
    strict = LoadSpec("ds", "t", schema=tuple(columns), max_bad_records=1)
    with pytest.raises(TooManyBadRecords, match="line 3: expected 3 fields, found 1"):
        read(path, strict, columns)
    bad = BadRecords(2)
    assert [r["n"] for r in read(path, strict, columns, bad=bad)] == [1, 4]
    assert str(bad.problems[0]) == "line 2: expected 3 fields, found 2"


def test_ndjson_autodetect_nested(tmp_path: Path) -> None:
    path = tmp_path / "nested.json"
    rows = [
        {"id": 1, "tags": ["a", "b"], "owner": {"name": "ann", "langs": [{"code": "en", "level": 3}]},
         "at": "2024-01-02T03:04:05Z", "day": "2024-01-02", "ratio": 1, "extra": {"k": [1, 2]}},
        {"id": 2, "tags": [], "owner": {"name": "bob", "langs": [], "age": 40}, "ratio": 0.5, "note": None},
        {"ID": 3, "tags": None},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = LoadSpec("ds", "t", source_format="NEWLINE_DELIMITED_JSON", autodetect=True)
    columns = {c.name: c for c in detect(path, spec).columns}
    assert columns["tags"] == Column("tags", ListOf(Scalar("string")), nullable=False)
    owner = columns["owner"].type
    assert isinstance(owner, Struct)
    assert [(f.name, f.type) for f in owner.fields] == [
        ("name", Scalar("string")),
        ("langs", ListOf(Struct((Column("code", Scalar("string")), Column("level", Scalar("int64")))))),
        ("age", Scalar("int64"))]
    assert columns["at"].type == Timestamp() and columns["day"].type == Scalar("date")
    assert columns["ratio"].type == Scalar("float64") and columns["note"].type == Scalar("string")
    loaded = read(path, spec)
    assert loaded[0]["owner"] == {"name": "ann", "langs": [{"code": "en", "level": 3}], "age": None}
    assert loaded[0]["at"] == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert loaded[0]["extra"] == {"k": [1, 2]}
    assert loaded[2]["id"] == 3 and loaded[2]["tags"] == [] and loaded[2]["owner"] is None


def test_ndjson_declared_schema_coerces_and_names_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "typed.json"
    path.write_text('{"n": "12", "p": "1.25", "at": 0, "b": "aGk=", "j": {"x": [1]}}\n'
                    '\n'
                    '{"n": 1.5}\n'
                    '{"n": 3, "unknown": 1}\n'
                    'not json\n'
                    '{"n": 4, "l": [1, null]}\n')
    columns = [Column("n", Scalar("int64")), Column("p", DecimalType(38, 9)), Column("at", Timestamp()),
               Column("b", Scalar("binary")), Column("j", Scalar("json")),
               Column("l", ListOf(Scalar("int64")), nullable=False)]
    spec = LoadSpec("ds", "t", source_format="NEWLINE_DELIMITED_JSON", schema=tuple(columns), max_bad_records=10)
    bad = BadRecords(10)
    rows = read(path, spec, columns, bad=bad)
    assert rows == [{"n": 12, "p": Decimal("1.250000000"), "at": dt.datetime(1970, 1, 1, tzinfo=UTC), "b": b"hi",
                     "j": '{"x":[1]}', "l": []}]
    assert [p.location for p in bad.problems] == ["line 3", "line 4", "line 5", "line 6"]
    assert "field n: cannot convert 1.5 to INT64" in bad.problems[0].message
    assert "no such field: unknown" in bad.problems[1].message
    assert "invalid JSON" in bad.problems[2].message
    assert "may not contain null" in bad.problems[3].message
    lenient = LoadSpec("ds", "t", source_format="NEWLINE_DELIMITED_JSON", schema=tuple(columns),
                       max_bad_records=10, ignore_unknown_values=True)
    assert [r["n"] for r in read(path, lenient, columns)] == [12, 3]


def test_parquet_own_schema(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    table = pa.table({
        "id": pa.array([1, 2], pa.int32()),
        "price": pa.array([Decimal("1.50"), None], pa.decimal128(10, 2)),
        "at": pa.array([dt.datetime(2024, 1, 1, tzinfo=UTC), None], pa.timestamp("ms", tz="UTC")),
        "local": pa.array([dt.datetime(2024, 1, 1, 8), None], pa.timestamp("us")),
        "tags": pa.array([["a"], []], pa.list_(pa.string())),
        "kind": pa.array(["x", "y"]).dictionary_encode(),
    })
    pq.write_table(table, path)
    spec = LoadSpec("ds", "t", source_format="PARQUET")
    columns = detect(path, spec).columns
    assert [c.type for c in columns] == [Scalar("int64"), DecimalType(10, 2), Timestamp(), Timestamp(tz=None),
                                         ListOf(Scalar("string")), Scalar("string")]
    assert read(path, spec)[0] == {"id": 1, "price": Decimal("1.50"), "at": dt.datetime(2024, 1, 1, tzinfo=UTC),
                                   "local": dt.datetime(2024, 1, 1, 8), "tags": ["a"], "kind": "x"}


AVRO_SCHEMA = {
    "type": "record", "name": "Event", "fields": [
        {"name": "id", "type": "long"},
        {"name": "name", "type": ["null", "string"], "default": None},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "where", "type": ["null", {"type": "record", "name": "Place", "fields": [
            {"name": "city", "type": "string"}, {"name": "kind", "type": {"type": "enum", "name": "Kind",
                                                                          "symbols": ["HOME", "WORK"]}}]}]},
        {"name": "attrs", "type": {"type": "map", "values": "long"}},
    ],
}


def avro_rows(n: int) -> list[dict]:
    return [{"id": i, "name": None if i % 2 else f"n{i}",
             "at": dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=i), "day": dt.date(2024, 1, 2),
             "amount": Decimal("12.34"), "tags": ["a", "b"][: i % 3], "where": {"city": "Paris", "kind": "WORK"},
             "attrs": {"k": i}} for i in range(n)]


def test_avro_own_schema_with_logical_types(tmp_path: Path) -> None:
    path = tmp_path / "events.avro"
    with path.open("wb") as out:
        fastavro.writer(out, fastavro.parse_schema(AVRO_SCHEMA), avro_rows(3))
    spec = LoadSpec("ds", "t", source_format="AVRO")
    rows = read(path, spec)
    assert rows[0] == {"id": 0, "name": "n0", "at": dt.datetime(2024, 1, 1, tzinfo=UTC), "day": dt.date(2024, 1, 2),
                       "amount": Decimal("12.34"), "tags": [], "where": {"city": "Paris", "kind": "WORK"},
                       "attrs": [("k", 0)]}
    assert rows[2]["tags"] == ["a", "b"]


def test_batches_stay_bounded_on_a_large_file(tmp_path: Path) -> None:
    """Each batch a reader hands over holds one block of text (CSV) or ``batch_rows`` rows, however large the
    file: memory is bounded by the reader's batch size, not by the file."""
    rows = 200_000
    csv_path = tmp_path / "big.csv"
    with csv_path.open("w") as out:
        for i in range(rows):
            out.write(f"{i},name-{i},{i * 0.5}\n")
    assert csv_path.stat().st_size > 4_000_000
    columns = [Column("n", Scalar("int64")), Column("s", Scalar("string")), Column("f", Scalar("float64"))]
    spec = LoadSpec("ds", "t", schema=tuple(columns))
    block = 256 << 10
    reader = Reader(csv_path, spec, arrow_schema(columns), BadRecords(0), block_bytes=block)
    sizes = [batch.num_rows for batch in reader]
    assert sum(sizes) == rows and len(sizes) > csv_path.stat().st_size // block - 1
    assert max(sizes) * 20 <= block     # at least 20 bytes a row: no batch holds more than one block of text
    assert reader.position == reader.total

    json_path = tmp_path / "big.json"
    with json_path.open("w") as out:
        for i in range(50_000):
            out.write(json.dumps({"n": i, "s": f"v{i}"}) + "\n")
    spec = LoadSpec("ds", "t", source_format="NEWLINE_DELIMITED_JSON", schema=tuple(columns[:2]))
    reader = Reader(json_path, spec, arrow_schema(columns[:2]), BadRecords(0), batch_rows=4096)
    sizes = [batch.num_rows for batch in reader]
    assert sum(sizes) == 50_000 and max(sizes) <= 4096

    parquet_path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"n": list(range(50_000))}), parquet_path, row_group_size=10_000)
    spec = LoadSpec("ds", "t", source_format="PARQUET")
    reader = Reader(parquet_path, spec, arrow_schema([columns[0]]), BadRecords(0), batch_rows=3000)
    sizes = [batch.num_rows for batch in reader]
    assert sum(sizes) == 50_000 and max(sizes) <= 3000

    avro_path = tmp_path / "big.avro"
    with avro_path.open("wb") as out:
        fastavro.writer(out, fastavro.parse_schema(AVRO_SCHEMA), avro_rows(10_000))
    reader = Reader(avro_path, LoadSpec("ds", "t", source_format="AVRO"),
                    arrow_schema(detect(avro_path, LoadSpec("ds", "t", source_format="AVRO")).columns),
                    BadRecords(0), batch_rows=1000)
    sizes = [batch.num_rows for batch in reader]
    assert sum(sizes) == 10_000 and max(sizes) <= 1000


@pytest.mark.parametrize("changes, field", [
    ({"dataset": "no-dash"}, "dataset"), ({"table": "a.b"}, "table"), ({"table": "__bqlite_x"}, "table"),
    ({"source_format": "XML"}, "source_format"), ({"write_disposition": "WRITE_ALL"}, "write_disposition"),
    ({"create_disposition": "MAYBE"}, "create_disposition"), ({"encoding": "EBCDIC"}, "encoding"),
    ({"max_bad_records": -1}, "max_bad_records"), ({"field_delimiter": ";;"}, "field_delimiter"),
    ({"quote": ","}, "quote"), ({"schema": (Column("a", Scalar("int64")), Column("A", Scalar("int64")))}, "schema"),
    ({"schema": (Column("r", ListOf(Scalar("int64"))),)}, "schema"),
])
def test_bad_specs_name_the_field(changes: dict, field: str) -> None:
    with pytest.raises(ValidationFailed, match=f"^{field}:"):
        validate(LoadSpec(**{"dataset": "ds", "table": "t", **changes}))


def test_autodetect_keeps_deep_or_odd_shapes_as_json(tmp_path: Path) -> None:
    """Deeper than BigQuery's 15 RECORD levels, an array of arrays, or a field that is an array in one row and a
    number in another: such values are kept whole as JSON rather than refused."""
    deep: object = 1
    for _ in range(40):
        deep = {"d": deep}
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"deep": deep, "grid": [[1, 2], [3]], "mixed": [1]}) + "\n"
                    + json.dumps({"mixed": 5}) + "\n")
    spec = LoadSpec("ds", "t", source_format="NEWLINE_DELIMITED_JSON", autodetect=True)
    columns = {c.name: c.type for c in detect(path, spec).columns}
    assert columns["grid"] == Scalar("json") and columns["mixed"] == Scalar("json")
    level, depth = columns["deep"], 0
    while isinstance(level, Struct):
        level, depth = level.fields[0].type, depth + 1
    assert level == Scalar("json") and depth == 15
    rows = read(path, spec)
    assert rows[0]["grid"] == "[[1,2],[3]]" and rows[1]["mixed"] == "5"


def test_a_list_schema_is_accepted() -> None:
    spec = LoadSpec("ds", "t", schema=[Column("a", Scalar("int64"))])
    validate(spec)
    assert spec.schema == (Column("a", Scalar("int64")),)


def test_csv_autodetect_sees_text_as_written(tmp_path: Path) -> None:
    path = tmp_path / "codes.csv"
    path.write_text("code,n\n007,1\n010,2\n")
    spec = LoadSpec("ds", "t", autodetect=True, skip_leading_rows=1)
    assert detect(path, spec).columns[0].type == Scalar("int64")
    path.write_text("code,n\n007,1\nA10,2\n")
    assert detect(path, spec).columns[0].type == Scalar("string")
    assert [r["code"] for r in read(path, spec)] == ["007", "A10"]
