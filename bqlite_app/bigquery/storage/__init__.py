"""BigQuery's Storage Read API (gRPC, Arrow) over stored query results and tables; see ``server``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bqlite_app.bigquery.storage.server import StorageReadServer

if TYPE_CHECKING:
    from bqlite_app.core import Core

__all__ = ["StorageReadServer", "start_storage_read"]

log = logging.getLogger(__name__)


def start_storage_read(core: Core) -> StorageReadServer | None:
    """Serve the Storage Read API on ``BQLITE_STORAGE_PORT`` (0: off). A port that is taken is logged, not fatal:
    the REST API, the UI and the client's REST reads all keep working without it."""
    port = core.settings.storage_port
    if not port:
        return None
    server = StorageReadServer(core, core.settings.host, port)
    try:
        server.start()
    except RuntimeError as exc:
        log.error("%s; BigQuery clients will read results over REST", exc)
        return None
    return server
