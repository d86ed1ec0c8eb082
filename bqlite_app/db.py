"""The one SQLite file behind job history, the schema registry, users, grants and the audit log.

It is opened once (``open_database``) and handed to every store. Here too: the connection pragmas, how a lock becomes
a 503, and the UTC timestamps every store writes.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError
from sqlmodel import create_engine

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


@dataclass(frozen=True)
class Database:
    """The SQLAlchemy engine the stores read and write through, and the file for their direct writers."""

    engine: Engine
    path: Path
    busy_timeout_s: float

    def writer(self) -> sqlite3.Connection:
        """An autocommit DB-API connection for hot appends (a job's insert, an audit event), where an ORM session
        per statement would cost more than the work. The caller serialises its use and closes it."""
        connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                     timeout=self.busy_timeout_s)
        sqlite_pragmas(connection, None, busy_timeout_ms=int(self.busy_timeout_s * 1000))
        return connection

    def close(self) -> None:
        self.engine.dispose()


def open_database(path: Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Database:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": busy_timeout_s})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, record: Any) -> None:
        sqlite_pragmas(dbapi_connection, record, busy_timeout_ms=int(busy_timeout_s * 1000))

    return Database(engine=engine, path=path, busy_timeout_s=busy_timeout_s)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_utc(value: datetime | None) -> str | None:
    """ISO-8601 with the UTC offset (SQLite hands datetimes back naive)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()
