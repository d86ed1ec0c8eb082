"""Ingest bodies spooled to disk: where they go and how large they may be, for the REST route and the UI alike.

The body goes to disk before it is decoded: memory stays bounded for any size, decoding runs off the event loop, and
ClickHouse's native reader reads the file directly. The caller deletes the file when the ingest is over.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterable
from pathlib import Path

from bqlite_app.errors import PayloadTooLarge

WRITE_BYTES = 1 << 20     # chunks are gathered to this size before a write, so a thread hop is per MiB, not per chunk


def spool_path(data_dir: Path, schema_id: str, *, prefix: str = "") -> Path:
    """A new file name for one body under ``data_dir/ingest`` (created if needed)."""
    directory = data_dir / "ingest"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{prefix}{schema_id}.{uuid.uuid4().hex}.body"


async def spool_body(chunks: AsyncIterable[bytes], path: Path, *, limit: int, declared: int | None = None,
                     read_to_end: bool = False) -> int:
    """Write ``chunks`` to ``path`` and return its size; past ``limit`` bytes raise ``PayloadTooLarge``.

    ``declared`` (a Content-Length) over the limit is refused before anything is read. ``read_to_end`` reads on to
    the end of an over-large body before raising, so that a browser upload finishes and can show the error;
    otherwise reading stops at once.
    """
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"The body is {declared:,} bytes; the limit is {limit:,} bytes")
    size, pending = 0, bytearray()
    with path.open("wb") as out:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                if not read_to_end:
                    break
                continue
            pending += chunk
            if len(pending) >= WRITE_BYTES:
                await asyncio.to_thread(out.write, pending)
                pending = bytearray()
        if pending and size <= limit:
            await asyncio.to_thread(out.write, pending)
    if size > limit:
        raise PayloadTooLarge(f"The body is over the limit of {limit:,} bytes")
    return size
