"""Tables of identity and access, in the app's SQLite database (created by ``create_all``; new tables need no
migration, so an existing data dir keeps working)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bqlite_app.db import utcnow


def new_user_id() -> str:
    # Never reused: a token names its user by this id, so a deleted user's tokens stay dead when the username
    # is created again.
    return f"usr_{uuid.uuid4().hex}"


class User(SQLModel, table=True):
    __tablename__ = "users"

    user_id: str = Field(default_factory=new_user_id, primary_key=True)
    username: str = Field(index=True, unique=True)
    password_hash: str
    role: str = "member"                     # "admin" | "member"
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None
    # Sign-in tokens carry the generation they were issued under; raising it (a password change, a deactivation)
    # ends every earlier session at once, where a time comparison would depend on clock resolution.
    token_generation: int = 0


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: str = Field(default_factory=lambda: f"tok_{uuid.uuid4().hex[:16]}", primary_key=True)
    user_id: str = Field(index=True)
    name: str
    # SHA-256 of the secret: it is 32 random bytes, so a fast hash is as strong as a slow one, and checking it on
    # every request costs microseconds, not an Argon2 run.
    token_hash: str = Field(index=True, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class DatasetGrant(SQLModel, table=True):
    __tablename__ = "dataset_grants"
    __table_args__ = (UniqueConstraint("dataset", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    dataset: str = Field(index=True)
    user_id: str = Field(index=True)
    role: str                                # "reader" | "writer" | "owner"


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_ts", "ts"),)

    id: int | None = Field(default=None, primary_key=True)
    ts: datetime = Field(default_factory=utcnow)
    actor: str = Field(index=True)
    client_ip: str | None = None
    action: str = Field(index=True)
    target: str = ""
    outcome: str = Field(index=True)         # "ok" | "denied" | "failed"
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str
    hash: str
