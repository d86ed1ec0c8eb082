"""The REST API: a FastAPI app over the core, mounted on Reflex's backend via ``api_transformer``."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from reflex_base.constants import Endpoint
from starlette.types import ASGIApp, Receive, Scope, Send

from bqlite_app import __version__
from bqlite_app.api.docs import install_offline_docs
from bqlite_app.api.errors import envelope, install_error_handlers
from bqlite_app.api.middleware import RequestContextMiddleware
from bqlite_app.api.models import ErrorBody
from bqlite_app.api.origin import OriginCheckMiddleware
from bqlite_app.api.routes import jobs, queries, schemas, system
from bqlite_app.core import Core

DESCRIPTION = """BigQuery's jobs API on your own machine: SQL runs as prioritised jobs on DuckDB or ClickHouse.

Every error answers `{"detail", "error_code", "timestamp"}`."""

# Any route may be refused: a write from a foreign Origin (ORIGIN_NOT_ALLOWED), SQL outside the sandbox
# (SQL_NOT_ALLOWED). Documented once here so every operation in /openapi.json lists it.
FORBIDDEN_RESPONSE = {403: {"model": ErrorBody, "description": "Refused (ORIGIN_NOT_ALLOWED, SQL_NOT_ALLOWED, ...)"}}

# Paths the Reflex backend itself serves (websocket events, uploads, ping); everything else is ours.
REFLEX_PATHS = tuple(str(endpoint) for endpoint in Endpoint)


def create_api(core: Core) -> FastAPI:
    """Build the API around an existing core. The core is started by the app's lifespan, not here."""
    app = FastAPI(title="BigQuery-Lite", version=__version__, description=DESCRIPTION,
                  docs_url=None, redoc_url=None)
    app.state.core = core
    install_error_handlers(app)
    install_offline_docs(app)
    for module in (system, queries, jobs, schemas):
        app.include_router(module.router, responses=FORBIDDEN_RESPONSE)
    # Added first, so it runs inside the request context: a refusal still gets a request id and is counted.
    app.add_middleware(OriginCheckMiddleware, allowed_origins=core.settings.allowed_origins)
    app.add_middleware(RequestContextMiddleware, metrics=core.metrics)
    return app


def api_transformer(core: Core) -> Callable[[ASGIApp], ASGIApp]:
    """Reflex hands us its backend app; our routes answer first and Reflex keeps only its own paths.

    Reflex adds CORS (``cors_allowed_origins`` in rxconfig) around the result, so no CORS middleware here.
    """

    def transform(reflex_backend: ASGIApp) -> ASGIApp:
        api = create_api(core)
        api.mount("", _ReflexPathsOnly(reflex_backend))
        return api

    return transform


class _ReflexPathsOnly:
    """Forward Reflex's own paths; answer anything else with the API's 404 envelope, not Reflex's plain text."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(REFLEX_PATHS):
            await self.app(scope, receive, send)
            return
        await envelope(404, f"No route {scope['path']}; see /docs", "NOT_FOUND")(scope, receive, send)
