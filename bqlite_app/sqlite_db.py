"""The SQLite file that job history and the schema registry share: connection pragmas and lock handling."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

from sqlalchemy.exc import OperationalError

from bqlite_app.errors import DatabaseBusy

# How long a write waits for another connection's lock before giving up. Short on purpose: a request that cannot
# write should answer 503 quickly and let the client retry, not hold a thread (or, before, the event loop) for 30 s.
BUSY_TIMEOUT_S = 3.0
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


@contextlib.contextmanager
def busy_is_unavailable(what: str) -> Iterator[None]:
    """Turn "database is locked" into ``DatabaseBusy`` (503): nothing was written, and the client may retry."""
    detail = f"The database ({what}) is locked by another connection; nothing was changed. Try again shortly."
    try:
        yield
    except sqlite3.OperationalError as exc:
        if _is_busy(exc):
            raise DatabaseBusy(detail) from exc
        raise
    except OperationalError as exc:  # the same through SQLAlchemy (fail_interrupted)
        if isinstance(exc.orig, sqlite3.OperationalError) and _is_busy(exc.orig):
            raise DatabaseBusy(detail) from exc
        raise


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)  # extended codes keep the primary code in the low byte
    return "locked" in str(exc) or "busy" in str(exc)


def sqlite_pragmas(dbapi_connection: Any, _record: Any, *, busy_timeout_ms: int = int(BUSY_TIMEOUT_S * 1000)) -> None:
    cursor = dbapi_connection.cursor()
    # busy_timeout first: switching to WAL needs a lock, and another connection may hold one right now.
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the last commits.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
