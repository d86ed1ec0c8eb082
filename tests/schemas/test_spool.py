"""spool_body: the one place an ingest body goes to disk and meets its size limit (REST route and UI alike)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bqlite_app.errors import PayloadTooLarge
from bqlite_app.schemas.spool import spool_body, spool_path
from tests.conftest import run_coroutine


class _Chunks:
    def __init__(self, *chunks: bytes) -> None:
        self.chunks, self.read = chunks, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.read += 1
            yield chunk


def _spool(chunks: _Chunks, path: Path, **kwargs) -> int:
    return run_coroutine(spool_body(chunks, path, **kwargs))


def test_writes_the_body_and_returns_its_size(tmp_path):
    path = spool_path(tmp_path, "s1", prefix="ui-")
    assert path.parent == tmp_path / "ingest" and path.name.startswith("ui-s1.") and path.suffix == ".body"
    big = bytes(range(256)) * 8192            # over one write buffer
    assert _spool(_Chunks(b"ab", big, b"", b"c"), path, limit=10**7) == len(big) + 3
    assert path.read_bytes() == b"ab" + big + b"c"
    assert spool_path(tmp_path, "s1") != spool_path(tmp_path, "s1")


def test_a_declared_size_over_the_limit_is_refused_before_reading(tmp_path):
    chunks = _Chunks(b"x")
    with pytest.raises(PayloadTooLarge, match="1,001 bytes; the limit is 1,000"):
        _spool(chunks, tmp_path / "b", limit=1000, declared=1001)
    assert chunks.read == 0


@pytest.mark.parametrize("read_to_end", [False, True])
def test_a_body_over_the_limit_is_refused(tmp_path, read_to_end):
    chunks = _Chunks(b"x" * 6, b"y" * 6, b"z")
    with pytest.raises(PayloadTooLarge, match="over the limit of 10 bytes"):
        _spool(chunks, tmp_path / "b", limit=10, read_to_end=read_to_end)
    assert chunks.read == (3 if read_to_end else 2)   # a browser upload is read to its end, a request is not
