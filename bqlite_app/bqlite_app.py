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
from bqlite_app.core import app_core
from bqlite_app.logs import configure_logging

configure_logging(app_core().settings.log_level, json_logs=app_core().settings.environment == "production")


@contextlib.asynccontextmanager
async def core_lifespan() -> AsyncIterator[None]:
    await anyio.to_thread.run_sync(app_core().start)
    storage_read = start_storage_read(app_core())  # BigQuery's gRPC read API, beside the HTTP backend
    try:
        yield
    finally:
        if storage_read is not None:
            storage_read.stop()
        await anyio.to_thread.run_sync(app_core().stop)


# The Radix theme is configured in rxconfig.py (RadixThemesPlugin).
app = rx.App(api_transformer=api_transformer(app_core()))
app.register_lifespan_task(core_lifespan)
