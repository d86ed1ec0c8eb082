"""Browser uploads spooled to disk, shared by the ingest and the load dialog."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import reflex as rx

from bqlite_app.core import app_core
from bqlite_app.errors import PayloadTooLarge
from bqlite_app.humanize import human_bytes
from bqlite_app.schemas.spool import spool_body


async def spool_upload(chunks: rx.UploadChunkIterator, spool: Path, *, what: str = "upload") -> tuple[int, str]:
    """Write the upload to ``spool`` (``spool_body``) and return its size and the client's file name (for display
    only: it never becomes a path). Past the ingest size limit it is refused, reading on to the end so the upload
    finishes."""
    spool.parent.mkdir(parents=True, exist_ok=True)
    name = ""

    async def data() -> AsyncIterator[bytes]:
        nonlocal name
        async for chunk in chunks:
            name = name or chunk.filename
            yield chunk.data

    limit = app_core().settings.max_ingest_bytes
    try:
        size = await spool_body(data(), spool, limit=limit, read_to_end=True)
    except PayloadTooLarge:
        raise ValueError(f"The file is over the {what} limit of {human_bytes(limit)}.") from None
    if size == 0:
        raise ValueError("The file is empty.")
    return size, name
