"""Saved queries (docs/api.md, "Saved queries"): list and search, save, read, change, share, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from bqlite_app.api.deps import CoreDep, CurrentUser
from bqlite_app.api.models import ERROR_RESPONSES, ErrorBody
from bqlite_app.saved.models import (
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    MAX_SEARCH_CHARS,
    MAX_SHARED_WITH,
    SavedQueryPublic,
    SavedQuerySummary,
    Sharing,
)
from bqlite_app.saved.service import MAX_LIST_LIMIT, MAX_LIST_OFFSET, Scope

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such saved query, or one you may not see (SAVED_QUERY_NOT_FOUND)"},
}
router = APIRouter(tags=["saved queries"], responses={**ERROR_RESPONSES, **NOT_FOUND})

_SHARED_WITH = Field(None, max_length=MAX_SHARED_WITH,
                     description="Usernames to share with, read-only (sharing `users`). Given alone, it sets "
                                 "sharing to `users`.")


class SavedQueryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS,
                      description="Unique among your saved queries: letters, digits, spaces and a few marks.")
    sql: str = Field(min_length=1, description="At most BQLITE_MAX_SQL_BYTES (1 MB), as for POST /queries.")
    engine: str = Field("duckdb", description="`duckdb` or `clickhouse`.")
    description: str = Field("", max_length=MAX_DESCRIPTION_CHARS)
    sharing: Sharing | None = Field(None, description="`private` (default), `users` or `everyone`.")
    shared_with: list[str] | None = _SHARED_WITH


class SavedQueryUpdate(BaseModel):
    """Every field is optional; what is left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=MAX_NAME_CHARS)
    sql: str | None = Field(None, min_length=1)
    engine: str | None = None
    description: str | None = Field(None, max_length=MAX_DESCRIPTION_CHARS)
    sharing: Sharing | None = None
    shared_with: list[str] | None = _SHARED_WITH


class SavedQueryList(BaseModel):
    saved_queries: list[SavedQuerySummary]
    total: int


@router.get("/saved-queries", response_model=SavedQueryList)
async def list_saved_queries(
    core: CoreDep,
    user: CurrentUser,
    q: str | None = Query(None, max_length=MAX_SEARCH_CHARS,
                          description="Case-insensitive search over names, descriptions and SQL."),
    scope: Scope = Query("visible", description="`visible` (yours and those shared with you), `mine`, `shared` "
                                                "(others' shared with you), `all` (admins: everyone's)."),
    name: str | None = Query(None, max_length=MAX_NAME_CHARS, description="Only queries with exactly this name."),
    owner: str | None = Query(None, max_length=64, description="Only this user's queries."),
    limit: int = Query(100, ge=1, le=MAX_LIST_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_LIST_OFFSET),
) -> dict[str, Any]:
    """Saved queries by name, without their SQL (read one for it)."""
    items, total = await run_in_threadpool(lambda: core.saved.list(
        user=user, q=q or None, scope=scope, name=name, owner=owner or None, limit=limit, offset=offset))
    return {"saved_queries": items, "total": total}


@router.post("/saved-queries", status_code=201, response_model=SavedQueryPublic)
async def create_saved_query(body: SavedQueryCreate, core: CoreDep, user: CurrentUser) -> SavedQueryPublic:
    """Save SQL under a name. A name you already use is 409 `VALIDATION_FAILED`."""
    return await run_in_threadpool(lambda: core.saved.create(
        user=user, name=body.name, sql=body.sql, engine=body.engine, description=body.description,
        sharing=body.sharing.value if body.sharing else None, shared_with=body.shared_with))


@router.get("/saved-queries/{saved_id}", response_model=SavedQueryPublic)
async def get_saved_query(saved_id: str, core: CoreDep, user: CurrentUser) -> SavedQueryPublic:
    """One saved query with its SQL: yours, one shared with you, or (admins) anyone's."""
    return await run_in_threadpool(core.saved.get, saved_id, user=user)


@router.patch("/saved-queries/{saved_id}", response_model=SavedQueryPublic)
async def update_saved_query(saved_id: str, body: SavedQueryUpdate, core: CoreDep,
                             user: CurrentUser) -> SavedQueryPublic:
    """Rename, change the SQL, engine or description, or change the sharing. Only the owner may (403
    `ACCESS_DENIED` for a query shared with you)."""
    return await run_in_threadpool(lambda: core.saved.update(
        saved_id, user=user, name=body.name, sql=body.sql, engine=body.engine, description=body.description,
        sharing=body.sharing.value if body.sharing else None, shared_with=body.shared_with))


@router.delete("/saved-queries/{saved_id}", status_code=204)
async def delete_saved_query(saved_id: str, core: CoreDep, user: CurrentUser) -> Response:
    """Delete a saved query: its owner, or an admin."""
    await run_in_threadpool(core.saved.delete, saved_id, user=user)
    return Response(status_code=204)
