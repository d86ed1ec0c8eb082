"""Dataset grants: who may read, write or own each dataset (docs/api.md, "Datasets and grants").

A dataset is a database name, the same on both engines (``bqlite_app.datasets`` maps and checks the names). Admins
hold every role on every dataset. Each user's grants are cached in memory (one process owns the database) and the
cache is dropped on every change.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from bqlite_app.access.audit import AuditLog
from bqlite_app.access.models import DatasetGrant, User
from bqlite_app.access.principal import DATASET_ROLES, DatasetRole, Principal, role_at_least
from bqlite_app.datasets import check_dataset_name, dataset_of
from bqlite_app.db import busy_is_unavailable
from bqlite_app.errors import AccessDenied, UserNotFound, ValidationFailed
from bqlite_app.settings import Settings
from engines.base import CatalogTable


class Grants:
    def __init__(self, db: Engine, settings: Settings, audit: AuditLog) -> None:
        self._db = db
        self._settings = settings
        self._audit = audit
        self._cache: dict[str, dict[str, DatasetRole]] = {}
        self._lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------------------------------

    def role_on(self, user: Principal, dataset: str) -> DatasetRole | None:
        if user.is_admin:
            return "owner"
        return self._roles(user.user_id).get(dataset)

    def grants_of(self, user: Principal) -> list[dict[str, str]]:
        return [{"dataset": dataset, "role": role} for dataset, role in sorted(self._roles(user.user_id).items())]

    def readable_datasets(self, user: Principal) -> set[str] | None:
        """The datasets ``user`` may read; None means all of them (admins)."""
        if user.is_admin:
            return None
        return set(self._roles(user.user_id))

    def can_read(self, user: Principal, dataset: str) -> bool:
        return role_at_least(self.role_on(user, dataset), "reader")

    def datasets(self, user: Principal, catalog_tables: Iterable[tuple[str, CatalogTable]],
                 databases: Iterable[tuple[str, str]] = ()) -> list[dict[str, Any]]:
        """``GET /datasets``: every dataset the caller can read, with its table count over both engines.

        ``catalog_tables`` are (engine name, table) pairs and ``databases`` (engine name, database) pairs, so an
        empty dataset is listed too, as is a granted dataset without tables yet.
        """
        counts: dict[str, int] = {dataset_of(engine, database): 0 for engine, database in databases}
        for engine, table in catalog_tables:
            dataset = dataset_of(engine, table.database)
            counts[dataset] = counts.get(dataset, 0) + 1
        names = set(counts) | set(self._roles(user.user_id) if not user.is_admin else self._all_granted())
        readable = self.readable_datasets(user)
        return [{"name": name, "tables": counts.get(name, 0), "your_role": self.role_on(user, name)}
                for name in sorted(names) if readable is None or name in readable]

    def list_grants(self, dataset: str) -> dict[str, Any]:
        with Session(self._db) as session:
            rows = session.exec(select(DatasetGrant, User).where(DatasetGrant.dataset == dataset)
                                .where(DatasetGrant.user_id == User.user_id)).all()
        grants = [{"username": user.username, "role": grant.role} for grant, user in rows]
        return {"dataset": dataset, "grants": sorted(grants, key=lambda g: g["username"])}

    # -- checking --------------------------------------------------------------------------------------------

    def require(self, user: Principal, dataset: str, role: DatasetRole, *, action: str = "") -> None:
        """Raise ``AccessDenied`` naming the dataset and the role needed, after recording the refusal."""
        if role_at_least(self.role_on(user, dataset), role):
            return
        self.deny(user, f"needs {role} on dataset {dataset}", target=dataset, action=action)

    def require_admin(self, user: Principal, what: str, *, target: str = "", action: str = "") -> None:
        if not user.is_admin:
            self.deny(user, f"needs the admin role to {what}", target=target, action=action)

    def deny(self, user: Principal, reason: str, *, target: str = "", action: str = "") -> None:
        detail = {"reason": reason, **({"action": action} if action else {})}
        self._audit.record(user, "access.denied", target=target, outcome="denied", detail=detail)
        raise AccessDenied(f"Access denied: {reason}")

    # -- changing --------------------------------------------------------------------------------------------

    def set_grant(self, actor: Principal, dataset: str, username: str, role: str) -> dict[str, str]:
        """Give ``username`` ``role`` on ``dataset`` (replacing any other role there). Owners and admins only."""
        check_dataset_name(dataset)
        if role not in DATASET_ROLES:
            raise ValidationFailed(f"role: must be one of {', '.join(DATASET_ROLES)}, got {role!r}")
        self.require(actor, dataset, "owner", action="grant.set")
        user_id = self._user_id(username)
        self._put(user_id, dataset, role)
        self._audit.record(actor, "grant.set", target=f"{dataset}/{username}", detail={"role": role})
        return {"dataset": dataset, "username": username, "role": role}

    def revoke(self, actor: Principal, dataset: str, username: str) -> None:
        check_dataset_name(dataset)
        self.require(actor, dataset, "owner", action="grant.revoke")
        user_id = self._user_id(username)
        with busy_is_unavailable("grants"), Session(self._db) as session:
            grant = session.exec(select(DatasetGrant).where(DatasetGrant.dataset == dataset,
                                                            DatasetGrant.user_id == user_id)).first()
            if grant is None:
                raise UserNotFound(f"User {username!r} has no grant on dataset {dataset}")
            session.delete(grant)
            session.commit()
        self._forget(user_id)
        self._audit.record(actor, "grant.revoke", target=f"{dataset}/{username}")

    def give_defaults(self, user_id: str) -> None:
        """``BQLITE_DEFAULT_GRANTS`` for a new member (a stronger grant already held is kept)."""
        for dataset, role in self._settings.default_grants.items():
            held = self._roles(user_id).get(dataset)
            if not role_at_least(held, role):
                self._put(user_id, dataset, role)

    def make_owner(self, user_id: str, dataset: str) -> None:
        """Whoever creates a dataset owns it."""
        if self._roles(user_id).get(dataset) != "owner":
            self._put(user_id, dataset, "owner")

    def forget_user(self, user_id: str) -> None:
        """Drop every grant of a deleted user."""
        with busy_is_unavailable("grants"), Session(self._db) as session:
            for grant in session.exec(select(DatasetGrant).where(DatasetGrant.user_id == user_id)).all():
                session.delete(grant)
            session.commit()
        self._forget(user_id)

    def forget_dataset(self, dataset: str) -> None:
        """Drop every grant on a deleted dataset: a dataset created again under its name starts with no owners."""
        with busy_is_unavailable("grants"), Session(self._db) as session:
            grants = session.exec(select(DatasetGrant).where(DatasetGrant.dataset == dataset)).all()
            holders = {grant.user_id for grant in grants}
            for grant in grants:
                session.delete(grant)
            session.commit()
        for user_id in holders:
            self._forget(user_id)

    def dataset_exists(self, dataset: str) -> bool:
        """Whether anyone holds a grant on ``dataset`` (so creating it anew makes nobody its owner twice)."""
        with Session(self._db) as session:
            return session.exec(select(DatasetGrant.id).where(DatasetGrant.dataset == dataset).limit(1)).first() \
                is not None

    # -- internals -------------------------------------------------------------------------------------------

    def _roles(self, user_id: str) -> dict[str, DatasetRole]:
        with self._lock:
            cached = self._cache.get(user_id)
        if cached is not None:
            return cached
        with Session(self._db) as session:
            rows = session.exec(select(DatasetGrant).where(DatasetGrant.user_id == user_id)).all()
        roles: dict[str, DatasetRole] = {g.dataset: g.role for g in rows if g.role in DATASET_ROLES}  # type: ignore[misc]
        with self._lock:
            self._cache[user_id] = roles
        return roles

    def _all_granted(self) -> set[str]:
        with Session(self._db) as session:
            return set(session.exec(select(DatasetGrant.dataset).distinct()).all())

    def _put(self, user_id: str, dataset: str, role: str) -> None:
        with busy_is_unavailable("grants"), Session(self._db) as session:
            grant = session.exec(select(DatasetGrant).where(DatasetGrant.dataset == dataset,
                                                            DatasetGrant.user_id == user_id)).first()
            grant = grant or DatasetGrant(dataset=dataset, user_id=user_id, role=role)
            grant.role = role
            session.add(grant)
            session.commit()
        self._forget(user_id)

    def _forget(self, user_id: str) -> None:
        with self._lock:
            self._cache.pop(user_id, None)

    def _user_id(self, username: str) -> str:
        with Session(self._db) as session:
            user = session.exec(select(User).where(User.username == username)).first()
        if user is None:
            raise UserNotFound(f"User {username!r} not found")
        return user.user_id

