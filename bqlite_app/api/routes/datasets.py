"""Datasets and their grants (docs/api.md, "Datasets and grants")."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict

from bqlite_app.access.principal import Principal
from bqlite_app.api.deps import CoreDep, CurrentUser
from bqlite_app.api.models import ERROR_RESPONSES
from bqlite_app.core import Core
from engines.base import CatalogTable

router = APIRouter(tags=["datasets"], responses=ERROR_RESPONSES)


class GrantSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["reader", "writer", "owner"]


def catalog_tables(core: Core) -> list[tuple[str, CatalogTable]]:
    """(engine, table) for every table of every engine that answers; an unavailable engine adds none."""
    pairs: list[tuple[str, CatalogTable]] = []
    for name, engine in core.engines.items():
        try:
            pairs.extend((name, table) for table in engine.catalog())
        except Exception:  # its datasets still show through their grants
            continue
    return pairs


def catalog_databases(core: Core) -> list[tuple[str, str]]:
    """(engine, database) for every database of every engine that answers, empty ones included."""
    pairs: list[tuple[str, str]] = []
    for name, engine in core.engines.items():
        try:
            pairs.extend((name, database) for database in engine.databases())
        except Exception:  # as for tables: an unavailable engine adds none
            continue
    return pairs


@router.get("/datasets")
async def list_datasets(core: CoreDep, user: CurrentUser) -> dict[str, Any]:
    """The datasets the caller can read (all for admins), with their table count over both engines; a dataset
    without tables yet is listed with 0."""
    datasets = await run_in_threadpool(
        lambda: core.grants.datasets(user, catalog_tables(core), catalog_databases(core)))
    return {"datasets": datasets}


@router.get("/datasets/{dataset}/grants")
async def list_grants(dataset: str, core: CoreDep, user: CurrentUser) -> dict[str, Any]:
    """Who holds which role on the dataset. Admins and the dataset's owners."""
    return await run_in_threadpool(_grants_of, core, user, dataset)


@router.put("/datasets/{dataset}/grants/{username}")
async def set_grant(dataset: str, username: str, body: GrantSet, core: CoreDep, user: CurrentUser) -> dict[str, Any]:
    """Give `username` `role` on the dataset, replacing their previous role there. Admins and the dataset's owners."""
    return await run_in_threadpool(core.grants.set_grant, user, dataset, username, body.role)


@router.delete("/datasets/{dataset}/grants/{username}")
async def revoke_grant(dataset: str, username: str, core: CoreDep, user: CurrentUser) -> dict[str, Any]:
    """Take away `username`'s role on the dataset. Admins and the dataset's owners."""
    await run_in_threadpool(core.grants.revoke, user, dataset, username)
    return {"message": f"Revoked {username}'s grant on dataset {dataset}", "dataset": dataset,
            "username": username}


def _grants_of(core: Core, user: Principal, dataset: str) -> dict[str, Any]:
    core.grants.require(user, dataset, "owner", action="grant.list")
    return core.grants.list_grants(dataset)
