"""Sort, filter and aggregate over stored results (real DuckDB over real Arrow IPC files and small results)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from bqlite_app.db import open_database
from bqlite_app.errors import ResultNotAvailable, ValidationFailed
from bqlite_app.jobs.result_query import ResultQuery
from bqlite_app.jobs.result_view import (
    MAX_FILTERS,
    MAX_SORT_KEYS,
    PLAIN,
    ResultView,
    RowFilter,
    SortKey,
    parse_filter,
    parse_order_by,
    parse_view,
)
from bqlite_app.jobs.results import ResultStore
from bqlite_app.jobs.small_results import SmallResults

ROWS = 5000


def sample_table(rows: int = ROWS) -> pa.Table:
    """Deterministic columns with ties, nulls, text, times and a nested column DuckDB never needs to read."""
    i = np.arange(rows)
    return pa.table({
        "id": pa.array(i, pa.int64()),
        "grp": pa.array(i % 7, pa.int32()),
        "fare": pa.array([None if k % 11 == 0 else float((k * 37) % 1000) / 10 for k in i], pa.float64()),
        "name": pa.array([f"Name-{k % 97}" if k % 13 else None for k in i], pa.string()),
        "at": pa.array([dt.datetime(2024, 1, 1) + dt.timedelta(minutes=int(k)) for k in i], pa.timestamp("us")),
        "day": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=int(k % 400)) for k in i], pa.date32()),
        "tags": pa.array([[int(k), int(k) + 1] for k in i], pa.list_(pa.int64())),
        "weird, \"col\":name": pa.array(i % 3, pa.int8()),
    })


@pytest.fixture(params=["disk", "small"])
def stored(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ResultQuery, str, pa.Table]]:
    """Each test runs over a memory-mapped IPC file (several batches) and over a small result read from SQLite."""
    table = sample_table()
    if request.param == "disk":
        store = ResultStore(tmp_path / "results", cache_max_bytes=0)
        store.write("job_x", table.to_batches(max_chunksize=700))
    else:
        database = open_database(tmp_path / "jobs.sqlite")
        store = ResultStore(tmp_path / "results", cache_max_bytes=0,
                            small=SmallResults(database, max_bytes=64 * 1024**2))
        store.write("job_x", table.to_batches(max_chunksize=700))
        assert not store.path("job_x").exists()
    query = ResultQuery(store)
    yield query, "job_x", table
    query.close()
    store.close()


def expected_order(table: pa.Table, keys: list[tuple[str, str]]) -> list[int]:
    """Row ids sorted by ``keys`` with nulls last and ties in stored order (what the API promises)."""
    ids = table.column("id").to_pylist()
    order = list(range(table.num_rows))
    for column, direction in reversed(keys):
        values = table.column(column).to_pylist()
        present = [k for k in order if values[k] is not None]
        missing = [k for k in order if values[k] is None]
        present.sort(key=lambda k: values[k], reverse=direction == "desc")
        if direction == "desc":  # a reversed stable sort reverses ties: restore their stored order
            present = _stable_desc(present, values)
        order = present + missing
    return [ids[k] for k in order]


def _stable_desc(rows: list[int], values: list) -> list[int]:
    out: list[int] = []
    i = 0
    while i < len(rows):
        j = i
        while j < len(rows) and values[rows[j]] == values[rows[i]]:
            j += 1
        out.extend(sorted(rows[i:j]))
        i = j
    return out


# -- parsing -------------------------------------------------------------------------------------------------------


def test_order_by_syntax() -> None:
    assert parse_order_by("fare:desc,id") == (SortKey("fare", True), SortKey("id"))
    assert parse_order_by(["fare:DESC", "id:asc"]) == (SortKey("fare", True), SortKey("id"))
    assert parse_order_by('"a,b:c":desc') == (SortKey("a,b:c", True),)
    assert parse_order_by('"say ""hi"""') == (SortKey('say "hi"'),)
    assert parse_order_by(None) == () and parse_order_by([]) == ()
    key = SortKey('odd, "x":y', True)
    assert parse_order_by(key.spec()) == (key,)


@pytest.mark.parametrize("spec", ["fare:sideways", "fare:desc:x", ",fare", "fare,", '"open', "a,a",
                                  ",".join(f"c{i}" for i in range(MAX_SORT_KEYS + 1)), "x" * 9000, "a\x00b"])
