"""User management (admins only): create, list, change role or password, deactivate, delete.

A mixin of ``Identity`` (which holds the database, hasher, audit log and caches); split out only to keep each module
readable. The core checks the admin role itself, so no face can forget to.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete, func
from sqlmodel import Session, col, select

from bqlite_app.access.models import ApiToken, User
from bqlite_app.access.principal import Principal
from bqlite_app.db import busy_is_unavailable, utcnow
from bqlite_app.errors import AccessDenied, UserNotFound, ValidationConflict, ValidationFailed

if TYPE_CHECKING:
    from argon2 import PasswordHasher

    from bqlite_app.access.audit import AuditLog

MIN_PASSWORD_LENGTH = 12
ROLES = ("admin", "member")
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
# Names the audit log uses for actors that are not users.
RESERVED_USERNAMES = frozenset({"local", "system"})


class UserAdmin:
    _db: Engine
    audit: AuditLog
    hasher: PasswordHasher
    grants: Any
    _write_lock: threading.Lock

    def _forget(self) -> None:  # pragma: no cover - provided by Identity
        raise NotImplementedError

    def create_user(self, actor: Principal, username: str, password: str, role: str) -> User:
        _require_admin(actor)
        if not _USERNAME.match(username) or username in RESERVED_USERNAMES:
            raise ValidationFailed("username: 1 to 64 letters, digits or `_.@-`, starting with a letter or digit "
                                   "(`local` and `system` are reserved)")
        _check_role(role)
        self._check_password(password)
        user = User(username=username, password_hash=self.hasher.hash(password), role=role)
        with self._write_lock, busy_is_unavailable("users"), Session(self._db, expire_on_commit=False) as session:
            if session.exec(select(User.user_id).where(User.username == username)).first() is not None:
                raise ValidationConflict(f"A user named {username!r} already exists.")
            session.add(user)
            session.commit()
        if role == "member" and self.grants is not None:
            self.grants.give_defaults(user.user_id)
        self.audit.record(actor, "user.create", target=username, detail={"role": role})
        return user

    def list_users(self) -> list[User]:
        with Session(self._db) as session:
            return list(session.exec(select(User).order_by(col(User.username))).all())

    def get_user(self, username: str) -> User:
        with Session(self._db) as session:
            user = session.exec(select(User).where(User.username == username)).first()
        if user is None:
            raise UserNotFound(f"No user named {username!r}.")
        return user

    def update_user(self, actor: Principal, username: str, *, role: str | None = None, password: str | None = None,
                    active: bool | None = None) -> User:
        _require_admin(actor)
        if role is not None:
            _check_role(role)
        if password is not None:
            self._check_password(password)
        new_hash = self.hasher.hash(password) if password is not None else None  # slow: outside the lock
        changed: dict[str, Any] = {}
        with self._write_lock, busy_is_unavailable("users"), Session(self._db, expire_on_commit=False) as session:
            user = user_by_name(session, username)
            if user.role == "admin" and user.active and (role == "member" or active is False):
                _keep_an_admin(session, username, "demoted" if role == "member" else "deactivated")
            if role is not None and role != user.role:
                changed["role"] = user.role = role
            if active is not None and active != user.active:
                changed["active"] = user.active = active
                if not active:
                    # Revoked, not just suspended: reactivating the account must not bring old keys back.
                    _revoke_tokens(session, user.user_id)
                    user.token_generation += 1
            if new_hash is not None:
                user.password_hash = new_hash
                user.token_generation += 1     # a new password ends the sessions of the old one
                changed["password_changed"] = True
            session.add(user)
            session.commit()
        self._forget()
        if changed:
            self.audit.record(actor, "user.update", target=username, detail=changed)
        return user

    def delete_user(self, actor: Principal, username: str) -> None:
        _require_admin(actor)
        with self._write_lock, busy_is_unavailable("users"), Session(self._db) as session:
            user = user_by_name(session, username)
            if user.role == "admin" and user.active:
                _keep_an_admin(session, username, "deleted")
            # Tokens and grants name the user by an id that is never reused, so a new user of the same name
            # inherits none of them; removing them keeps the tables clean.
            user_id = user.user_id
            session.exec(delete(ApiToken).where(col(ApiToken.user_id) == user_id))  # type: ignore[call-overload]
            session.delete(user)
            session.commit()
        self._forget()
        if self.grants is not None:
            self.grants.forget_user(user_id)
        self.audit.record(actor, "user.delete", target=username)

    def _check_password(self, password: str) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValidationFailed(f"password: must be at least {MIN_PASSWORD_LENGTH} characters")
        if len(password) > 1024:
            raise ValidationFailed("password: must be at most 1024 characters")


def user_public(user: User) -> dict[str, Any]:
    return {"username": user.username, "role": user.role, "active": user.active,
            "created_at": _iso(user.created_at), "last_login_at": _iso(user.last_login_at)}


def _iso(ts: datetime | None) -> str | None:
    # SQLite gives timestamps back without a zone; they were written in UTC.
    return None if ts is None else ts.replace(tzinfo=None).isoformat() + "+00:00"


def _require_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise AccessDenied("Managing users needs the admin role.")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValidationFailed("role: must be `admin` or `member`")


def user_by_name(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise UserNotFound(f"No user named {username!r}.")
    return user


def _keep_an_admin(session: Session, username: str, what: str) -> None:
    admins = session.exec(select(func.count()).select_from(User)
                          .where(User.role == "admin", col(User.active).is_(True))).one()
    if admins <= 1:
        raise ValidationConflict(f"{username!r} is the last active admin and cannot be {what}; "
                                 "make another user an admin first.")


def _revoke_tokens(session: Session, user_id: str) -> None:
    now = utcnow()
    for token in session.exec(select(ApiToken).where(ApiToken.user_id == user_id,
                                                     col(ApiToken.revoked_at).is_(None))):
        token.revoked_at = now
        session.add(token)
