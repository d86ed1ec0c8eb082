"""Arrow -> JSON-native values, rule by rule (docs/api.md, "Queries and jobs")."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import uuid

import pyarrow as pa
import pyarrow.compute as pc

from bqlite_app.jobs.jsonify import (
    column_values,
    describe_columns,
    iso_duration,
    records_from_batch,
    rows_from_table,
    type_name,
)


def values(arr: pa.Array | pa.ChunkedArray) -> list:
    out = column_values(arr)
    json.dumps(out, allow_nan=False)  # every rule must produce strict JSON
    return out


# -- integers ---------------------------------------------------------------------------------------------------


def test_uint64_max_is_a_string() -> None:
    assert values(pa.array([2**64 - 1, 7, None], pa.uint64())) == ["18446744073709551615", 7, None]


def test_int64_outside_2_pow_53_are_strings_and_the_rest_stay_numbers() -> None:
    arr = pa.array([2**53 + 1, -(2**53) - 1, 2**53, -(2**53), 0, None], pa.int64())
    assert values(arr) == ["9007199254740993", "-9007199254740993", 2**53, -(2**53), 0, None]


def test_small_integers_are_numbers() -> None:
    for t in (pa.int8(), pa.int16(), pa.int32(), pa.uint8(), pa.uint16(), pa.uint32()):
        assert values(pa.array([1, None, 100], t)) == [1, None, 100]
    assert values(pa.array([2**32 - 1], pa.uint32())) == [2**32 - 1]


# -- floats -----------------------------------------------------------------------------------------------------


def test_non_finite_floats_become_strings() -> None:
    arr = pa.array([float("nan"), float("inf"), float("-inf"), 1.5, None])
    assert values(arr) == ["NaN", "Infinity", "-Infinity", 1.5, None]


def test_float32_uses_shortest_form() -> None:
    assert values(pa.array([0.1, None, float("nan")], pa.float32())) == [0.1, None, "NaN"]
    assert values(pa.array([1.5], pa.float16())) == [1.5]


# -- bytes, decimals, strings -----------------------------------------------------------------------------------


def test_bytes_are_base64_even_with_newlines() -> None:
    raw = b"a\x0ab\x00\xff"
    out = values(pa.array([raw, None, b""]))
    assert out == [base64.b64encode(raw).decode(), None, ""]
    assert base64.b64decode(out[0]) == raw
    assert values(pa.array([b"\x0a\x0a"], pa.binary(2))) == ["Cgo="]
    assert values(pa.array([b"\x0a"], pa.large_binary())) == ["Cg=="]


def test_decimals_are_strings_with_their_scale() -> None:
    arr = pa.array([decimal.Decimal("1.50"), decimal.Decimal("-0.01"), None], pa.decimal128(10, 2))
    assert values(arr) == ["1.50", "-0.01", None]
    big = decimal.Decimal("12345678901234567890123456789012345678.5")
    assert values(pa.array([big], pa.decimal256(40, 1))) == [str(big)]


def test_strings_pass_through() -> None:
    assert values(pa.array(["a\nb", "", None, "é"])) == ["a\nb", "", None, "é"]
    assert values(pa.array(["x"], pa.large_string())) == ["x"]


# -- time -------------------------------------------------------------------------------------------------------


def test_tz_timestamps_are_iso_in_utc_with_offset() -> None:
    utc = pa.array([dt.datetime(2024, 1, 1, 10, 0, 0), None], pa.timestamp("us", "UTC"))
    assert values(utc) == ["2024-01-01T10:00:00+00:00", None]
    # An instant has one UTC rendering, whatever zone the column carries.
    ny = pa.array([dt.datetime(2024, 1, 1, 15, 0, tzinfo=dt.UTC)], pa.timestamp("us", "America/New_York"))
    assert values(ny) == ["2024-01-01T15:00:00+00:00"]
    rendered = dt.datetime.fromisoformat(values(ny)[0])
    assert rendered == dt.datetime(2024, 1, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))


def test_timestamp_fractions_and_units() -> None:
    us = pa.array([dt.datetime(2024, 1, 1, 10, 0, 0, 500)], pa.timestamp("us", "UTC"))
    assert values(us) == ["2024-01-01T10:00:00.000500+00:00"]
    ns = pa.array([1_704_103_200_000_000_001], pa.timestamp("ns", "UTC"))
    assert values(ns) == ["2024-01-01T10:00:00.000000001+00:00"]
    seconds = pa.array([1_704_103_200], pa.timestamp("s", "+05:30"))
    assert values(seconds) == ["2024-01-01T10:00:00+00:00"]


def test_naive_timestamps_have_no_offset() -> None:
    arr = pa.array([dt.datetime(2024, 1, 1, 10), dt.datetime(1, 1, 1, 0, 0, 0, 1), None], pa.timestamp("us"))
    assert values(arr) == ["2024-01-01T10:00:00", "0001-01-01T00:00:00.000001", None]


def test_dates_and_times_are_iso() -> None:
    assert values(pa.array([dt.date(2024, 2, 29), None])) == ["2024-02-29", None]
    assert values(pa.array([dt.date(2024, 2, 29)], pa.date64())) == ["2024-02-29"]
    assert values(pa.array([dt.time(10), dt.time(1, 2, 3, 4), None])) == ["10:00:00", "01:02:03.000004", None]
    assert values(pa.array([dt.time(10, 0, 0, 250_000)], pa.time32("ms"))) == ["10:00:00.250"]


def test_durations_and_intervals_are_iso_8601() -> None:
    dur = pa.array(
        [dt.timedelta(days=1, hours=2, seconds=5, microseconds=500_000), -dt.timedelta(seconds=5),
         dt.timedelta(0), None],
        pa.duration("us"),
    )
    assert values(dur) == ["P1DT2H5.5S", "-PT5S", "PT0S", None]
    interval = pa.array(
        [pa.MonthDayNano([14, 3, 3_600 * 10**9 + 4]), pa.MonthDayNano([1, -2, 0]),
         pa.MonthDayNano([-1, -2, -3 * 10**9]), None],
        pa.month_day_nano_interval(),
    )
    assert values(interval) == ["P1Y2M3DT1H0.000000004S", "P1M-2D", "-P1M2DT3S", None]


def test_iso_duration_edges() -> None:
    assert iso_duration(0, 0, 0) == "PT0S"
    assert iso_duration(12, 0, 0) == "P1Y"
    assert iso_duration(0, 0, 61 * 10**9) == "PT1M1S"
    assert iso_duration(0, 0, -(10**8)) == "-PT0.1S"


# -- nesting ----------------------------------------------------------------------------------------------------


def test_struct_is_an_object() -> None:
    t = pa.struct([("a", pa.int64()), ("b", pa.string()), ("c", pa.struct([("d", pa.binary())]))])
    arr = pa.array([{"a": 2**60, "b": "x", "c": {"d": b"\n"}}, None, {"a": None, "b": None, "c": None}], t)
    assert values(arr) == [
        {"a": str(2**60), "b": "x", "c": {"d": "Cg=="}},
        None,
        {"a": None, "b": None, "c": None},
    ]


def test_lists_are_arrays() -> None:
    assert values(pa.array([[1, None], None, []])) == [[1, None], None, []]
    assert values(pa.array([[1.0, float("nan")]], pa.large_list(pa.float64()))) == [[1.0, "NaN"]]
    assert values(pa.array([[1, 2], None, [3, 4]], pa.list_(pa.int64(), 2))) == [[1, 2], None, [3, 4]]
    assert values(pa.array([[b"\n"]], pa.list_view(pa.binary()))) == [["Cg=="]]


def test_map_is_an_object_with_string_keys() -> None:
    arr = pa.array([[(1, "a"), (2, "b")], None, []], pa.map_(pa.int64(), pa.string()))
    assert values(arr) == [{"1": "a", "2": "b"}, None, {}]
    nested = pa.array([[("k", [1, 2])]], pa.map_(pa.string(), pa.list_(pa.int64())))
    assert values(nested) == [{"k": [1, 2]}]


def test_sliced_nested_arrays_honour_their_offset() -> None:
    # Pages are slices of stored batches, so every nested converter must respect array offsets.
    struct = pa.array([{"a": 1}, None, {"a": 3}], pa.struct([("a", pa.int64())])).slice(1)
    assert values(struct) == [None, {"a": 3}]
    lists = pa.array([[1], None, [2, 3], []]).slice(1)
    assert values(lists) == [None, [2, 3], []]
    fixed = pa.array([[1, 2], None, [3, 4]], pa.list_(pa.int64(), 2)).slice(1)
    assert values(fixed) == [None, [3, 4]]
    maps = pa.array([[("a", 1)], None, [("k", 1), ("j", 2)], []], pa.map_(pa.string(), pa.int64())).slice(1)
    assert values(maps) == [None, {"k": 1, "j": 2}, {}]


def test_list_of_struct_of_map() -> None:
    t = pa.list_(pa.struct([("m", pa.map_(pa.string(), pa.float64()))]))
    arr = pa.array([[{"m": [("x", float("inf"))]}, None], []], t)
    assert values(arr) == [[{"m": {"x": "Infinity"}}, None], []]


# -- encodings and extensions -----------------------------------------------------------------------------------


def test_dictionary_and_run_end_columns_are_decoded() -> None:
    assert values(pa.array(["a", None, "a"]).dictionary_encode()) == ["a", None, "a"]
    assert values(pc.run_end_encode(pa.array([5, 5, 2**63 - 1]))) == [5, 5, str(2**63 - 1)]


def test_extension_types() -> None:
    assert values(pa.array(['{"a": 1}', None], pa.json_())) == ['{"a": 1}', None]
    u = uuid.uuid4()
    assert values(pa.array([u.bytes, None], pa.uuid())) == [str(u), None]


def test_null_type_and_chunked_columns() -> None:
    assert values(pa.nulls(2)) == [None, None]
    chunked = pa.chunked_array([pa.array([1, 2]), pa.array([2**63 - 1])])
    assert values(chunked) == [1, 2, str(2**63 - 1)]


def test_union_falls_back_to_the_generic_rules() -> None:
    arr = pa.UnionArray.from_sparse(pa.array([0, 1], pa.int8()), [pa.array([2**60, 1]), pa.array(["a", "b"])])
    assert values(arr) == [str(2**60), "b"]


# -- rows, records, columns -------------------------------------------------------------------------------------


def test_rows_from_table_is_row_major_and_strict_json() -> None:
    table = pa.table({"i": [1, 2], "f": [float("nan"), 0.5], "b": pa.array([b"\n", None])})
    rows = rows_from_table(table)
    assert rows == [[1, "NaN", "Cg=="], [2, 0.5, None]]
    assert json.loads(json.dumps(rows, allow_nan=False)) == rows
    assert rows_from_table(pa.table({"i": pa.array([], pa.int64())})) == []


def test_records_from_batch_keys_by_name_and_keeps_duplicates() -> None:
    batch = pa.RecordBatch.from_arrays([pa.array([1]), pa.array([2]), pa.array([3])], names=["a", "a", "b"])
    assert list(records_from_batch(batch)) == [{"a": 1, "a_1": 2, "b": 3}]


def test_describe_columns_uses_bigquery_type_names() -> None:
    schema = pa.schema([
        ("i", pa.int32()), ("u", pa.uint64()), ("f", pa.float32()), ("b", pa.bool_()), ("s", pa.string()),
        ("y", pa.binary()), ("d", pa.date32()), ("ts", pa.timestamp("us", "UTC")), ("dt", pa.timestamp("us")),
        ("t", pa.time64("us")), ("n", pa.decimal128(38, 9)), ("bn", pa.decimal256(76, 38)),
        ("iv", pa.month_day_nano_interval()), ("du", pa.duration("us")),
        ("st", pa.struct([("a", pa.int64()), ("b", pa.string()), ("odd name", pa.bool_())])),
        ("l", pa.list_(pa.int64())), ("m", pa.map_(pa.string(), pa.list_(pa.float64()))),
        ("j", pa.json_()), ("e", pa.dictionary(pa.int32(), pa.string())), ("z", pa.null()),
    ])
    assert [c["type"] for c in describe_columns(schema)] == [
        "INT64", "UINT64", "FLOAT64", "BOOL", "STRING", "BYTES", "DATE", "TIMESTAMP", "DATETIME", "TIME",
        "NUMERIC(38, 9)", "BIGNUMERIC(76, 38)", "INTERVAL", "INTERVAL", "STRUCT<a INT64, b STRING, `odd name` BOOL>",
        "ARRAY<INT64>", "MAP<STRING, ARRAY<FLOAT64>>", "JSON", "STRING", "NULL",
    ]
    assert describe_columns(schema)[0] == {"name": "i", "type": "INT64"}
    assert type_name(pa.large_list(pa.uint64())) == "ARRAY<UINT64>"