def test_bad_order_by_is_refused(spec: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_order_by(spec)


def test_filter_syntax() -> None:
    assert parse_filter("fare:>=:10") == RowFilter("fare", ">=", "10")
    assert parse_filter("fare:ge:10") == RowFilter("fare", ">=", "10")
    assert parse_filter("name:contains:a:b") == RowFilter("name", "contains", "a:b")
    assert parse_filter("name:=:") == RowFilter("name", "=", "")
    assert parse_filter("name:is_null") == RowFilter("name", "is_null")
    assert parse_filter("name:not_null") == RowFilter("name", "not_null")
    assert parse_filter('"a:b":!=:x') == RowFilter("a:b", "!=", "x")
    f = RowFilter('we:ird"', "contains", "x:y")
    assert parse_filter(f.spec()) == f
    view = parse_view(["fare:desc"], ["fare:>:1", "name:is_null"])
    assert parse_view(dict(view.params())["order_by"], [v for k, v in view.params() if k == "filter"]) == view


@pytest.mark.parametrize("spec", ["fare", "fare:like:x", "fare:>", ":=:1", "name:is_null:x", "fare:>:" + "9" * 5000])
def test_bad_filter_is_refused(spec: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_filter(spec)


def test_too_many_filters() -> None:
    with pytest.raises(ValidationFailed):
        parse_view(None, ["id:>:1"] * (MAX_FILTERS + 1))


# -- pages ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("keys", [[("fare", "asc")], [("fare", "desc")], [("grp", "asc"), ("fare", "desc")],
                                  [("name", "desc")], [("at", "desc")], [("weird, \"col\":name", "asc")]])
def test_sorted_pages_cover_the_whole_result_in_order(stored, keys) -> None:
    query, job_id, table = stored
    view = ResultView(order_by=tuple(SortKey(c, d == "desc") for c, d in keys))
    ids: list[int] = []
    for offset in range(0, ROWS, 900):
        page = query.page(job_id, view, offset, 900)
        assert page.total_rows == ROWS
        assert page.table.schema.equals(table.schema)   # the stored types, nested column included
        ids += page.table.column("id").to_pylist()
    assert ids == expected_order(table, keys)


def test_filters_narrow_the_whole_result_and_count_it(stored) -> None:
    query, job_id, table = stored
    fare = table.column("fare").to_pylist()
    names = table.column("name").to_pylist()
    cases = {
        "fare:>=:50": [k for k in range(ROWS) if fare[k] is not None and fare[k] >= 50],
        "fare:<:2.5": [k for k in range(ROWS) if fare[k] is not None and fare[k] < 2.5],
        "fare:=:0.5": [k for k in range(ROWS) if fare[k] == 0.5],
        "fare:is_null": [k for k in range(ROWS) if fare[k] is None],
        "name:not_null": [k for k in range(ROWS) if names[k] is not None],
        "name:contains:me-9": [k for k in range(ROWS) if names[k] is not None and "me-9" in names[k]],
        "name:contains:NAME-1": [k for k in range(ROWS) if names[k] is not None and "name-1" in names[k].lower()],
        "name:!=:Name-1": [k for k in range(ROWS) if names[k] != "Name-1"],       # != keeps nulls
        "at:<:2024-01-01 00:10:00": list(range(10)),
        "day:=:2024-01-02": [k for k in range(ROWS) if k % 400 == 1],
        "tags:contains:[7, 8]": [7],
    }
    for spec, expected in cases.items():
        page = query.page(job_id, parse_view(None, [spec]), 0, ROWS)
        assert page.table.column("id").to_pylist() == expected, spec
        assert page.total_rows == len(expected) == query.count(job_id, parse_view(None, [spec])), spec


def test_filter_and_sort_together_with_paging(stored) -> None:
    query, job_id, table = stored
    view = parse_view("fare:desc", ["grp:=:3", "name:not_null"])
    every = query.page(job_id, view, 0, ROWS).table
    assert every.num_rows == query.count(job_id, view) > 0
    assert set(every.column("grp").to_pylist()) == {3} and None not in every.column("name").to_pylist()
    fares = [f for f in every.column("fare").to_pylist() if f is not None]
    assert fares == sorted(fares, reverse=True)
    assert every.column("fare").to_pylist()[-1] is None                       # nulls last
    second = query.page(job_id, view, 10, 10).table
    assert second.column("id").to_pylist() == every.column("id").to_pylist()[10:20]
    assert query.page(job_id, view, every.num_rows, 10).table.num_rows == 0   # past the end: empty, same schema


def test_plain_view_is_the_stored_page(stored) -> None:
    query, job_id, table = stored
    page = query.page(job_id, PLAIN, 100, 5)
    assert page.table.column("id").to_pylist() == list(range(100, 105)) and page.total_rows == ROWS


@pytest.mark.parametrize("view, message", [
    (parse_view("nope"), "no column"),
    (parse_view(None, ["nope:=:1"]), "no column"),
    (parse_view(None, ["fare:>:cheap"]), "not a valid DOUBLE"),
    (parse_view(None, ["at:<:yesterday"]), "not a valid TIMESTAMP"),
    (parse_view(None, ["grp:=:99999999999"]), "not a valid INTEGER"),
])
def test_bad_columns_and_values_are_validation_errors(stored, view, message) -> None:
    query, job_id, _ = stored
    with pytest.raises(ValidationFailed, match=message):
        query.page(job_id, view, 0, 10)
    with pytest.raises(ValidationFailed, match=message):
        query.batches(job_id, view)


