"""ResultStore: Arrow IPC results on disk, pages, exports, cache and cleanup (real pyarrow, real files)."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openpyxl
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from bqlite_app.db import open_database
from bqlite_app.errors import ResultNotAvailable, ValidationFailed
from bqlite_app.jobs.jsonify import records_from_batch
from bqlite_app.jobs.results import EXPORT_FORMATS, ResultInfo, ResultStore
from bqlite_app.jobs.small_results import SmallResults


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["disk", "cached", "small"])
def store(request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
          ) -> Iterator[ResultStore]:
    """Every read test runs against each path: the memory-mapped file, the in-memory cache, and small results kept
    in the database (read back from it: the cache is off)."""
    if request.param == "disk":
        yield ResultStore(tmp_path, cache_max_bytes=0)
    elif request.param == "cached":
        yield ResultStore(tmp_path)
    else:
        database = open_database(tmp_path_factory.mktemp("db") / "jobs.sqlite")
        store = ResultStore(tmp_path, cache_max_bytes=0, small=SmallResults(database))
        yield store
        store.close()
        database.close()


def stored_bytes(store: ResultStore, job_id: str) -> int:
    """The size the store reports for a result: its file's, or its IPC stream's in the database."""
    path = store.path(job_id)
    if path.is_file():
        return path.stat().st_size
    table = store.page(job_id, 0, 10**9)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return len(sink.getvalue())


def sample_table(rows: int = 23) -> pa.Table:
    i = np.arange(rows)
    return pa.table({
        "id": pa.array(i, pa.int64()),
        "name": pa.array([None if k % 5 == 0 else f"n,{k}\n\"q\"" for k in i]),
        "score": pa.array(i / 4, pa.float64()),
        "flag": pa.array(i % 2 == 0),
        "at": pa.array(i * 1_000_000, pa.timestamp("us", "UTC")),
    })


def batches_of(table: pa.Table, size: int) -> list[pa.RecordBatch]:
    return table.to_batches(max_chunksize=size)


# -- write and page ---------------------------------------------------------------------------------------------


def test_multi_batch_round_trip(store: ResultStore) -> None:
    table = sample_table(23)
    info = store.write("job1", batches_of(table, 5))
    assert info == ResultInfo(rows=23, bytes=stored_bytes(store, "job1"), schema=table.schema)
    assert store.exists("job1")
    assert store.info("job1").rows == 23
    assert store.page("job1", 0, 1000).equals(table)


def test_pages_that_span_batches(store: ResultStore) -> None:
    table = sample_table(23)
    store.write("job1", batches_of(table, 7))
    for offset in range(25):
        for limit in (0, 1, 6, 7, 8, 15, 100):
            page = store.page("job1", offset, limit)
            assert page.schema == table.schema
            assert page.equals(table.slice(offset, limit)), (offset, limit)


def test_offset_beyond_end_is_empty_with_schema(store: ResultStore) -> None:
    table = sample_table(10)
    store.write("job1", batches_of(table, 4))
    page = store.page("job1", 50, 10)
    assert page.num_rows == 0
    assert page.schema == table.schema


def test_negative_offset_is_rejected(store: ResultStore) -> None:
    store.write("job1", batches_of(sample_table(3), 4))
    with pytest.raises(ValueError):
        store.page("job1", -1, 10)


def test_zero_row_result_keeps_its_columns(store: ResultStore) -> None:
    schema = sample_table().schema
    info = store.write("job1", [pa.RecordBatch.from_pylist([], schema=schema)])  # what an engine yields first
    assert info.rows == 0 and info.schema == schema
    page = store.page("job1", 0, 100)
    assert page.num_rows == 0 and page.schema == schema
    assert pcsv.read_csv(io.BytesIO(b"".join(store.export("job1", "csv")))).column_names == schema.names
    assert pq.read_table(io.BytesIO(b"".join(store.export("job1", "parquet")))).schema.names == schema.names
    assert pa.ipc.open_stream(b"".join(store.export("job1", "arrow"))).schema == schema
    assert b"".join(store.export("job1", "ndjson")) == b""


def test_an_iterable_that_yields_nothing_gives_an_empty_schema(store: ResultStore) -> None:
    info = store.write("job1", iter([]))
    assert info.rows == 0 and len(info.schema) == 0
    assert store.page("job1", 0, 10).num_columns == 0


def test_a_table_or_reader_can_be_written_directly(store: ResultStore) -> None:
    table = sample_table(9)
    store.write("t", table)
    store.write("r", pa.RecordBatchReader.from_batches(table.schema, batches_of(table, 4)))
    store.write("empty", table.schema.empty_table())
    assert store.page("t", 0, 100).equals(table)
    assert store.page("r", 0, 100).equals(table)
    assert store.info("empty").schema == table.schema


def test_on_batch_gets_cumulative_rows(store: ResultStore) -> None:
    seen: list[int] = []
    store.write("job1", batches_of(sample_table(12), 5), on_batch=seen.append)
    assert seen == [5, 10, 12]


def test_dictionary_batches_with_different_dictionaries_are_stored_decoded(store: ResultStore) -> None:
    # IPC files allow one dictionary per column; engines send a fresh one per batch.
    b1 = pa.record_batch({"d": pa.array(["a", "b"]).dictionary_encode()})
    b2 = pa.record_batch({"d": pa.array(["c", None]).dictionary_encode()})
    store.write("job1", [b1, b2])
    page = store.page("job1", 0, 10)
    assert page.schema.field("d").type == pa.string()
    assert page.column("d").to_pylist() == ["a", "b", "c", None]


def test_info_is_read_from_the_file_by_a_fresh_store(tmp_path: Path) -> None:
    table = sample_table(30)
    ResultStore(tmp_path).write("job1", batches_of(table, 7))
    fresh = ResultStore(tmp_path)
    info = fresh.info("job1")
    assert info.rows == 30 and info.schema == table.schema
    assert info.bytes == (tmp_path / "job1.arrow").stat().st_size
    assert fresh.page("job1", 6, 9).equals(table.slice(6, 9))


# -- missing and broken results ---------------------------------------------------------------------------------


def test_missing_result_raises_result_not_available(store: ResultStore) -> None:
    assert not store.exists("nope")
    with pytest.raises(ResultNotAvailable):
        store.info("nope")
    with pytest.raises(ResultNotAvailable):
        store.page("nope", 0, 10)
    with pytest.raises(ResultNotAvailable):  # eagerly, before any byte would be streamed
        store.export("nope", "csv")


def test_unreadable_file_is_reported_as_not_available(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    (tmp_path / "job1.arrow").write_bytes(b"not arrow at all")
    with pytest.raises(ResultNotAvailable):
        store.page("job1", 0, 1)


def test_unsafe_job_ids_are_refused(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    for bad in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(ValueError):
            store.path(bad)


def test_unknown_export_format(store: ResultStore) -> None:
    store.write("job1", batches_of(sample_table(3), 4))
    with pytest.raises(ValidationFailed):
        store.export("job1", "xls")  # type: ignore[arg-type]   (old binary Excel: not offered)


def test_delete(store: ResultStore) -> None:
    store.write("job1", batches_of(sample_table(3), 4))
    assert store.delete("job1") is True
    assert not store.exists("job1")
    assert store.delete("job1") is False
    with pytest.raises(ResultNotAvailable):
        store.page("job1", 0, 1)


# -- atomic writes ----------------------------------------------------------------------------------------------


def test_failure_mid_iterator_leaves_no_file(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    closed = []

    def failing() -> Iterator[pa.RecordBatch]:
        try:
            yield from batches_of(sample_table(10), 4)
            raise RuntimeError("engine died")
        finally:
            closed.append(True)

    with pytest.raises(RuntimeError, match="engine died"):
        store.write("job1", failing())
    assert list(tmp_path.iterdir()) == []
    assert not store.exists("job1")
    assert closed == [True]


def test_an_on_batch_exception_cancels_the_write_and_closes_the_source(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    closed = []

    def source() -> Iterator[pa.RecordBatch]:
        try:
            yield from batches_of(sample_table(20), 4)
        finally:
            closed.append(True)

    def cancel_after_two(rows: int) -> None:
        if rows >= 8:
            raise KeyboardInterrupt("cancelled")  # BaseException too: no half result either way

    with pytest.raises(KeyboardInterrupt):
        store.write("job1", source(), on_batch=cancel_after_two)
    assert list(tmp_path.iterdir()) == [] and closed == [True]


def test_a_failed_rewrite_keeps_the_previous_result(store: ResultStore) -> None:
    table = sample_table(5)
    store.write("job1", batches_of(table, 2))

    def failing() -> Iterator[pa.RecordBatch]:
        yield sample_table(1).to_batches()[0]
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.write("job1", failing())
    assert store.page("job1", 0, 100).equals(table)
    assert not [p.name for p in store.root.iterdir() if p.suffix != ".arrow"]   # no temp file left behind


# -- exports ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(EXPORT_FORMATS))
def test_every_export_parses_back_to_the_same_rows(store: ResultStore, fmt: str) -> None:
    table = sample_table(50)
    store.write("job1", batches_of(table, 7))
    chunks = list(store.export("job1", fmt))  # type: ignore[arg-type]
    assert all(isinstance(c, bytes) and c for c in chunks)
    data = b"".join(chunks)
    if fmt == "csv":
        back = pcsv.read_csv(io.BytesIO(data), convert_options=pcsv.ConvertOptions(
            column_types=table.schema, strings_can_be_null=True, quoted_strings_can_be_null=False))
        assert back.equals(table)
    elif fmt == "ndjson":
        lines = data.decode("utf-8").splitlines()
        assert [json.loads(line) for line in lines] == list(records_from_batch(table))
        assert json.loads(lines[1])["at"] == "1970-01-01T00:00:01+00:00"
    elif fmt == "parquet":
        assert pq.read_table(io.BytesIO(data)).equals(table)
    elif fmt == "xlsx":
        rows = list(openpyxl.load_workbook(io.BytesIO(data), read_only=True)["result"].iter_rows(values_only=True))
        assert rows[0] == tuple(table.column_names)
        expected = [tuple(v.replace(tzinfo=None) if isinstance(v, dt.datetime) else v for v in record.values())
                    for record in table.to_pylist()]
        assert rows[1:] == expected       # numbers, text, blanks, booleans and UTC timestamps keep their types
    else:
        assert pa.ipc.open_stream(data).read_all().equals(table)


def test_xlsx_keeps_excel_from_rounding_or_choking_and_spills_to_more_sheets(tmp_path: Path, monkeypatch) -> None:
    from bqlite_app.jobs import xlsx

    monkeypatch.setattr(xlsx, "_ROWS_PER_SHEET", 2)
    table = pa.table({
        "big": pa.array([2**60, 7, None], pa.int64()),
        "f": [float("nan"), float("inf"), 0.5],
        "s": ["=HYPERLINK(\"http://x\")", "https://example.com", "007"],     # text stays text: no formula, no URL
        "old": pa.array([dt.date(1800, 1, 1), dt.date(2024, 2, 29), None]),
        "nested": pa.array([{"a": [1]}, None, {"a": []}], pa.struct([("a", pa.list_(pa.int64()))])),
        "ns": pa.array([1_700_000_000_123_456_789, None, 0], pa.timestamp("ns", "UTC")),
    })
    store = ResultStore(tmp_path)
    store.write("job1", table)
    book = openpyxl.load_workbook(io.BytesIO(b"".join(store.export("job1", "xlsx"))))
    assert book.sheetnames == ["result", "result 2"]
    first = list(book["result"].iter_rows(values_only=True))
    second = list(book["result 2"].iter_rows(values_only=True))
    assert first[0] == second[0] == tuple(table.column_names)
    assert first[1][:4] == ("1152921504606846976", "nan", '=HYPERLINK("http://x")', "1800-01-01")
    assert first[1][4] == '{"a":[1]}' and first[1][5] == dt.datetime(2023, 11, 14, 22, 13, 20, 123000)
    assert first[2][:4] == (7, "inf", "https://example.com", dt.datetime(2024, 2, 29))
    assert second[1] == (None, 0.5, "007", None, '{"a":[]}', dt.datetime(1970, 1, 1))
    assert [p.name for p in tmp_path.iterdir()] == ["job1.arrow"]       # the spool file is gone


def test_an_xlsx_export_wider_than_a_sheet_is_refused_before_it_starts(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.write("job1", pa.table({f"c{i}": [i] for i in range(16_385)}))
    with pytest.raises(ValidationFailed, match="16,384"):
        store.export("job1", "xlsx")


def test_csv_renders_nested_and_binary_cells_as_text(store: ResultStore) -> None:
    table = pa.table({
        "s": pa.array([{"a": 1, "b": [1, 2]}, None], pa.struct([("a", pa.int64()), ("b", pa.list_(pa.int64()))])),
        "l": pa.array([[1, None], []]),
        "m": pa.array([[("k", 2**64 - 1)], None], pa.map_(pa.string(), pa.uint64())),
        "y": pa.array([b"\x0a\xff", None]),
        "iv": pa.array([pa.MonthDayNano([1, 2, 0]), None], pa.month_day_nano_interval()),
        "du": pa.array([dt.timedelta(seconds=90), None], pa.duration("s")),
    })
    store.write("job1", [table.to_batches()[0]])
    nulls = pcsv.ConvertOptions(strings_can_be_null=True, quoted_strings_can_be_null=False)
    back = pcsv.read_csv(io.BytesIO(b"".join(store.export("job1", "csv"))), convert_options=nulls)
    assert back.column("s").to_pylist() == ['{"a":1,"b":[1,2]}', None]
    assert back.column("l").to_pylist() == ["[1,null]", "[]"]
    assert back.column("m").to_pylist() == ['{"k":"18446744073709551615"}', None]
    assert back.column("y").to_pylist() == ["Cv8=", None]
    assert back.column("iv").to_pylist() == ["P1M2D", None]
    assert back.column("du").to_pylist() == ["PT1M30S", None]


def test_parquet_stores_what_it_cannot_type_as_text(store: ResultStore) -> None:
    table = pa.table({
        "iv": pa.array([pa.MonthDayNano([0, 1, 0])], pa.month_day_nano_interval()),
        "m": pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64())),
    })
    store.write("job1", table.to_batches())
    back = pq.read_table(io.BytesIO(b"".join(store.export("job1", "parquet"))))
    assert back.column("iv").to_pylist() == ["P1D"]
    assert back.column("m").to_pylist() == [[("k", 1)]]


def test_export_formats_table() -> None:
    assert EXPORT_FORMATS == {
        "csv": ("text/csv", "csv"),
        "ndjson": ("application/x-ndjson", "ndjson"),
        "parquet": ("application/vnd.apache.parquet", "parquet"),
        "arrow": ("application/vnd.apache.arrow.stream", "arrows"),
        "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    }


def test_export_survives_a_concurrent_delete(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, cache_max_bytes=0)
    table = sample_table(1000)
    store.write("job1", batches_of(table, 100))
    stream = store.export("job1", "arrow")
    first = next(stream)
    store.delete("job1")
    assert pa.ipc.open_stream(first + b"".join(stream)).read_all().equals(table)


# -- cache ------------------------------------------------------------------------------------------------------


def test_small_results_are_served_from_cache_until_they_expire(tmp_path: Path) -> None:
    clock = FakeClock()
    store = ResultStore(tmp_path, cache_ttl_s=10, clock=clock)
    table = sample_table(5)
    store.write("job1", batches_of(table, 2))
    assert store.cache_stats.entries == 1

    assert store.page("job1", 0, 10).equals(table)
    assert (store.cache_stats.hits, store.cache_stats.misses) == (1, 0)

    clock.now += 11
    assert store.page("job1", 0, 10).equals(table)  # still right, now from the file
    assert (store.cache_stats.hits, store.cache_stats.misses) == (1, 1)
    assert store.cache_stats.entries == 0 and store.cache_stats.bytes == 0


def test_cache_is_bounded_and_evicts_least_recently_used(tmp_path: Path) -> None:
    one = sample_table(100)
    size = one.get_total_buffer_size()
    store = ResultStore(tmp_path, cache_max_bytes=int(size * 2.5))
    for job in ("a", "b"):
        store.write(job, [one.to_batches()[0]])
    store.page("a", 0, 1)  # a is now the most recently used
    store.write("c", [one.to_batches()[0]])
    stats = store.cache_stats
    assert stats.entries == 2 and stats.bytes <= size * 2.5
    hits = stats.hits
    store.page("a", 0, 1)
    store.page("c", 0, 1)
    assert store.cache_stats.hits == hits + 2
    assert store.page("b", 0, 100).equals(one)  # evicted from memory, still on disk
    assert store.cache_stats.misses == 1


def test_results_over_the_entry_limit_are_not_cached(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, cache_entry_max_bytes=1024)
    store.write("big", batches_of(sample_table(1000), 100))
    assert store.cache_stats.entries == 0
    assert store.page("big", 990, 100).num_rows == 10


def test_concurrent_writers_and_readers(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, cache_max_bytes=64 * 1024)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for k in range(20):
                table = sample_table(10 + n + k)
                job = f"job{n}_{k}"
                store.write(job, batches_of(table, 3))
                assert store.page(job, 2, 5).equals(table.slice(2, 5))
                assert store.info(job).rows == table.num_rows
        except BaseException as e:  # noqa: BLE001 - re-raised below; a thread would swallow it
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.cache_stats.bytes <= 64 * 1024


# -- cleanup ----------------------------------------------------------------------------------------------------


def _age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_cleanup_removes_old_results_and_stray_temp_files_only(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.write("old", batches_of(sample_table(3), 2))
    store.write("new", batches_of(sample_table(3), 2))
    _age(store.path("old"), 7200)
    stray = tmp_path / "crashed.0123456789ab.tmp"
    stray.write_bytes(b"half a result")
    _age(stray, 7200)
    fresh_tmp = tmp_path / "someone.0123456789ab.tmp"
    fresh_tmp.write_bytes(b"being written")
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("keep me")
    _age(unrelated, 7200)

    assert store.cleanup(max_age_s=3600) == 2
    assert not store.exists("old")  # gone from the cache as well as the disk
    with pytest.raises(ResultNotAvailable):
        store.page("old", 0, 1)
    assert store.exists("new") and fresh_tmp.exists() and unrelated.exists() and not stray.exists()


def test_cleanup_spares_a_write_in_progress(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    removed: list[int] = []
    store.write("job1", batches_of(sample_table(10), 3), on_batch=lambda _: removed.append(store.cleanup(0)))
    assert sum(removed) == 0
    assert store.page("job1", 0, 100).num_rows == 10


# -- a large result in bounded memory ---------------------------------------------------------------------------


def _rss_anon_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon")


def _lazy_batches(rows: int, size: int = 65_536) -> Iterator[pa.RecordBatch]:
    for start in range(0, rows, size):
        ids = np.arange(start, min(start + size, rows), dtype=np.int64)
        yield pa.record_batch({"id": ids, "twice": ids * 2})


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc for RssAnon")
def test_ten_million_rows_write_and_export_in_bounded_memory(tmp_path: Path) -> None:
    rows = 10_000_000
    raw_size = rows * 16
    store = ResultStore(tmp_path / "results")
    # Warm up: the first IPC/Parquet use maps library state once; that is not per-result memory.
    store.write("warm", _lazy_batches(300_000))
    for _ in store.export("warm", "parquet"):
        pass

    # Anonymous memory only: the memory-mapped result is file-backed page cache, not process memory.
    base = _rss_anon_bytes()
    peak = 0

    def sample(_rows: int = 0) -> None:
        nonlocal peak
        peak = max(peak, _rss_anon_bytes() - base)

    info = store.write("big", _lazy_batches(rows), on_batch=sample)
    assert info.rows == rows and info.bytes > raw_size

    out = tmp_path / "big.parquet"
    with out.open("wb") as f:
        for chunk in store.export("big", "parquet"):
            f.write(chunk)
            sample()
    assert peak < raw_size / 4, f"peak growth {peak / 1e6:.0f} MB for a {raw_size / 1e6:.0f} MB result"

    meta = pq.ParquetFile(out).metadata
    assert meta.num_rows == rows and meta.num_row_groups > 10
    last = pq.ParquetFile(out).read_row_group(meta.num_row_groups - 1)
    assert last.column("id")[-1].as_py() == rows - 1 and last.column("twice")[-1].as_py() == 2 * (rows - 1)
    tail = store.page("big", rows - 3, 10)
    assert tail.column("id").to_pylist() == [rows - 3, rows - 2, rows - 1]
