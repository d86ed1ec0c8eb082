"""Admin pages: users (/admin/users) and datasets with their grants (/admin/datasets).

Every handler asks the core who is acting; the core refuses non-admins (and records the refusal), and the page then
says that it needs the admin role. Passwords typed into the forms go straight to the core.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import reflex as rx

from bqlite_app.access.principal import DATASET_ROLES, Principal
from bqlite_app.access.users import user_public
from bqlite_app.core import app_core
from bqlite_app.errors import AccessDenied, BqliteError
from bqlite_app.humanize import local_time
from bqlite_app.state.auth import AuthState

ROLES = ["member", "admin"]
GRANT_ROLES = list(DATASET_ROLES)


@dataclasses.dataclass(frozen=True)
class UserRow:
    username: str = ""
    role: str = ""
    active: bool = True
    created: str = ""
    last_login: str = ""


@dataclasses.dataclass(frozen=True)
class DatasetRow:
    name: str = ""
    tables: int = 0
    grants: int = 0


@dataclasses.dataclass(frozen=True)
class GrantRow:
    dataset: str = ""
    username: str = ""
    role: str = ""


def user_row(public: dict[str, Any]) -> UserRow:
    return UserRow(username=public["username"], role=public["role"], active=bool(public["active"]),
                   created=local_time(public["created_at"]), last_login=local_time(public["last_login_at"]))


def require_admin(user: Principal, what: str) -> None:
    app_core().grants.require_admin(user, what)


def read_users(user: Principal) -> list[UserRow]:
    require_admin(user, "manage users")
    return [user_row(user_public(u)) for u in app_core().identity.list_users()]


def read_datasets(user: Principal) -> tuple[list[DatasetRow], list[GrantRow], list[str]]:
    require_admin(user, "manage grants")
    pairs = []
    for name, engine in app_core().engines.items():
        try:
            pairs.extend((name, table) for table in engine.catalog())
        except Exception:  # an unavailable engine: its datasets still show through their grants
            continue
    datasets, grants = [], []
    for entry in app_core().grants.datasets(user, pairs):
        listed = app_core().grants.list_grants(entry["name"])["grants"]
        datasets.append(DatasetRow(name=entry["name"], tables=entry["tables"], grants=len(listed)))
        grants.extend(GrantRow(dataset=entry["name"], username=g["username"], role=g["role"]) for g in listed)
    usernames = [u.username for u in app_core().identity.list_users() if u.active]
    return datasets, grants, usernames


class AdminState(AuthState):
    """What every admin page shares: the refusal message for non-admins and the last action's error."""

    denied: str = ""
    action_error: str = ""

    def _refused(self, exc: BqliteError) -> None:
        if isinstance(exc, AccessDenied):
            self.denied = exc.detail   # "Access denied: needs the admin role to ..."
        else:
            self.action_error = exc.detail


class AdminUsersState(AdminState):
    users: list[UserRow] = []
    new_role: str = "member"

    @rx.event
    async def load(self):
        self.denied, self.action_error = "", ""
        try:
            user = self.principal()
            self.users = await asyncio.to_thread(read_users, user)
        except BqliteError as exc:
            self.users = []
            self._refused(exc)

    @rx.event
    def set_new_role(self, role: str) -> None:
        self.new_role = role if role in ROLES else "member"

    async def _act(self, fn: Any, *args: Any, done: str = "", **kwargs: Any):
        try:
            user = self.principal()
            await asyncio.to_thread(lambda: fn(user, *args, **kwargs))
            self.users = await asyncio.to_thread(read_users, user)
            self.action_error = ""
        except BqliteError as exc:
            self._refused(exc)
            return None
        return rx.toast.success(done) if done else None

    @rx.event
    async def create_user(self, form: dict[str, Any]):
        username = str(form.get("username") or "").strip()
        return await self._act(app_core().identity.create_user, username, str(form.get("password") or ""),
                               self.new_role, done=f"Created user {username}")

    @rx.event
    async def set_role(self, username: str, role: str):
        return await self._act(app_core().identity.update_user, username, role=role, done=f"{username} is now {role}")

    @rx.event
    async def set_active(self, username: str, active: bool):
        state = "reactivated" if active else "deactivated"
        return await self._act(app_core().identity.update_user, username, active=active, done=f"{username} {state}")

    @rx.event
    async def delete_user(self, username: str):
        return await self._act(app_core().identity.delete_user, username, done=f"Deleted user {username}")


class AdminDatasetsState(AdminState):
    datasets: list[DatasetRow] = []
    grants: list[GrantRow] = []
    usernames: list[str] = []
    grant_dataset: str = ""
    grant_user: str = ""
    grant_role: str = "reader"

    async def _reload(self) -> None:
        user = self.principal()
        self.datasets, self.grants, self.usernames = await asyncio.to_thread(read_datasets, user)
        if self.grant_dataset not in {d.name for d in self.datasets}:
            self.grant_dataset = self.datasets[0].name if self.datasets else ""
        if self.grant_user not in self.usernames:
            self.grant_user = self.usernames[0] if self.usernames else ""

    @rx.event
    async def load(self):
        self.denied, self.action_error = "", ""
        try:
            await self._reload()
        except BqliteError as exc:
            self.datasets, self.grants = [], []
            self._refused(exc)

    @rx.var
    def dataset_names(self) -> list[str]:
        return [d.name for d in self.datasets]

    @rx.event
    def set_grant_dataset(self, value: str) -> None:
        self.grant_dataset = value

    @rx.event
    def set_grant_user(self, value: str) -> None:
        self.grant_user = value

    @rx.event
    def set_grant_role(self, value: str) -> None:
        self.grant_role = value if value in GRANT_ROLES else "reader"

    @rx.event
    async def grant(self):
        dataset, username, role = self.grant_dataset, self.grant_user, self.grant_role
        try:
            user = self.principal()
            await asyncio.to_thread(app_core().grants.set_grant, user, dataset, username, role)
            await self._reload()
            self.action_error = ""
        except BqliteError as exc:
            self._refused(exc)
            return None
        return rx.toast.success(f"{username} is {role} on {dataset}")

    @rx.event
    async def revoke(self, dataset: str, username: str):
        try:
            user = self.principal()
            await asyncio.to_thread(app_core().grants.revoke, user, dataset, username)
            await self._reload()
            self.action_error = ""
        except BqliteError as exc:
            self._refused(exc)
            return None
        return rx.toast.info(f"Revoked {username}'s grant on {dataset}")
