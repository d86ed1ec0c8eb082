"""Browser uploads spooled to disk, shared by the ingest and the load dialog."""

from __future__ import annotations

import asyncio
from pathlib import Path

import reflex as rx

from bqlite_app.humanize import human_bytes
from bqlite_app.runtime import core


async def spool_upload(chunks: rx.UploadChunkIterator, spool: Path, *, what: str = "upload") -> tuple[int, str]:
    """Write the upload to ``spool`` and return its size and the client's file name (for display only: it never
    becomes a path). Past the ingest size limit it is refused, reading on to the end so the upload finishes."""
    spool.parent.mkdir(parents=True, exist_ok=True)
    limit, size, too_large, name = core.settings.max_ingest_bytes, 0, False, ""
    with spool.open("wb") as out:
        async for chunk in chunks:
            name = name or chunk.filename
            size += len(chunk.data)
            if size > limit:
                too_large = True
                continue
            await asyncio.to_thread(out.write, chunk.data)
    if too_large:
        raise ValueError(f"The file is over the {what} limit of {human_bytes(limit)}.")
    if size == 0:
        raise ValueError("The file is empty.")
    return size, name