@pytest.mark.parametrize("value", ["'; DROP TABLE x; --", "1 OR 1=1", '") OR ("1"="1', "$1", "?", "\\", "%_%"])
def test_values_are_bound_not_pasted(stored, value) -> None:
    query, job_id, table = stored
    assert query.page(job_id, parse_view(None, [f"name:=:{value}"]), 0, 10).total_rows == 0
    assert query.page(job_id, parse_view(None, [f"name:contains:{value}"]), 0, 10).total_rows == 0
    nonnull = sum(v is not None for v in table.column("name").to_pylist())
    assert query.page(job_id, parse_view(None, [f"name:!=:{value}"]), 0, 10).total_rows == ROWS  # nulls kept
    assert nonnull < ROWS


def test_column_names_are_never_sql(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, cache_max_bytes=0)
    hostile = ['x" FROM t; DROP TABLE t; --', "__row", "c0", "a\"\"b", "SELECT"]
    store.write("job_h", pa.table({name: pa.array([3, 1, 2]) for name in hostile}).to_batches())
    query = ResultQuery(store)
    for name in hostile:
        view = ResultView(order_by=(SortKey(name),), filters=(RowFilter(name, ">", "1"),))
        assert query.page("job_h", view, 0, 10).table.column(name).to_pylist() == [2, 3]


def test_duplicate_column_names_are_refused_only_when_named(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, cache_max_bytes=0)
    batch = pa.RecordBatch.from_arrays([pa.array([2, 1]), pa.array([5, 6]), pa.array([1, 2])], names=["a", "a", "b"])
    store.write("job_d", [batch])
    query = ResultQuery(store)
    assert query.page("job_d", parse_view("b:desc"), 0, 10).table.column(2).to_pylist() == [2, 1]
    with pytest.raises(ValidationFailed, match="several columns"):
        query.page("job_d", parse_view("a"), 0, 10)


def test_a_missing_result_is_result_not_available(tmp_path: Path) -> None:
    query = ResultQuery(ResultStore(tmp_path, cache_max_bytes=0))
    with pytest.raises(ResultNotAvailable):
        query.page("job_gone", parse_view("a"), 0, 10)


def test_export_batches_stream_the_view(stored) -> None:
    query, job_id, table = stored
    view = parse_view("fare:desc", ["name:contains:name-5"])
    batches = list(query.batches(job_id, view))
    streamed = pa.Table.from_batches(batches, schema=table.schema)
    assert streamed.column("id").to_pylist() == query.page(job_id, view, 0, ROWS).table.column("id").to_pylist()
    assert streamed.num_rows == query.count(job_id, view)


def test_filter_only_keeps_the_stored_order(stored) -> None:
    query, job_id, table = stored
    ids = pa.Table.from_batches(list(query.batches(job_id, parse_view(None, ["grp:!=:0"])))).column("id")
    assert ids.to_pylist() == [k for k in range(ROWS) if k % 7]


# -- aggregation ---------------------------------------------------------------------------------------------------


def test_aggregate_groups_by_x(stored) -> None:
    query, job_id, table = stored
    found = query.aggregate(job_id, "grp", ["fare", "id"], "sum")
    assert found.table.column_names == ["grp", "fare", "id"] and not found.binned and not found.truncated
    assert found.groups == 7 and found.rows == ROWS
    grp = table.column("grp").to_pylist()
    fares = table.column("fare").to_pylist()
    for g, fare_sum, id_sum in zip(*found.table.to_pydict().values()):
        assert fare_sum == pytest.approx(sum(f for k, f in enumerate(fares) if grp[k] == g and f is not None))
        assert id_sum == sum(k for k in range(ROWS) if grp[k] == g)
    counted = query.aggregate(job_id, "grp", [], "count")
    assert counted.table.column_names == ["grp", "count"] and sum(counted.table.column("count").to_pylist()) == ROWS
    nonnull = query.aggregate(job_id, "grp", ["name"], "count")
    assert sum(nonnull.table.column("name").to_pylist()) == sum(v is not None for v in table.column("name").to_pylist())
    for agg, fn in (("min", min), ("max", max)):
        one = query.aggregate(job_id, "grp", ["name"], agg).table.to_pydict()
        names = table.column("name").to_pylist()
        assert one["name"][0] == fn(n for k, n in enumerate(names) if grp[k] == 0 and n is not None)


