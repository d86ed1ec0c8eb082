"""Dependencies as Annotated aliases, so route signatures read like prose."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from bqlite_app.access.limits import RouteGroup
from bqlite_app.access.principal import Principal
from bqlite_app.core import Core
from bqlite_app.errors import AccessDenied
from bqlite_app.jobs.service import QueryService

# Swagger's "Authorize" button signs in through this (OAuth2 password flow). auto_error=False: a missing token is
# answered by the core with the contract's 401 envelope, and with auth off no token is needed at all.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)

# Routes anyone may call with auth on (docs/api.md). The docs pages and their assets are not behind the routers at all.
PUBLIC_ROUTES = frozenset({("GET", "/"), ("GET", "/health"), ("POST", "/auth/token")})
# The one route a download token (``Identity.issue_download_token``) opens, for the job it names.
EXPORT_ROUTE = "/jobs/{job_id}/result"


# Async on purpose: FastAPI runs sync dependencies in the thread pool, a thread hop per request for a lookup.
async def get_core(request: Request) -> Core:
    return request.app.state.core


async def get_queries(request: Request) -> QueryService:
    return request.app.state.core.queries


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def current_user(request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]) -> Principal:
    """Who is calling: the bearer token's user (401 without a valid one); with auth off, the built-in ``local``.

    Kept on the request, so the router-wide check and a route's own ``CurrentUser`` authenticate only once.
    """
    principal = getattr(request.state, "principal", None)
    if principal is None:
        identity = request.app.state.core.identity
        download = request.query_params.get("download_token")
        if token is None and download and _is_export(request):
            # A browser link to an export carries a short-lived token for that one job instead of a header.
            principal = identity.authenticate_download(download, request.path_params["job_id"], client_ip(request))
        else:
            principal = identity.authenticate(token, client_ip(request))
        request.state.principal = principal
    return principal


def _is_export(request: Request) -> bool:
    route = request.scope.get("route")
    return request.method == "GET" and getattr(route, "path", None) == EXPORT_ROUTE


async def require_user(request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]) -> None:
    """The central check every router gets (``create_api``): any route not public needs a valid token."""
    route = request.scope.get("route")
    if (request.method, getattr(route, "path", None)) in PUBLIC_ROUTES:
        return
    await current_user(request, token)


CurrentUser = Annotated[Principal, Depends(current_user)]


async def admin_user(request: Request, user: CurrentUser) -> Principal:
    if not user.is_admin:
        request.app.state.core.audit.record(user, "access.denied", target=f"{request.method} {request.url.path}",
                                            outcome="denied", detail={"needs": "admin"})
        raise AccessDenied(f"{request.method} {request.url.path} needs the admin role.")
    return user


def rate_limited(group: RouteGroup | Callable[[Request], RouteGroup]) -> Callable[..., Awaitable[None]]:
    """A dependency counting each call against the caller's rate limit for ``group`` (or the group chosen per
    request); a no-op with auth off."""

    async def check(request: Request, user: CurrentUser) -> None:
        name = group(request) if callable(group) else group
        request.app.state.core.limiter.hit_rate(user, name)

    return check


CoreDep = Annotated[Core, Depends(get_core)]
QueriesDep = Annotated[QueryService, Depends(get_queries)]
AdminUser = Annotated[Principal, Depends(admin_user)]
