"""Saved queries for every face (REST, CLI through REST, the workspace in process): save, list, search, read, change,
share and delete, with the owner's rules checked here so no face can forget them.

- The owner reads, changes and deletes. Admins read everyone's (as they see every job) and may delete, not change.
- A query shared with chosen users or with everyone is read-only for them.
- One the caller may not see answers exactly as a missing one (404 ``SAVED_QUERY_NOT_FOUND``).
Every change leaves an audit event (names and ids only; never the SQL).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from sqlalchemy import Engine, and_, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, delete, select

from bqlite_app.access.audit import AuditLog
from bqlite_app.access.models import User
from bqlite_app.access.principal import Principal
from bqlite_app.db import busy_is_unavailable, iso_utc, utcnow
from bqlite_app.errors import AccessDenied, EngineNotAvailable, ValidationConflict, ValidationFailed
from bqlite_app.saved.models import (
    ID_PATTERN,
    MAX_SAVED_PER_OWNER,
    MAX_SEARCH_CHARS,
    MAX_SHARED_WITH,
    SavedQuery,
    SavedQueryNotFound,
    SavedQueryPublic,
    SavedQueryShare,
    SavedQuerySummary,
    Sharing,
    check_description,
    check_name,
    check_sql,
    check_unicode,
)

Scope = Literal["visible", "mine", "shared", "all"]
SCOPES: tuple[str, ...] = ("visible", "mine", "shared", "all")
MAX_LIST_LIMIT = 1000
MAX_LIST_OFFSET = 1_000_000_000
_UNSET: Any = object()


class SavedQueries:
    def __init__(self, db: Engine, audit: AuditLog | None, *, engines: Iterable[str], max_sql_bytes: int) -> None:
        self._db = db
        self._audit = audit
        self._engines = tuple(engines)
        self._max_sql_bytes = max_sql_bytes
        # Serialises writes, so the per-owner cap and the name check see each other's inserts.
        self._lock = threading.Lock()
        SQLModel.metadata.create_all(db, tables=[SavedQuery.__table__, SavedQueryShare.__table__])  # type: ignore[list-item]

    # -- reading ---------------------------------------------------------------------------------------------

    def get(self, saved_id: str, *, user: Principal) -> SavedQueryPublic:
        with Session(self._db) as session:
            saved = self._visible(session, saved_id, user)
            return self._public(session, saved, user)

    def list(self, *, user: Principal, q: str | None = None, scope: str = "visible", name: str | None = None,
             owner: str | None = None, limit: int = 100, offset: int = 0,
             ) -> tuple[list[SavedQuerySummary], int]:
        """The saved queries ``user`` may see, by name; ``q`` searches names, descriptions and SQL (any case).

        ``scope``: ``visible`` (theirs and those shared with them), ``mine``, ``shared`` (others' shared with them)
        or ``all`` (admins only: everyone's, private ones too).
        """
        if scope not in SCOPES:
            raise ValidationFailed(f"scope: one of {', '.join(SCOPES)}")
        if scope == "all" and not user.is_admin:
            raise AccessDenied("Listing everyone's saved queries (scope=all) needs the admin role.")
        if not 1 <= limit <= MAX_LIST_LIMIT or not 0 <= offset <= MAX_LIST_OFFSET:
            raise ValidationFailed(f"limit: 1..{MAX_LIST_LIMIT}; offset: 0..{MAX_LIST_OFFSET:,}")
        clauses: list[Any] = []
        if scope == "mine":
            clauses.append(SavedQuery.owner_id == user.user_id)
        elif scope == "shared":
            clauses += [_visible_to(user), SavedQuery.owner_id != user.user_id]
        elif scope == "visible":
            clauses.append(_visible_to(user))
        if q:
            if len(q) > MAX_SEARCH_CHARS:
                raise ValidationFailed(f"q: at most {MAX_SEARCH_CHARS} characters")
            check_unicode("q", q)
            clauses.append(or_(col(SavedQuery.name).icontains(q, autoescape=True),
                               col(SavedQuery.description).icontains(q, autoescape=True),
                               col(SavedQuery.sql).icontains(q, autoescape=True)))
        if name is not None:
            check_unicode("name", name)
            clauses.append(SavedQuery.name == name)
        if owner is not None:
            check_unicode("owner", owner)
            clauses.append(SavedQuery.owner == owner)
        summary_columns = [c for c in SavedQuery.__table__.columns if c.name != "sql"]  # type: ignore[attr-defined]
        query = (select(*summary_columns).where(*clauses)
                 .order_by(func.lower(SavedQuery.name), col(SavedQuery.owner), col(SavedQuery.id))
                 .offset(offset).limit(limit))
        count = select(func.count()).select_from(SavedQuery).where(*clauses)
        with Session(self._db) as session:
            rows = session.exec(query).all()  # type: ignore[call-overload]
            total = session.exec(count).one()
            shares = self._shared_names(session, [row.id for row in rows if row.owner_id == user.user_id
                                                  or user.is_admin])
        return [_summary(row, user, shares.get(row.id, [])) for row in rows], total

    # -- changing --------------------------------------------------------------------------------------------

    def create(self, *, user: Principal, name: str, sql: str, engine: str = "duckdb", description: str = "",
               sharing: str | None = None, shared_with: Sequence[str] | None = None) -> SavedQueryPublic:
        check_name(name)
        check_sql(sql, self._max_sql_bytes)
        check_description(description)
        self._check_engine(engine)
        mode = _sharing(sharing, shared_with)
        now = utcnow()
        saved = SavedQuery(owner_id=user.user_id, owner=user.username, name=name, description=description, sql=sql,
                           engine=engine, sharing=mode.value, created_at=now, updated_at=now)
        with self._lock, busy_is_unavailable("saved queries"), Session(self._db, expire_on_commit=False) as session:
            user_ids = self._user_ids(session, shared_with or [], user) if mode == Sharing.USERS else []
            owned = session.exec(select(func.count()).select_from(SavedQuery)
                                 .where(SavedQuery.owner_id == user.user_id)).one()
            if owned >= MAX_SAVED_PER_OWNER:
                raise ValidationConflict(f"You have {owned:,} saved queries, the most one user may keep; delete "
                                         "some first.")
            self._check_name_free(session, user.user_id, name, None)
            session.add(saved)
            session.add_all(SavedQueryShare(saved_id=saved.id, user_id=user_id) for user_id in user_ids)
            self._commit(session, name)
            public = self._public(session, saved, user)
        self._record(user, "saved_query.create", saved.id, {"name": name, "sharing": mode.value})
        return public

    def update(self, saved_id: str, *, user: Principal, name: str | None = None, sql: str | None = None,
               engine: str | None = None, description: str | None = None, sharing: str | None = None,
               shared_with: Sequence[str] | None = None) -> SavedQueryPublic:
        """Change what is given (None: unchanged). Only the owner may; setting ``shared_with`` alone shares with
        exactly those users, and any sharing other than ``users`` ends the sharing with chosen users."""
        if name is not None:
            check_name(name)
        if sql is not None:
            check_sql(sql, self._max_sql_bytes)
        if description is not None:
            check_description(description)
        if engine is not None:
            self._check_engine(engine)
        with self._lock, busy_is_unavailable("saved queries"), Session(self._db, expire_on_commit=False) as session:
            saved = self._editable(session, saved_id, user)
            changed: dict[str, Any] = {}
            if name is not None and name != saved.name:
                self._check_name_free(session, saved.owner_id, name, saved.id)
                changed["name"] = saved.name = name
            for field, value in (("sql", sql), ("engine", engine), ("description", description)):
                if value is not None and value != getattr(saved, field):
                    setattr(saved, field, value)
                    changed[field] = True if field != "engine" else value
            if sharing is not None or shared_with is not None:
                mode = _sharing(sharing if sharing is not None else
                                (Sharing.USERS.value if shared_with is not None else saved.sharing), shared_with)
                if mode == Sharing.USERS and shared_with is not None:
                    self._set_shares(session, saved.id, self._user_ids(session, shared_with, user))
                elif mode != Sharing.USERS:
                    self._set_shares(session, saved.id, [])
                if mode.value != saved.sharing:
                    changed["sharing"] = saved.sharing = mode.value
                if shared_with is not None:
                    changed["shared_with"] = len(shared_with)
            if changed:
                saved.updated_at = utcnow()
                session.add(saved)
                self._commit(session, saved.name)
            public = self._public(session, saved, user)
        if changed:
            self._record(user, "saved_query.update", saved.id, {"changed": sorted(changed)})
        return public

    def delete(self, saved_id: str, *, user: Principal) -> None:
        with self._lock, busy_is_unavailable("saved queries"), Session(self._db) as session:
            saved = self._visible(session, saved_id, user)
            if saved.owner_id != user.user_id and not user.is_admin:
                raise AccessDenied(f"Saved query {saved.name!r} belongs to {saved.owner}; only they may delete it.")
            target, name = saved.id, saved.name
            session.exec(delete(SavedQueryShare).where(col(SavedQueryShare.saved_id) == target))  # type: ignore[call-overload]
            session.delete(saved)
            session.commit()
        self._record(user, "saved_query.delete", target, {"name": name})

    # -- internals -------------------------------------------------------------------------------------------

    def _visible(self, session: Session, saved_id: str, user: Principal) -> SavedQuery:
        saved = session.get(SavedQuery, saved_id) if ID_PATTERN.fullmatch(saved_id or "") else None
        if saved is None or not (user.is_admin or saved.owner_id == user.user_id
                                 or saved.sharing == Sharing.EVERYONE
                                 or (saved.sharing == Sharing.USERS and self._shared_with(session, saved.id,
                                                                                          user.user_id))):
            # Printable and short, whatever the client sent: the id is echoed back.
            shown = saved_id if ID_PATTERN.fullmatch(saved_id or "") else "(not a saved query id)"
            raise SavedQueryNotFound(f"Saved query {shown} not found")
        return saved

    def _editable(self, session: Session, saved_id: str, user: Principal) -> SavedQuery:
        saved = self._visible(session, saved_id, user)
        if saved.owner_id != user.user_id:
            raise AccessDenied(f"Saved query {saved.name!r} belongs to {saved.owner} and is read-only for you; "
                               "save a copy under your own name to change it.")
        return saved

    @staticmethod
    def _shared_with(session: Session, saved_id: str, user_id: str) -> bool:
        return session.exec(select(SavedQueryShare.id).where(SavedQueryShare.saved_id == saved_id,
                                                             SavedQueryShare.user_id == user_id)).first() is not None

    @staticmethod
    def _shared_names(session: Session, saved_ids: list[str]) -> dict[str, list[str]]:
        if not saved_ids:
            return {}
        rows = session.exec(select(SavedQueryShare.saved_id, User.username)
                            .where(col(SavedQueryShare.saved_id).in_(saved_ids))
                            .where(SavedQueryShare.user_id == User.user_id)).all()
        names: dict[str, list[str]] = {}
        for saved_id, username in rows:
            names.setdefault(saved_id, []).append(username)
        return {key: sorted(value) for key, value in names.items()}

    def _public(self, session: Session, saved: SavedQuery, user: Principal) -> SavedQueryPublic:
        shared = (self._shared_names(session, [saved.id]).get(saved.id, [])
                  if saved.owner_id == user.user_id or user.is_admin else [])
        return SavedQueryPublic(**_summary(saved, user, shared).model_dump(), sql=saved.sql)

    @staticmethod
    def _user_ids(session: Session, usernames: Sequence[str], owner: Principal) -> list[str]:
        names = list(dict.fromkeys(usernames))
        if len(names) > MAX_SHARED_WITH:
            raise ValidationFailed(f"shared_with: at most {MAX_SHARED_WITH} users, got {len(names):,}")
        for username in names:
            if not isinstance(username, str) or not 1 <= len(username) <= 64:
                raise ValidationFailed("shared_with: usernames of 1 to 64 characters")
            check_unicode("shared_with", username)
        found = dict(session.exec(select(User.username, User.user_id).where(col(User.username).in_(names))).all())
        missing = [name for name in names if name not in found]
        if missing:
            shown = ", ".join(repr(name) for name in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise ValidationFailed(f"shared_with: no such user: {shown}")
        return [found[name] for name in names if found[name] != owner.user_id]

    @staticmethod
    def _set_shares(session: Session, saved_id: str, user_ids: list[str]) -> None:
        session.exec(delete(SavedQueryShare).where(col(SavedQueryShare.saved_id) == saved_id))  # type: ignore[call-overload]
        session.add_all(SavedQueryShare(saved_id=saved_id, user_id=user_id) for user_id in user_ids)

    @staticmethod
    def _check_name_free(session: Session, owner_id: str, name: str, saved_id: str | None) -> None:
        taken = session.exec(select(SavedQuery.id).where(SavedQuery.owner_id == owner_id,
                                                         SavedQuery.name == name)).first()
        if taken is not None and taken != saved_id:
            raise ValidationConflict(f"You already have a saved query named {name!r}; pick another name or update "
                                     "that one.")

    @staticmethod
    def _commit(session: Session, name: str) -> None:
        try:
            session.commit()
        except IntegrityError:  # a concurrent writer outside this process took the name first
            session.rollback()
            raise ValidationConflict(f"You already have a saved query named {name!r}.") from None

    def _check_engine(self, engine: str) -> None:
        if engine not in self._engines:
            raise EngineNotAvailable(f"Unknown engine {engine[:40]!r}; available engines: "
                                     f"{', '.join(sorted(self._engines))}")

    def _record(self, user: Principal, action: str, target: str, detail: dict[str, Any]) -> None:
        if self._audit is not None:
            self._audit.record(user, action, target=target, detail=detail)


def _visible_to(user: Principal) -> Any:
    shared_ids = select(SavedQueryShare.saved_id).where(SavedQueryShare.user_id == user.user_id)
    return or_(SavedQuery.owner_id == user.user_id, SavedQuery.sharing == Sharing.EVERYONE.value,
               and_(SavedQuery.sharing == Sharing.USERS.value, col(SavedQuery.id).in_(shared_ids)))


def _sharing(sharing: str | None, shared_with: Sequence[str] | None) -> Sharing:
    """The sharing mode asked for: ``shared_with`` alone means ``users``; with another mode it is a mistake."""
    if sharing is None:
        return Sharing.USERS if shared_with else Sharing.PRIVATE
    try:
        mode = Sharing(sharing)
    except ValueError:
        raise ValidationFailed("sharing: one of private, users, everyone") from None
    if shared_with and mode != Sharing.USERS:
        raise ValidationFailed(f"shared_with: only with sharing `users` (not `{mode.value}`)")
    return mode


def _summary(row: Any, user: Principal, shared_with: list[str]) -> SavedQuerySummary:
    return SavedQuerySummary(
        id=row.id, name=row.name, description=row.description, engine=row.engine, owner=row.owner,
        sharing=Sharing(row.sharing), shared_with=shared_with, created_at=iso_utc(row.created_at) or "",
        updated_at=iso_utc(row.updated_at) or "", can_edit=row.owner_id == user.user_id)
