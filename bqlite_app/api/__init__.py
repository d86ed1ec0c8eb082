"""The REST API: a FastAPI app over the core, mounted on Reflex's backend via ``api_transformer``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from reflex_base.constants import Endpoint
from starlette.types import ASGIApp, Receive, Scope, Send

from bqlite_app import __version__
from bqlite_app.access.limits import RouteGroup
from bqlite_app.api.deps import PUBLIC_ROUTES, rate_limited, require_user
from bqlite_app.api.docs import install_offline_docs
from bqlite_app.api.errors import envelope, install_error_handlers
from bqlite_app.api.middleware import RequestContextMiddleware
from bqlite_app.api.models import ErrorBody
from bqlite_app.api.origin import OriginCheckMiddleware
from bqlite_app.api.routes import audit, auth, datasets, jobs, queries, saved_queries, schemas, system, users
from bqlite_app.bigquery.app import mount_bigquery
from bqlite_app.core import Core

DESCRIPTION = """BigQuery's jobs API on your own machine: SQL runs as prioritised jobs on DuckDB or ClickHouse.

Every error answers `{"detail", "error_code", "timestamp"}`."""

# Any route may be refused: a write from a foreign Origin (ORIGIN_NOT_ALLOWED), SQL outside the sandbox
# (SQL_NOT_ALLOWED). Documented once here so every operation in /openapi.json lists it.
FORBIDDEN_RESPONSE: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "With BQLITE_AUTH=on: no valid bearer token (AUTH_REQUIRED)"},
    403: {"model": ErrorBody, "description": "Refused (ACCESS_DENIED, ORIGIN_NOT_ALLOWED, SQL_NOT_ALLOWED, ...)"},
}
RATE_LIMITED_RESPONSE: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorBody, "description": "With BQLITE_AUTH=on: over BQLITE_RATE_LIMIT (RATE_LIMITED, with "
                                             "Retry-After)"},
}

# Paths the Reflex backend itself serves (websocket events, uploads, ping); everything else is ours.
REFLEX_PATHS = tuple(str(endpoint) for endpoint in Endpoint)


def create_api(core: Core) -> FastAPI:
    """Build the API around an existing core. The core is started by the app's lifespan, not here."""
    app = FastAPI(title="BigQuery-Lite", version=__version__, description=DESCRIPTION,
                  docs_url=None, redoc_url=None)
    app.state.core = core
    install_error_handlers(app)
    install_offline_docs(app)
    # Authentication is enforced here, once for every router, so no route can forget it; PUBLIC_ROUTES pass.
    signed_in = [Depends(require_user)]
    # The hot routes first: a request is matched against the routes in order.
    app.include_router(queries.router, responses={**FORBIDDEN_RESPONSE, **RATE_LIMITED_RESPONSE},
                       dependencies=[*signed_in, Depends(rate_limited("queries"))])
    for module in (jobs, system, auth, users, audit, datasets, saved_queries):
        app.include_router(module.router, responses=FORBIDDEN_RESPONSE, dependencies=signed_in)
    app.include_router(schemas.router, responses={**FORBIDDEN_RESPONSE, **RATE_LIMITED_RESPONSE},
                       dependencies=[*signed_in, Depends(rate_limited(_schema_group))])
    _public_routes_need_no_token_in_docs(app)
    mount_bigquery(app, core)  # Google's shapes and errors, under /bigquery/v2 and /upload/bigquery/v2
    # Added first, so it runs inside the request context: a refusal still gets a request id and is counted.
    app.add_middleware(OriginCheckMiddleware, allowed_origins=core.settings.allowed_origins)
    app.add_middleware(RequestContextMiddleware, metrics=core.metrics)
    return app


def _schema_group(request: Request) -> RouteGroup:
    return "ingest" if request.url.path.endswith("/ingest") else "schemas"


def _public_routes_need_no_token_in_docs(app: FastAPI) -> None:
    """The router-wide check marks every operation as needing the OAuth2 token; unmark the public ones, so the
    docs do not show a lock on `/`, `/health` and the sign-in itself."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for method, path in PUBLIC_ROUTES:
                operation = schema.get("paths", {}).get(path, {}).get(method.lower())
                if operation is not None:
                    operation.pop("security", None)
                    for code in ("401", "403"):
                        if code in operation.get("responses", {}) and path != "/auth/token":
                            del operation["responses"][code]
        return app.openapi_schema or schema

    app.openapi = openapi  # type: ignore[method-assign]


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
