"""The audit trail (admin role only): docs/api.md, "Audit"."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from bqlite_app.access.audit import AuditQuery, public
from bqlite_app.api.deps import AdminUser, CoreDep
from bqlite_app.api.models import ERROR_RESPONSES

router = APIRouter(tags=["audit"], responses=ERROR_RESPONSES)

MAX_AUDIT_PAGE = 1000


class AuditEventPublic(BaseModel):
    id: int
    ts: str
    actor: str
    client_ip: str | None
    action: str
    target: str
    outcome: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    events: list[AuditEventPublic]
    total: int


class AuditVerdict(BaseModel):
    ok: bool
    events: int
    first_bad_id: int | None


@router.get("/audit", response_model=AuditPage)
def list_events(
    _admin: AdminUser,
    core: CoreDep,
    actor: str | None = None,
    action: str | None = None,
    outcome: Literal["ok", "denied", "failed"] | None = None,
    since: datetime | None = Query(None, description="ISO 8601; without a zone it is UTC."),
    until: datetime | None = Query(None, description="ISO 8601; without a zone it is UTC."),
    limit: int = Query(100, ge=1, le=MAX_AUDIT_PAGE),
    offset: int = Query(0, ge=0, le=1_000_000_000),
) -> dict[str, Any]:
    """Events newest first."""
    query = AuditQuery(actor=actor or None, action=action or None, outcome=outcome, since=_utc(since),
                       until=_utc(until), limit=limit, offset=offset)
    events, total = core.audit.list(query)
    return {"events": [public(event) for event in events], "total": total}


@router.get("/audit/verify", response_model=AuditVerdict)
async def verify(_admin: AdminUser, core: CoreDep) -> dict[str, Any]:
    """Recompute the hash chain; `first_bad_id` names the first event that was edited, removed or reordered."""
    ok, count, first_bad = await run_in_threadpool(core.audit.verify)
    return {"ok": ok, "events": count, "first_bad_id": first_bad}


def _utc(ts: datetime | None) -> datetime | None:
    # A time without a zone is taken as UTC, like the stored timestamps.
    if ts is None:
        return None
    return ts.astimezone(UTC) if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
