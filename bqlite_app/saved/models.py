"""Saved queries: the SQLite tables, the public shapes every face shows, and the rules for names and text.

A saved query belongs to the user who saved it (by user id, never reused, so a user created again under a deleted
user's name inherits nothing). Its owner may share it read-only with chosen users (``saved_query_shares``) or with
everyone. The tables live in the app's one SQLite file; ``create_all`` makes them, so an older data dir needs no
migration.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bqlite_app.db import utcnow
from bqlite_app.errors import BqliteError, ValidationFailed

MAX_NAME_CHARS = 100
MAX_DESCRIPTION_CHARS = 2000
MAX_SHARED_WITH = 100
# Enough for any person's collection; a client that loops on POST cannot fill the disk.
MAX_SAVED_PER_OWNER = 1000
MAX_SEARCH_CHARS = 200
# Letters and digits of any script, spaces and a few marks; a name starts with a letter, digit or `_`. No `/`: the
# CLI names someone else's query as `owner/name`. Python's \w covers Unicode letters, never a lone surrogate.
NAME_PATTERN = re.compile(r"\w[\w .,:;()\[\]#+&'@!?=%-]*")
ID_PATTERN = re.compile(r"sq_[0-9a-f]{16}")


class Sharing(StrEnum):
    PRIVATE = "private"      # the owner only (and admins, as for jobs)
    USERS = "users"          # the owner and the users in ``saved_query_shares``
    EVERYONE = "everyone"    # every signed-in user


def new_saved_id() -> str:
    return f"sq_{uuid.uuid4().hex[:16]}"


class SavedQuery(SQLModel, table=True):
    __tablename__ = "saved_queries"
    __table_args__ = (UniqueConstraint("owner_id", "name"), Index("ix_saved_queries_updated_at", "updated_at"))

    id: str = Field(default_factory=new_saved_id, primary_key=True)
    owner_id: str = Field(index=True)
    # The owner's username when it was saved, for display (usernames are never renamed).
    owner: str
    name: str
    description: str = ""
    sql: str
    engine: str = "duckdb"
    sharing: str = Field(default=Sharing.PRIVATE.value, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SavedQueryShare(SQLModel, table=True):
    __tablename__ = "saved_query_shares"
    __table_args__ = (UniqueConstraint("saved_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    saved_id: str = Field(index=True)
    user_id: str = Field(index=True)


class SavedQuerySummary(BaseModel):
    """A saved query in a listing: everything but the SQL (which may be up to a megabyte)."""

    id: str
    name: str
    description: str
    engine: str
    owner: str
    sharing: Sharing
    shared_with: list[str]
    created_at: str
    updated_at: str
    can_edit: bool


class SavedQueryPublic(SavedQuerySummary):
    sql: str


class SavedQueryNotFound(BqliteError):
    """No such saved query, or one the caller may not see (the same answer, so an id tells nothing)."""

    status, error_code = 404, "SAVED_QUERY_NOT_FOUND"


# -- the rules every face gets ------------------------------------------------------------------------------------


def check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationFailed("name: must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise ValidationFailed(f"name: at most {MAX_NAME_CHARS} characters, got {len(name):,}")
    if name != name.strip() or not NAME_PATTERN.fullmatch(name):
        raise ValidationFailed(
            "name: letters, digits, spaces and `_ - . , : ; ( ) [ ] # + & ' @ ! ? = %`, starting with a letter, digit "
            "or `_`, with no space at either end")
    return name


def check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise ValidationFailed(f"description: at most {MAX_DESCRIPTION_CHARS:,} characters, got "
                               f"{len(description):,}")
    check_unicode("description", description)
    if any(ord(char) < 32 and char not in "\n\t" for char in description):
        raise ValidationFailed("description: control characters other than newline and tab are not allowed")
    return description


def check_sql(sql: str, max_bytes: int) -> str:
    if not sql.strip():
        raise ValidationFailed("sql: the query is empty")
    check_unicode("sql", sql)
    size = len(sql.encode())
    if size > max_bytes:
        raise ValidationFailed(f"sql: the query is {size:,} bytes; the limit is {max_bytes:,} bytes")
    return sql


def check_unicode(field: str, text: str) -> None:
    """A lone surrogate cannot be stored as UTF-8 nor sent back in JSON: refused, never echoed."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationFailed(f"{field}: not valid Unicode (it contains a lone surrogate)") from None
