"""Who is calling: our own bearer token (a JWT or an API token), as on the REST API; auth off is the local admin.

google-cloud-bigquery sends ``Authorization: Bearer <token>`` from its credentials object; ``AnonymousCredentials``
send nothing, which is enough with auth off.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from bqlite_app.access.principal import Principal
from bqlite_app.core import Core


async def get_core(request: Request) -> Core:
    return request.app.state.core


async def current_user(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if principal is None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        bearer = token.strip() if scheme.lower() == "bearer" else None
        client_ip = request.client.host if request.client else None
        principal = request.app.state.core.identity.authenticate(bearer or None, client_ip)
        request.state.principal = principal
    return principal


def rate_limited(request: Request, user: Annotated[Principal, Depends(current_user)]) -> None:
    """Submitting a job counts against the caller's query rate limit, as ``POST /queries`` does."""
    request.app.state.core.limiter.hit_rate(user, "queries")


CoreDep = Annotated[Core, Depends(get_core)]
UserDep = Annotated[Principal, Depends(current_user)]
