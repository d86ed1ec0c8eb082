"""The audit log page (/admin/audit): filters, newest first, and the hash-chain check."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime
from typing import ClassVar

import reflex as rx

from bqlite_app.access.audit import AuditQuery, public
from bqlite_app.access.principal import Principal
from bqlite_app.core import app_core
from bqlite_app.errors import BqliteError, ValidationFailed
from bqlite_app.state.admin import AdminState, require_admin
from bqlite_app.state.auth import acting
from bqlite_app.state.paging import PagingMixin

PAGE_SIZE = 100
ALL = "all"
OUTCOMES = [ALL, "ok", "denied", "failed"]


@dataclasses.dataclass(frozen=True)
class AuditRow:
    id: int = 0
    ts: str = ""
    actor: str = ""
    client_ip: str = ""
    action: str = ""
    target: str = ""
    outcome: str = ""
    detail: str = ""


def parse_when(text: str, field: str) -> datetime | None:
    """A time typed in the filter (``2026-01-31T12:00`` from a datetime-local input), read as UTC."""
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationFailed(f"{field}: not a date and time ({text!r})") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def audit_row(event: dict) -> AuditRow:
    detail = event.get("detail") or {}
    return AuditRow(id=int(event["id"]), ts=str(event["ts"]).replace("T", " ")[:19] + " UTC",
                    actor=event["actor"], client_ip=event.get("client_ip") or "", action=event["action"],
                    target=event.get("target") or "", outcome=event["outcome"],
                    detail=json.dumps(detail, sort_keys=True, separators=(", ", ": ")) if detail else "")


def read_events(query: AuditQuery, user: Principal) -> tuple[list[AuditRow], int]:
    require_admin(user, "read the audit log")
    events, total = app_core().audit.list(query)
    return [audit_row(public(e)) for e in events], total


def verify_chain(user: Principal) -> tuple[bool, int, int | None]:
    require_admin(user, "verify the audit log")
    return app_core().audit.verify()


class AuditState(PagingMixin, AdminState):
    """The audit log, newest first, a page at a time (the offset, total and pager: ``PagingMixin``)."""

    PAGE_SIZE: ClassVar[int] = PAGE_SIZE
    EMPTY_LABEL: ClassVar[str] = "No events"

    events: list[AuditRow] = []
    actor: str = ""
    action: str = ""
    outcome: str = ALL
    since: str = ""
    until: str = ""
    verify_message: str = ""
    verify_ok: bool = True
    verifying: bool = False

    def _query(self) -> AuditQuery:
        return AuditQuery(actor=self.actor.strip() or None, action=self.action.strip() or None,
                          outcome=None if self.outcome == ALL else self.outcome,
                          since=parse_when(self.since, "since"), until=parse_when(self.until, "until"),
                          limit=PAGE_SIZE, offset=self.offset)

    async def _reload(self) -> None:
        try:
            # Who the caller is, is asked in the worker thread too: with auth on that reads SQLite.
            self.events, total = await asyncio.to_thread(acting, self._credentials(), read_events, self._query())
            self._set_page(len(self.events), total)
            self.action_error = ""
        except BqliteError as exc:
            self.events = []
            self._set_page(0, 0)
            self._refused(exc)

    @rx.event
    async def load(self):
        self.denied, self.action_error, self.verify_message = "", "", ""
        await self._reload()

    @rx.event
    async def apply_filters(self, form: dict[str, str]):
        self.actor, self.action = form.get("actor", ""), form.get("action", "")
        self.since, self.until = form.get("since", ""), form.get("until", "")
        self.offset = 0
        await self._reload()

    @rx.event
    async def set_outcome(self, value: str):
        self.outcome, self.offset = (value if value in OUTCOMES else ALL), 0
        await self._reload()

    @rx.event
    async def clear_filters(self):
        self.actor = self.action = self.since = self.until = ""
        self.outcome, self.offset = ALL, 0
        await self._reload()

    @rx.event
    async def previous_page(self):
        self._turn_page(forward=False)
        await self._reload()

    @rx.event
    async def next_page(self):
        self._turn_page(forward=True)
        await self._reload()

    @rx.event
    async def verify(self):
        self.verifying, self.verify_message = True, ""
        yield
        try:
            ok, count, first_bad = await asyncio.to_thread(acting, self._credentials(), verify_chain)
        except BqliteError as exc:
            self._refused(exc)
            return
        finally:
            self.verifying = False
        self.verify_ok = ok
        self.verify_message = (f"Chain intact: {count:,} events verified." if ok else
                               f"Chain broken: event {first_bad} does not match its hash "
                               f"(checked {count:,} events).")
