"""A damaged result file (truncated, torn by a crash) is "no longer available", never an internal error."""

from __future__ import annotations

import struct
from pathlib import Path

import pyarrow as pa
import pytest

from bqlite_app.errors import ResultNotAvailable
from bqlite_app.jobs.results import ResultStore

ROWS = 100_000


def write_result(root: Path) -> Path:
    store = ResultStore(root, cache_max_bytes=0)
    store.write("job1", pa.table({"i": pa.array(range(ROWS))}).to_batches(max_chunksize=10_000))
    return store.path("job1")


def cut_tail(data: bytes) -> bytes:
    return data[: len(data) // 2]


def cut_body_keep_footer(data: bytes) -> bytes:
    # What "Invalid Block in IPC file footer" came from: the footer is intact but points past the end of the file.
    footer_size = struct.unpack("<i", data[-10:-6])[0]
    return data[: len(data) // 2] + data[-(10 + footer_size):]


READS = {
    "info": lambda store: store.info("job1"),
    "page": lambda store: store.page("job1", ROWS - 10, 10),
    "export": lambda store: b"".join(store.export("job1", "csv")),
}


@pytest.mark.parametrize("read", list(READS))
@pytest.mark.parametrize("damage", [cut_tail, cut_body_keep_footer])
def test_a_damaged_file_is_reported_as_not_available(tmp_path: Path, damage, read) -> None:
    path = write_result(tmp_path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ResultNotAvailable, match="unreadable"):
        READS[read](ResultStore(tmp_path, cache_max_bytes=0))


def test_damage_after_the_footer_was_read_is_caught_when_batches_are_read(tmp_path: Path) -> None:
    path = write_result(tmp_path)
    store = ResultStore(tmp_path, cache_max_bytes=0)
    assert store.info("job1").rows == ROWS          # row counts now come from memory, not the file
    path.write_bytes(cut_body_keep_footer(path.read_bytes()))
    with pytest.raises(ResultNotAvailable):
        store.page("job1", ROWS - 10, 10)
    with pytest.raises(ResultNotAvailable):      # eagerly, before any byte would be streamed
        store.export("job1", "csv")
