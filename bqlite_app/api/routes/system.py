"""Service identity, health, status, examples and metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from bqlite_app import __version__
from bqlite_app.api.deps import AdminUser, CoreDep
from bqlite_app.examples import examples_for
from bqlite_app.metrics import CONTENT_TYPE

router = APIRouter(tags=["system"])


@router.get("/")
async def service(core: CoreDep) -> dict[str, Any]:
    return {"service": "BigQuery-Lite", "version": __version__, "status": "ok",
            "engines": list(core.engines), "docs": "/docs"}


@router.get("/health")
async def health(core: CoreDep) -> dict[str, Any]:
    # From the core's background probe (memory only, at most about a second old): a monitor polling this costs
    # nothing, so it is answered on the event loop without a thread hop.
    engines = core.engine_health()
    return {"status": "healthy" if all(engines.values()) else "degraded",
            "timestamp": datetime.now(UTC).isoformat(), "engines": engines}


@router.get("/status")
async def status(core: CoreDep) -> dict[str, Any]:
    return await run_in_threadpool(core.status)


@router.get("/examples")
async def examples(engine: str | None = None) -> dict[str, Any]:
    return {"examples": examples_for(engine)}


@router.get("/metrics", response_class=Response)
async def metrics(core: CoreDep, _admin: AdminUser) -> Response:
    """Prometheus metrics; with auth on, for the admin role only (a scraper uses an admin's API token)."""
    return Response(content=core.render_metrics(), media_type=CONTENT_TYPE)
