"""Who may sign in, and who a token stands for (docs/api.md, "Identity, access and audit").

Passwords are Argon2 hashes (argon2-cffi). Sign-in gives a short-lived JWT (PyJWT, HS256, ``sub`` = the user's id,
never reused); scripts use ``bql_`` API tokens stored as SHA-256 hashes. Every request reads the user row (through a
cache that any user or token change clears), so deactivation, deletion and role changes apply to existing tokens at
once, and a token check never touches the slow password hash.

User management (create, update, delete) lives in ``access/users.py``; this module is sign-in and tokens.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bqlite_app.access.audit import AuditLog
from bqlite_app.access.limits import Limiter
from bqlite_app.access.models import ApiToken, User
from bqlite_app.access.principal import LOCAL, Principal
from bqlite_app.access.users import MIN_PASSWORD_LENGTH, UserAdmin, user_by_name, user_public
from bqlite_app.db import busy_is_unavailable, utcnow
from bqlite_app.errors import AccessDenied, ApiTokenNotFound, AuthRequired, RateLimited, ValidationFailed
from bqlite_app.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["Identity", "IssuedToken", "user_public"]

API_TOKEN_PREFIX = "bql_"
JWT_ALGORITHM = "HS256"
# How long a download link stays usable: long enough to click, short enough that a leaked link is soon useless.
DOWNLOAD_TOKEN_TTL_S = 60
SECRET_KEY_FILE = "secret-key"
INITIAL_PASSWORD_FILE = "initial-admin-password"
# One message for every bad sign-in, so an answer never tells whether the username exists.
BAD_CREDENTIALS = "Incorrect username or password."
NO_TOKEN = "Sign in first: this request needs an `Authorization: Bearer <token>` header (POST /auth/token)."
BAD_TOKEN = "The token is invalid, expired or revoked; sign in again."


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


@dataclass(frozen=True)
class _Account:
    """What a request needs to know about its user: cached, and holds no password hash."""

    user_id: str
    username: str
    role: str
    active: bool
    token_generation: int


@dataclass(frozen=True)
class _KnownToken:
    user_id: str
    expires_at: datetime | None


class Identity(UserAdmin):
    def __init__(self, db: Engine, settings: Settings, audit: AuditLog, *, grants: Any = None,
                 limiter: Limiter | None = None) -> None:
        self._db = db
        self.settings = settings
        self.audit = audit
        # The access helper's ``Grants``: new members get the default grants. Core wires it in.
        self.grants = grants
        self.limiter = limiter if limiter is not None else Limiter(settings)
        self.hasher = PasswordHasher()
        self._key: str | None = None
        self._dummy_hash: str | None = None
        self._accounts: dict[str, _Account] = {}
        self._tokens: dict[str, _KnownToken] = {}
        # Bumped by every change: a lookup that read the database before a change must not cache what it read
        # after the change cleared the cache (a deactivated user's token would live on).
        self._generation = 0
        self._cache_lock = threading.Lock()
        # Serialises user changes, so two requests cannot both demote "the other" admin and leave none.
        self._write_lock = threading.Lock()

    # -- startup -------------------------------------------------------------------------------------------------

    def bootstrap(self) -> None:
        """Load (or create once) the signing key, and create the first admin when there is no admin yet."""
        self._signing_key()
        with Session(self._db) as session:
            if session.exec(select(User.user_id).where(User.role == "admin")).first() is not None:
                return
        name = self.settings.admin_user
        if self._user_by_name(name) is not None:
            # Only possible if the database was edited by hand: make that user the admin rather than fail to start.
            with busy_is_unavailable("users"), Session(self._db) as session:
                user = user_by_name(session, name)
                user.role, user.active = "admin", True
                session.add(user)
                session.commit()
            self._forget()
            self.audit.record("system", "user.update", target=name, detail={"role": "admin", "active": True})
            log.warning("no admin was left; made the existing user %r (BQLITE_ADMIN_USER) the admin", name)
            return
        given = self.settings.admin_password
        password = given.get_secret_value() if given is not None else secrets.token_urlsafe(18)
        if len(password) < MIN_PASSWORD_LENGTH:
            raise SystemExit(f"BQLITE_ADMIN_PASSWORD must be at least {MIN_PASSWORD_LENGTH} characters long.")
        user = User(username=name, password_hash=self.hasher.hash(password), role="admin")
        with busy_is_unavailable("users"), Session(self._db, expire_on_commit=False) as session:
            session.add(user)
            session.commit()
        self.audit.record("system", "user.create", target=name, detail={"role": "admin", "first_admin": True})
        if given is None:
            path = self.settings.data_dir / INITIAL_PASSWORD_FILE
            _write_private(path, password + "\n")
            # The log names the file, never the password: logs are shipped and kept where secrets must not go.
            log.warning("created the first admin %r; its generated password is in %s (change it after signing in)",
                        name, path)
        else:
            log.info("created the first admin %r from BQLITE_ADMIN_PASSWORD", name)

    # -- sign-in -------------------------------------------------------------------------------------------------

    def login(self, username: str, password: str, client_ip: str | None) -> IssuedToken:
        """Check a username and password; a JWT on success, ``AuthRequired`` or ``RateLimited`` otherwise."""
        if len(username) > 64 or len(password) > 1024:
            # No such user can exist and no such password can be set; refuse without hashing megabytes.
            raise self._bad_login(username[:64], client_ip)
        wait = self.limiter.login_blocked(username, client_ip)
        if wait is not None:
            self.audit.record(username, "auth.login", target=username, outcome="denied",
                              detail={"reason": "too many failed logins"}, client_ip=client_ip)
            raise RateLimited(f"Too many failed sign-ins for this user from this address; try again in {wait} s.",
                              retry_after=wait)
        user = self._user_by_name(username)
        if not self._password_matches(user, password) or user is None or not user.active:
            raise self._bad_login(username, client_ip)
        self.limiter.login_succeeded(username, client_ip)
        changes: dict[str, Any] = {"last_login_at": utcnow()}
        if self.hasher.check_needs_rehash(user.password_hash):
            changes["password_hash"] = self.hasher.hash(password)  # parameters were raised since it was stored
        self._update_row(user.user_id, **changes)
        self.audit.record(username, "auth.login", target=username, client_ip=client_ip)
        return self.issue_token(user.user_id, generation=user.token_generation)

    def _bad_login(self, username: str, client_ip: str | None) -> AuthRequired:
        self.limiter.login_failed(username, client_ip)
        self.audit.record(username, "auth.login", target=username, outcome="failed",
                          detail={"reason": "bad credentials"}, client_ip=client_ip)
        return AuthRequired(BAD_CREDENTIALS)

    def issue_token(self, user_id: str, *, ttl_s: int | None = None, generation: int | None = None) -> IssuedToken:
        ttl = self.settings.token_ttl_s if ttl_s is None else ttl_s
        if generation is None:
            account = self._account(user_id)
            generation = account.token_generation if account is not None else 0
        now = datetime.now(UTC)
        claims = {"sub": user_id, "iat": now, "exp": now + timedelta(seconds=ttl), "jti": uuid.uuid4().hex,
                  "gen": generation}
        return IssuedToken(jwt.encode(claims, self._signing_key(), algorithm=JWT_ALGORITHM), ttl)

    def issue_download_token(self, user: Principal, job_id: str) -> str:
        """A link-sized credential for one job's export, valid for a minute: a browser link cannot send a bearer
        header, and streaming the file from the API beats holding it in the UI's memory (a presigned URL)."""
        account = self._account(user.user_id)
        generation = account.token_generation if account is not None else 0
        now = datetime.now(UTC)
        claims = {"sub": user.user_id, "iat": now, "exp": now + timedelta(seconds=DOWNLOAD_TOKEN_TTL_S),
                  "gen": generation, "purpose": "download", "job": job_id}
        return jwt.encode(claims, self._signing_key(), algorithm=JWT_ALGORITHM)

    def authenticate_download(self, token: str, job_id: str, client_ip: str | None) -> Principal:
        """The principal of a download token, only for the export of the job it was issued for."""
        if not self.settings.auth_on:
            return replace(LOCAL, client_ip=client_ip)
        try:
            claims = jwt.decode(token, self._signing_key(), algorithms=[JWT_ALGORITHM],
                                options={"require": ["sub", "exp", "iat", "gen", "purpose", "job"]})
        except jwt.PyJWTError:
            raise AuthRequired(BAD_TOKEN) from None
        if claims["purpose"] != "download" or claims["job"] != job_id:
            raise AuthRequired(BAD_TOKEN)
        return self._principal(claims["sub"], claims["gen"], client_ip)

    def authenticate(self, token: str | None, client_ip: str | None) -> Principal:
        """The principal a bearer token stands for. Auth off: the built-in ``local`` admin, whatever is sent."""
        if not self.settings.auth_on:
            return replace(LOCAL, client_ip=client_ip)
        if not token:
            raise AuthRequired(NO_TOKEN)
        if token.startswith(API_TOKEN_PREFIX):
            user_id, generation = self._api_token_user(token), None
        else:
            user_id, generation = self._jwt_user(token)
        return self._principal(user_id, generation, client_ip)

    def _principal(self, user_id: str | None, generation: int | None, client_ip: str | None) -> Principal:
        """The user behind a checked credential, if the account is still active and the credential's generation
        is current (``None``: an API token, which has none)."""
        account = self._account(user_id) if user_id else None
        if account is None or not account.active or generation not in (None, account.token_generation):
            raise AuthRequired(BAD_TOKEN)
        return Principal(username=account.username, role=account.role, user_id=account.user_id,  # type: ignore[arg-type]
                         client_ip=client_ip)

    # -- own password and API tokens -----------------------------------------------------------------------------

    def change_password(self, user: Principal, current: str, new: str) -> None:
        row = self._user_row(user.user_id)
        if row is None:
            raise ValidationFailed("This user has no password (auth is off: the built-in user is `local`).")
        wait = self.limiter.login_blocked(row.username, user.client_ip)
        if wait is not None:
            raise RateLimited(f"Too many wrong passwords; try again in {wait} s.", retry_after=wait)
        if not self._password_matches(row, current):
            # Counted like a failed sign-in: a stolen session must not become a password-guessing oracle.
            self.limiter.login_failed(row.username, user.client_ip)
            self.audit.record(user, "auth.password", target=row.username, outcome="failed",
                              detail={"reason": "current password is wrong"})
            raise AccessDenied("The current password is not correct; the password was not changed.")
        self._check_password(new)
        self._update_row(row.user_id, password_hash=self.hasher.hash(new),
                         token_generation=row.token_generation + 1)
        self.audit.record(user, "auth.password", target=row.username)

    def create_api_token(self, user: Principal, name: str, expires_in_days: int | None) -> tuple[ApiToken, str]:
        """A new API token; the secret is returned this once and only its SHA-256 is kept."""
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise ValidationFailed("name: a token needs a name of 1 to 100 characters")
        if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
            raise ValidationFailed("expires_in_days: must be between 1 and 3650, or null for no expiry")
        secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days is not None else None
        token = ApiToken(user_id=user.user_id, name=name, token_hash=_sha256(secret), expires_at=expires)
        with busy_is_unavailable("API tokens"), Session(self._db, expire_on_commit=False) as session:
            session.add(token)
            session.commit()
        self.audit.record(user, "token.create", target=token.id,
                          detail={"name": name, "expires_in_days": expires_in_days})
        return token, secret

    def list_api_tokens(self, user: Principal) -> list[ApiToken]:
        with Session(self._db) as session:
            rows = session.exec(select(ApiToken).where(ApiToken.user_id == user.user_id,
                                                       col(ApiToken.revoked_at).is_(None))
                                .order_by(col(ApiToken.created_at).desc())).all()
        return list(rows)

    def revoke_api_token(self, user: Principal, token_id: str) -> None:
        with self._write_lock, busy_is_unavailable("API tokens"), Session(self._db) as session:
            token = session.get(ApiToken, token_id)
            # Someone else's token answers as if it did not exist, like someone else's job.
            if token is None or token.revoked_at is not None or token.user_id != user.user_id:
                raise ApiTokenNotFound(f"No API token {token_id!r} among yours.")
            token.revoked_at = utcnow()
            session.add(token)
            session.commit()
            name = token.name
        self._forget()
        self.audit.record(user, "token.revoke", target=token_id, detail={"name": name})

    # -- internals -----------------------------------------------------------------------------------------------

    def _signing_key(self) -> str:
        if self._key is None:
            if self.settings.secret_key is not None:
                self._key = self.settings.secret_key.get_secret_value()
                if len(self._key) < 32:
                    log.warning("BQLITE_SECRET_KEY is shorter than 32 characters; use a long random key")
            else:
                self._key = _load_or_create_key(self.settings.data_dir / SECRET_KEY_FILE)
        return self._key

    def _jwt_user(self, token: str) -> tuple[str | None, int]:
        """(user id, token generation) of a valid JWT; (None, 0) for anything else."""
        try:
            claims = jwt.decode(token, self._signing_key(), algorithms=[JWT_ALGORITHM],
                                options={"require": ["sub", "exp", "iat", "gen"]})
        except jwt.PyJWTError:
            return None, 0
        sub, generation = claims.get("sub"), claims.get("gen")
        if not isinstance(sub, str) or not isinstance(generation, int) or "purpose" in claims:
            return None, 0   # a download token opens one export, never the API
        return sub, generation

    def _api_token_user(self, token: str) -> str | None:
        digest = _sha256(token)
        known = self._tokens.get(digest)
        if known is None:
            generation = self._generation
            with Session(self._db) as session:
                row = session.exec(select(ApiToken).where(ApiToken.token_hash == digest,
                                                          col(ApiToken.revoked_at).is_(None))).first()
            if row is None:
                return None  # unknown tokens are not cached: a flood of guesses must not grow memory
            known = _KnownToken(row.user_id, _aware(row.expires_at))
            with self._cache_lock:
                if generation == self._generation:
                    self._tokens[digest] = known
        if known.expires_at is not None and known.expires_at <= datetime.now(UTC):
            return None
        return known.user_id

    def _account(self, user_id: str) -> _Account | None:
        account = self._accounts.get(user_id)
        if account is None:
            generation = self._generation
            row = self._user_row(user_id)
            if row is None:
                return None
            account = _Account(row.user_id, row.username, row.role, row.active, row.token_generation)
            with self._cache_lock:
                if generation == self._generation:
                    self._accounts[user_id] = account
        return account

    def _forget(self) -> None:
        """Drop every cached account and token: called after any change to users or tokens."""
        with self._cache_lock:
            self._generation += 1
            self._accounts.clear()
            self._tokens.clear()

    def _user_row(self, user_id: str) -> User | None:
        with Session(self._db) as session:
            return session.get(User, user_id)

    def _user_by_name(self, username: str) -> User | None:
        with Session(self._db) as session:
            return session.exec(select(User).where(User.username == username)).first()

    def _update_row(self, user_id: str, **changes: Any) -> None:
        with busy_is_unavailable("users"), Session(self._db) as session:
            row = session.get(User, user_id)
            if row is not None:
                for name, value in changes.items():
                    setattr(row, name, value)
                session.add(row)
                session.commit()
        if "token_generation" in changes:
            self._forget()  # the cache holds the generation that earlier tokens are checked against

    def _password_matches(self, user: User | None, password: str) -> bool:
        """Argon2 verify; for an unknown user a dummy hash is checked, so both take the same time."""
        if user is None:
            if self._dummy_hash is None:
                self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
            stored = self._dummy_hash
        else:
            stored = user.password_hash
        try:
            return self.hasher.verify(stored, password) and user is not None
        except (VerificationError, InvalidHashError):
            return False


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _aware(ts: datetime | None) -> datetime | None:
    # SQLite gives timestamps back without a zone; they were written in UTC.
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


def _write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (0600), created with that mode so it is never briefly world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed


def _load_or_create_key(path: Path) -> str:
    if path.exists():
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return path.read_text().strip()
    key = secrets.token_urlsafe(64)
    _write_private(path, key + "\n")
    log.info("generated the token signing key in %s", path)
    return key
