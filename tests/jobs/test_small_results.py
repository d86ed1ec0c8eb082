"""Small results live in the job database instead of a file each (real SQLite, real pyarrow)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from bqlite_app.db import Database, open_database
from bqlite_app.errors import ResultNotAvailable
from bqlite_app.jobs.results import ResultStore
from bqlite_app.jobs.small_results import SmallResults


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = open_database(tmp_path / "jobs.sqlite")
    yield database
    database.close()


def make_store(tmp_path: Path, database: Database, *, max_bytes: int = 4096) -> ResultStore:
    return ResultStore(tmp_path / "results", small=SmallResults(database, max_bytes=max_bytes))


def rows(n: int) -> pa.Table:
    return pa.table({"n": pa.array(range(n), pa.int64())})


def test_a_small_result_is_one_row_in_the_database_and_survives_a_restart(tmp_path: Path, database: Database) -> None:
    store = make_store(tmp_path, database)
    info = store.write("job_small", rows(3))
    assert info.rows == 3 and info.bytes > 0
    assert list((tmp_path / "results").iterdir()) == []          # no file at all
    with sqlite3.connect(database.path) as con:
        assert con.execute("SELECT count(*) FROM small_results WHERE job_id = 'job_small'").fetchone() == (1,)

    fresh = make_store(tmp_path, database)                         # a restarted process: nothing in memory
    assert fresh.exists("job_small")
    assert fresh.info("job_small").rows == 3
    assert fresh.page("job_small", 1, 10).equals(rows(3).slice(1))
    assert b"".join(fresh.export("job_small", "ndjson")).splitlines() == [b'{"n":0}', b'{"n":1}', b'{"n":2}']


def test_a_result_over_the_limit_gets_a_file_and_replaces_a_small_one(tmp_path: Path, database: Database) -> None:
    store = make_store(tmp_path, database, max_bytes=1024)
    store.write("job_1", rows(2))
    big = rows(10_000)                                              # 80 kB of int64: over the limit
    store.write("job_1", big.to_batches(max_chunksize=1000))
    assert store.path("job_1").is_file()
    fresh = make_store(tmp_path, database, max_bytes=1024)
    assert fresh.info("job_1").rows == 10_000 and fresh.page("job_1", 9_999, 5).equals(big.slice(9_999))

    store.write("job_1", rows(1))                                   # and back: the file goes
    assert not store.path("job_1").exists()
    assert make_store(tmp_path, database).page("job_1", 0, 10).equals(rows(1))


def test_delete_and_cleanup_remove_small_results(tmp_path: Path, database: Database) -> None:
    store = make_store(tmp_path, database)
    store.write("job_old", rows(1))
    store.write("job_new", rows(1))
    store.write("job_gone", rows(1))
    assert store.delete("job_gone") is True and store.delete("job_gone") is False
    with sqlite3.connect(database.path) as con:
        con.execute("UPDATE small_results SET written_at = written_at - 7200 WHERE job_id = 'job_old'")
    assert store.cleanup(3600) == 1
    for gone in ("job_old", "job_gone"):
        assert not store.exists(gone)
        with pytest.raises(ResultNotAvailable):
            store.page(gone, 0, 1)
    assert store.page("job_new", 0, 1).equals(rows(1))
