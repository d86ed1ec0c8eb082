"""User management (admin role only): docs/api.md, "Users and roles"."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from bqlite_app.access.identity import user_public
from bqlite_app.api.deps import AdminUser, CoreDep
from bqlite_app.api.models import ERROR_RESPONSES

router = APIRouter(tags=["users"], responses=ERROR_RESPONSES)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=12, max_length=1024, description="At least 12 characters; stored as Argon2.")
    role: Literal["admin", "member"] = "member"


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["admin", "member"] | None = None
    password: str | None = Field(None, min_length=12, max_length=1024)
    active: bool | None = None


class UserPublic(BaseModel):
    username: str
    role: str
    active: bool
    created_at: str
    last_login_at: str | None


class UserList(BaseModel):
    users: list[UserPublic]
    total: int


# Sync routes: creating a user or setting a password runs Argon2, which must not stall the event loop.
@router.post("/users", status_code=201, response_model=UserPublic)
def create_user(body: UserCreate, admin: AdminUser, core: CoreDep) -> dict[str, Any]:
    """Create a user. Members get the default dataset grants (BQLITE_DEFAULT_GRANTS)."""
    return user_public(core.identity.create_user(admin, body.username, body.password, body.role))


@router.get("/users", response_model=UserList)
def list_users(_admin: AdminUser, core: CoreDep) -> dict[str, Any]:
    users = core.identity.list_users()
    return {"users": [user_public(user) for user in users], "total": len(users)}


@router.get("/users/{username}", response_model=UserPublic)
def get_user(username: str, _admin: AdminUser, core: CoreDep) -> dict[str, Any]:
    return user_public(core.identity.get_user(username))


@router.patch("/users/{username}", response_model=UserPublic)
def update_user(username: str, body: UserUpdate, admin: AdminUser, core: CoreDep) -> dict[str, Any]:
    """Change role, password or `active`. The last active admin cannot be demoted or deactivated (409)."""
    user = core.identity.update_user(admin, username, role=body.role, password=body.password, active=body.active)
    return user_public(user)


@router.delete("/users/{username}", status_code=204)
def delete_user(username: str, admin: AdminUser, core: CoreDep) -> Response:
    """Delete a user; their tokens stop working at once. The last active admin cannot be deleted (409)."""
    core.identity.delete_user(admin, username)
    return Response(status_code=204)
