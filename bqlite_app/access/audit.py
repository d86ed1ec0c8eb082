"""The audit trail: append-only events in a SHA-256 hash chain (docs/api.md, "Audit").

Each event's ``hash`` is the SHA-256 of the previous event's hash and the event's canonical JSON, so editing,
removing or reordering any stored event breaks every hash after it, and ``verify`` names the first one that no longer
matches. Appends are serialised by a lock (one process owns the database) so the chain never forks.

Nothing secret may be passed in ``detail``: callers hand over names, ids and counts, never passwords or tokens.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects import sqlite
from sqlmodel import Session, col, select

from bqlite_app.access.models import AuditEvent
from bqlite_app.access.principal import Principal
from bqlite_app.db import Database, busy_is_unavailable, utcnow

GENESIS = "0" * 64
_TABLE = AuditEvent.__table__  # type: ignore[attr-defined]
_COLUMNS = [column.name for column in _TABLE.columns if column.name != "id"]
_INSERT = f"INSERT INTO audit_events ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
# SQLAlchemy's own bind processors, so what the fast path writes is exactly what the ORM reads back.
_BIND = {column.name: column.type.bind_processor(sqlite.dialect()) for column in _TABLE.columns}


def _bind(column: str, value: Any) -> Any:
    processor = _BIND[column]
    return value if processor is None or value is None else processor(value)


@dataclass(frozen=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db.engine
        self._lock = threading.Lock()
        # Appends take a direct DB-API path, like the job store's writes: every job submission records an event,
        # and an ORM session per event cost more than the job. The chain's head is kept in memory (one process
        # owns the database), so an append is one INSERT.
        self._writer = db.writer()
        self._head: str | None = None

    def close(self) -> None:
        with self._lock:
            self._writer.close()

    def record(self, actor: Principal | str, action: str, *, target: str = "", outcome: str = "ok",
               detail: dict[str, Any] | None = None, client_ip: str | None = None) -> None:
        """Append one event. ``actor`` is the acting principal (its client address is recorded too) or a name."""
        # Every job submission lands here, so the row is built as plain values: an ORM instance per event cost
        # a third of the append.
        values = {"ts": utcnow(), "actor": actor.username if isinstance(actor, Principal) else actor,
                  "client_ip": client_ip if client_ip is not None else getattr(actor, "client_ip", None),
                  "action": action, "target": target, "outcome": outcome, "detail": dict(detail or {})}
        with self._lock, busy_is_unavailable("audit log"):
            if self._head is None:
                row = self._writer.execute("SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1").fetchone()
                self._head = row[0] if row else GENESIS
            values["prev_hash"] = self._head
            values["hash"] = _hash(self._head, values)
            self._writer.execute(_INSERT, [_bind(column, values[column]) for column in _COLUMNS])
            self._head = values["hash"]

    def list(self, query: AuditQuery) -> tuple[list[AuditEvent], int]:
        filters = []
        if query.actor:
            filters.append(AuditEvent.actor == query.actor)
        if query.action:
            filters.append(AuditEvent.action == query.action)
        if query.outcome:
            filters.append(AuditEvent.outcome == query.outcome)
        if query.since:
            filters.append(AuditEvent.ts >= query.since)
        if query.until:
            filters.append(AuditEvent.ts <= query.until)
        with Session(self._db) as session:
            total = session.exec(select(func.count()).select_from(AuditEvent).where(*filters)).one()
            events = session.exec(select(AuditEvent).where(*filters).order_by(col(AuditEvent.id).desc())
                                  .offset(query.offset).limit(query.limit)).all()
        return list(events), int(total)

    def verify(self) -> tuple[bool, int, int | None]:
        """(ok, events checked, id of the first event whose hash or link does not match)."""
        previous, count = GENESIS, 0
        with Session(self._db) as session:
            for event in session.exec(select(AuditEvent).order_by(col(AuditEvent.id))):
                count += 1
                if event.prev_hash != previous or event.hash != chain_hash(event.prev_hash, event):
                    return False, count, event.id
                previous = event.hash
        return True, count, None


_HASHED = ("ts", "actor", "client_ip", "action", "target", "outcome", "detail")


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    return _hash(prev_hash, {name: getattr(event, name) for name in _HASHED})


def _hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + _canonical(fields)).encode()).hexdigest()


def _canonical(fields: dict[str, Any]) -> str:
    """The fields the hash covers, as canonical JSON (sorted keys, no spaces, UTC timestamp)."""
    body = {name: fields[name] for name in _HASHED}
    body["ts"] = _iso(fields["ts"])
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _iso(ts: datetime) -> str:
    # SQLite hands timestamps back without a zone; they were written in UTC.
    return ts.replace(tzinfo=None).isoformat(timespec="microseconds")


def public(event: AuditEvent) -> dict[str, Any]:
    return {"id": event.id, "ts": _iso(event.ts) + "+00:00", "actor": event.actor, "client_ip": event.client_ip,
            "action": event.action, "target": event.target, "outcome": event.outcome, "detail": event.detail,
            "prev_hash": event.prev_hash, "hash": event.hash}
