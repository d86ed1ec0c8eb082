"""The Reflex app: UI pages plus the REST API on the same backend.

The core is built here (no I/O) and started by the lifespan task in the backend worker only.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
import reflex as rx

import bqlite_app.pages  # noqa: F401  (registers every page)
from bqlite_app.api import api_transformer
from bqlite_app.bigquery.storage import start_storage_read
from bqlite_app.logs import configure_logging
from bqlite_app.runtime import core

configure_logging(core.settings.log_level, json_logs=core.settings.environment == "production")


@contextlib.asynccontextmanager
async def core_lifespan() -> AsyncIterator[None]:
    await anyio.to_thread.run_sync(core.start)
    storage_read = start_storage_read(core)  # BigQuery's gRPC read API, beside the HTTP backend
    try:
        yield
    finally:
        if storage_read is not None:
            storage_read.stop()
        await anyio.to_thread.run_sync(core.stop)


# The Radix theme is configured in rxconfig.py (RadixThemesPlugin).
app = rx.App(api_transformer=api_transformer(core))
app.register_lifespan_task(core_lifespan)
