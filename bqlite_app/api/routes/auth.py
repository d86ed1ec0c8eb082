"""Sign-in, the caller's own identity, password and API tokens (docs/api.md, "Tokens")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field

from bqlite_app.access.models import ApiToken
from bqlite_app.api.deps import CoreDep, CurrentUser, client_ip
from bqlite_app.api.models import ERROR_RESPONSES, ErrorBody

router = APIRouter(tags=["auth"], responses=ERROR_RESPONSES)


class TokenAnswer(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds the token is valid for (BQLITE_TOKEN_TTL_S).")


class GrantPublic(BaseModel):
    dataset: str
    role: str


class Me(BaseModel):
    username: str
    role: str
    grants: list[GrantPublic]


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=12, max_length=1024, description="At least 12 characters.")


class ApiTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(None, ge=1, le=3650, description="Null: the token does not expire.")


class ApiTokenPublic(BaseModel):
    id: str
    name: str
    created_at: str
    expires_at: str | None


class ApiTokenCreated(ApiTokenPublic):
    token: str = Field(description="Shown this once (prefix `bql_`); only its hash is kept.")


class ApiTokenList(BaseModel):
    tokens: list[ApiTokenPublic]


LOGIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Bad username or password (AUTH_REQUIRED), the same either way"},
    429: {"model": ErrorBody, "description": "More than 5 failed sign-ins for this user from this client in "
                                             "15 minutes (RATE_LIMITED, with Retry-After)"},
}


# Sync routes where Argon2 runs: a hash takes tens of milliseconds and must not stall the event loop.
@router.post("/auth/token", response_model=TokenAnswer, responses=LOGIN_ERRORS)
def sign_in(request: Request, core: CoreDep,
            form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, Any]:
    """Sign in with form fields `username` and `password`; use the `access_token` as `Authorization: Bearer ...`."""
    issued = core.identity.login(form.username, form.password, client_ip(request))
    return {"access_token": issued.access_token, "token_type": "bearer", "expires_in": issued.expires_in}


@router.get("/auth/me", response_model=Me)
def me(user: CurrentUser, core: CoreDep) -> dict[str, Any]:
    return {"username": user.username, "role": user.role, "grants": core.grants.grants_of(user)}


@router.post("/auth/password", status_code=204, responses={403: {"model": ErrorBody, "description":
                                                                 "The current password is wrong (ACCESS_DENIED)"}})
def change_password(body: PasswordChange, user: CurrentUser, core: CoreDep) -> Response:
    core.identity.change_password(user, body.current_password, body.new_password)
    return Response(status_code=204)


@router.post("/auth/api-tokens", status_code=201, response_model=ApiTokenCreated)
def create_api_token(body: ApiTokenCreate, user: CurrentUser, core: CoreDep) -> dict[str, Any]:
    token, secret = core.identity.create_api_token(user, body.name, body.expires_in_days)
    return {**token_public(token), "token": secret}


@router.get("/auth/api-tokens", response_model=ApiTokenList)
def list_api_tokens(user: CurrentUser, core: CoreDep) -> dict[str, Any]:
    return {"tokens": [token_public(token) for token in core.identity.list_api_tokens(user)]}


@router.delete("/auth/api-tokens/{token_id}", status_code=204)
def revoke_api_token(token_id: str, user: CurrentUser, core: CoreDep) -> Response:
    core.identity.revoke_api_token(user, token_id)
    return Response(status_code=204)


def token_public(token: ApiToken) -> dict[str, Any]:
    return {"id": token.id, "name": token.name, "created_at": _iso(token.created_at),
            "expires_at": _iso(token.expires_at)}


def _iso(ts: datetime | None) -> str | None:
    # SQLite gives timestamps back without a zone; they were written in UTC.
    return None if ts is None else ts.replace(tzinfo=None).isoformat() + "+00:00"