def test_aggregate_with_nulls_and_filters(stored) -> None:
    query, job_id, table = stored
    found = query.aggregate(job_id, "name", ["fare"], "avg", view=parse_view(None, ["grp:=:1"]))
    names = found.table.column("name").to_pylist()
    assert names[-1] is None and names[:-1] == sorted(names[:-1])       # ordered by x, the null group last
    assert found.rows == sum(1 for g in table.column("grp").to_pylist() if g == 1)


def test_aggregate_bins_a_numeric_or_temporal_x(stored) -> None:
    query, job_id, table = stored
    found = query.aggregate(job_id, "id", ["fare"], "max", max_groups=10)
    assert found.binned and found.groups == ROWS and found.table.num_rows == 10 and found.bin_width == 500
    assert found.table.column("id").to_pylist() == list(range(0, ROWS, 500))
    floats = query.aggregate(job_id, "fare", [], "count", max_groups=20)
    assert floats.binned and floats.table.num_rows <= 21 and sum(floats.table.column("count").to_pylist()) == ROWS
    times = query.aggregate(job_id, "at", ["id"], "count", max_groups=50)
    assert times.binned and times.table.num_rows <= 50 and sum(times.table.column("id").to_pylist()) == ROWS
    starts = times.table.column("at").to_pylist()
    assert starts == sorted(starts) and starts[0] == dt.datetime(2024, 1, 1)
    days = query.aggregate(job_id, "day", [], "count", max_groups=40)
    assert days.binned and sum(days.table.column("count").to_pylist()) == ROWS


def test_aggregate_keeps_the_largest_groups_of_text(stored) -> None:
    query, job_id, table = stored
    found = query.aggregate(job_id, "name", [], "count", max_groups=5)
    assert found.truncated and found.table.num_rows == 5 and found.groups == 98
    counts = pc.value_counts(table.column("name")).to_pylist()
    top = sorted(counts, key=lambda c: -c["counts"])[:5]
    assert min(found.table.column("count").to_pylist()) >= min(c["counts"] for c in top)


@pytest.mark.parametrize("args, message", [
    (("nope", ["fare"], "sum"), "no column"),
    (("grp", ["nope"], "sum"), "no column"),
    (("grp", ["name"], "sum"), "numeric"),
    (("grp", ["fare"], "median"), "agg"),
    (("grp", [], "sum"), "at least one"),
])
def test_aggregate_refuses_bad_requests(stored, args, message) -> None:
    query, job_id, _ = stored
    with pytest.raises(ValidationFailed, match=message):
        query.aggregate(job_id, *args)
    with pytest.raises(ValidationFailed):
        query.aggregate(job_id, "grp", ["fare"], "sum", max_groups=0)


def test_the_sandbox_reads_no_files(stored) -> None:
    query, _, _ = stored
    con = query._connection()
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do
        con.execute("SELECT * FROM read_csv('/etc/passwd')").fetchall()
    with pytest.raises(Exception):  # noqa: B017
        con.execute("SET enable_external_access = true")


def test_a_zoned_timestamp_filter_reads_a_bare_value_as_utc(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, cache_max_bytes=0)
    at = [dt.datetime(2024, 1, 1, h, tzinfo=dt.UTC) for h in range(6)]
    store.write("job_tz", pa.table({"at": pa.array(at, pa.timestamp("us", tz="UTC"))}).to_batches())
    query = ResultQuery(store)
    found = query.page("job_tz", parse_view("at:desc", ["at:>=:2024-01-01 03:00:00"]), 0, 10).table
    assert found.column("at").to_pylist() == at[3:][::-1]
    assert found.schema.field("at").type == pa.timestamp("us", tz="UTC")


def test_binning_survives_huge_integers_and_non_finite_floats(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, cache_max_bytes=0)
    big = [2**63 + k * 2**40 for k in range(100)]
    floats = [float(k) for k in range(97)] + [float("nan"), float("inf"), float("-inf")]
    store.write("job_b", pa.table({"u": pa.array(big, pa.uint64()), "f": pa.array(floats)}).to_batches())
    query = ResultQuery(store)
    found = query.aggregate("job_b", "u", [], "count", max_groups=10)
    assert found.binned and sum(found.table.column("count").to_pylist()) == 100
    assert int(found.table.column("u")[0].as_py()) == 2**63                  # exact, no float rounding
    floats_found = query.aggregate("job_b", "f", [], "count", max_groups=10)
    assert floats_found.binned and sum(floats_found.table.column("count").to_pylist()) == 100
    assert floats_found.table.column("f").to_pylist()[0] == 0.0


def test_an_empty_page_still_checks_the_sort_column(stored) -> None:
    query, job_id, _ = stored
    with pytest.raises(ValidationFailed, match="no column"):
        query.page(job_id, parse_view("nope"), ROWS, 10)
