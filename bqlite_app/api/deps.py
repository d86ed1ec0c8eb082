"""Dependencies as Annotated aliases, so route signatures read like prose."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from bqlite_app.core import Core
from bqlite_app.queries import QueryService


# Async on purpose: FastAPI runs sync dependencies in the thread pool, a thread hop per request for a lookup.
async def get_core(request: Request) -> Core:
    return request.app.state.core


async def get_queries(request: Request) -> QueryService:
    return request.app.state.core.queries


CoreDep = Annotated[Core, Depends(get_core)]
QueriesDep = Annotated[QueryService, Depends(get_queries)]
