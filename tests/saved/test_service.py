"""Saved queries in the core: owners, sharing, search and the rules on names and text (real SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, SQLModel, select

from bqlite_app.access.audit import AuditLog
from bqlite_app.access.models import AuditEvent, User
from bqlite_app.access.principal import LOCAL, Principal
from bqlite_app.db import Database, open_database
from bqlite_app.errors import AccessDenied, EngineNotAvailable, ValidationConflict, ValidationFailed
from bqlite_app.saved import SavedQueries, SavedQueryNotFound
from bqlite_app.saved.models import MAX_NAME_CHARS

ALICE = Principal(username="alice", role="member", user_id="usr_alice")
BOB = Principal(username="bob", role="member", user_id="usr_bob")
CAROL = Principal(username="carol", role="member", user_id="usr_carol")
ADMIN = Principal(username="root", role="admin", user_id="usr_root")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(tmp_path / "saved.sqlite")
    SQLModel.metadata.create_all(database.engine)
    with Session(database.engine) as session:
        for user in (ALICE, BOB, CAROL, ADMIN):
            session.add(User(user_id=user.user_id, username=user.username, password_hash="x", role=user.role))
        session.commit()
    yield database
    database.close()


@pytest.fixture
def saved(db: Database) -> Iterator[SavedQueries]:
    audit = AuditLog(db)
    yield SavedQueries(db.engine, audit, engines=["duckdb", "clickhouse"], max_sql_bytes=1000)
    audit.close()


def test_save_read_update_delete(saved: SavedQueries, db: Database):
    created = saved.create(user=ALICE, name="Daily trips", sql="SELECT 1", description="per day")
    assert created.id.startswith("sq_") and created.owner == "alice" and created.can_edit
    assert created.sharing == "private" and created.created_at == created.updated_at
    assert created.created_at.endswith("+00:00")
    assert saved.get(created.id, user=ALICE).sql == "SELECT 1"
    renamed = saved.update(created.id, user=ALICE, name="Trips per day", sql="SELECT 2", engine="clickhouse")
    assert (renamed.name, renamed.sql, renamed.engine) == ("Trips per day", "SELECT 2", "clickhouse")
    assert renamed.updated_at > created.updated_at
    saved.delete(created.id, user=ALICE)
    with pytest.raises(SavedQueryNotFound):
        saved.get(created.id, user=ALICE)
    with Session(db.engine) as session:
        actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]
        assert actions == ["saved_query.create", "saved_query.update", "saved_query.delete"]
        assert all("SELECT" not in str(e.detail) for e in session.exec(select(AuditEvent)).all())


def test_private_queries_are_invisible_to_others_but_admins(saved: SavedQueries):
    mine = saved.create(user=ALICE, name="secret", sql="SELECT 1")
    with pytest.raises(SavedQueryNotFound) as missing:
        saved.get(mine.id, user=BOB)
    with pytest.raises(SavedQueryNotFound) as unknown:
        saved.get("sq_0000000000000000", user=BOB)
    assert missing.value.detail.replace(mine.id, "X") == unknown.value.detail.replace("sq_0000000000000000", "X")
    for action in (lambda: saved.update(mine.id, user=BOB, name="x"), lambda: saved.delete(mine.id, user=BOB)):
        with pytest.raises(SavedQueryNotFound):
            action()
    assert saved.list(user=BOB)[1] == 0
    assert saved.get(mine.id, user=ADMIN).sql == "SELECT 1"
    assert not saved.get(mine.id, user=ADMIN).can_edit
    with pytest.raises(AccessDenied):
        saved.update(mine.id, user=ADMIN, sql="SELECT 2")


def test_sharing_with_chosen_users_is_read_only(saved: SavedQueries):
    shared = saved.create(user=ALICE, name="team report", sql="SELECT 1", shared_with=["bob", "alice"])
    assert shared.sharing == "users" and shared.shared_with == ["bob"]   # the owner needs no share
    seen = saved.get(shared.id, user=BOB)
    assert seen.sql == "SELECT 1" and not seen.can_edit and seen.shared_with == []
    with pytest.raises(SavedQueryNotFound):
        saved.get(shared.id, user=CAROL)
    with pytest.raises(AccessDenied):
        saved.update(shared.id, user=BOB, sql="DROP TABLE x")
    with pytest.raises(AccessDenied):
        saved.delete(shared.id, user=BOB)
    assert [s.name for s in saved.list(user=BOB, scope="shared")[0]] == ["team report"]
    assert saved.list(user=BOB, scope="mine")[1] == 0
    # Everyone, then private again: the chosen users are forgotten.
    assert saved.update(shared.id, user=ALICE, sharing="everyone").shared_with == []
    assert saved.get(shared.id, user=CAROL).name == "team report"
    saved.update(shared.id, user=ALICE, sharing="private")
    with pytest.raises(SavedQueryNotFound):
        saved.get(shared.id, user=BOB)
    saved.update(shared.id, user=ALICE, shared_with=["carol"])
    assert saved.get(shared.id, user=CAROL).sharing == "users"
    with pytest.raises(SavedQueryNotFound):
        saved.get(shared.id, user=BOB)


def test_sharing_rules(saved: SavedQueries):
    with pytest.raises(ValidationFailed, match="no such user: 'mallory'"):
        saved.create(user=ALICE, name="q", sql="SELECT 1", shared_with=["bob", "mallory"])
    with pytest.raises(ValidationFailed, match="only with sharing `users`"):
        saved.create(user=ALICE, name="q", sql="SELECT 1", sharing="everyone", shared_with=["bob"])
    with pytest.raises(ValidationFailed, match="sharing: one of"):
        saved.create(user=ALICE, name="q", sql="SELECT 1", sharing="world")
    with pytest.raises(ValidationFailed, match="at most 100 users"):
        saved.create(user=ALICE, name="q", sql="SELECT 1", shared_with=[f"u{i}" for i in range(101)])
    assert saved.list(user=ALICE)[1] == 0          # nothing half-saved


def test_names_are_unique_per_owner(saved: SavedQueries):
    first = saved.create(user=ALICE, name="report", sql="SELECT 1")
    with pytest.raises(ValidationConflict, match="already have"):
        saved.create(user=ALICE, name="report", sql="SELECT 2")
    other = saved.create(user=BOB, name="report", sql="SELECT 3", sharing="everyone")
    second = saved.create(user=ALICE, name="report 2", sql="SELECT 4")
    with pytest.raises(ValidationConflict):
        saved.update(second.id, user=ALICE, name="report")
    assert saved.update(first.id, user=ALICE, name="report").name == "report"     # its own name is fine
    names = [(s.owner, s.name) for s in saved.list(user=ALICE, name="report")[0]]
    assert names == [("alice", "report"), ("bob", "report")] and other.id


@pytest.mark.parametrize("name", ["", " lead", "trail ", "a/b", "tab\there", "new\nline", "<script>", "\ud800",
                                  "x" * (MAX_NAME_CHARS + 1), "-dash first", "semi;colon;" + "\x00"])
def test_hostile_names_are_refused(saved: SavedQueries, name: str):
    with pytest.raises(ValidationFailed, match="name: "):
        saved.create(user=ALICE, name=name, sql="SELECT 1")


@pytest.mark.parametrize("name", ["Daily trips (v2)", "Über-Report", "日次レポート", "_draft", "x" * MAX_NAME_CHARS,
                                  "a.b, c: d"])
def test_names_of_any_script_are_kept(saved: SavedQueries, name: str):
    assert saved.get(saved.create(user=ALICE, name=name, sql="SELECT 1").id, user=ALICE).name == name


def test_sql_description_and_engine_limits(saved: SavedQueries):
    with pytest.raises(ValidationFailed, match="the limit is 1,000 bytes"):
        saved.create(user=ALICE, name="big", sql="SELECT '" + "é" * 500 + "'")
    with pytest.raises(ValidationFailed, match="empty"):
        saved.create(user=ALICE, name="blank", sql="  \n ")
    with pytest.raises(ValidationFailed, match="lone surrogate"):
        saved.create(user=ALICE, name="bad", sql="SELECT '\udc00'")
    with pytest.raises(ValidationFailed, match="description: control"):
        saved.create(user=ALICE, name="ctl", sql="SELECT 1", description="bell\x07")
    with pytest.raises(EngineNotAvailable):
        saved.create(user=ALICE, name="eng", sql="SELECT 1", engine="postgres")
    created = saved.create(user=ALICE, name="ok", sql="SELECT 1", description="line one\n\tline two")
    with pytest.raises(ValidationFailed):
        saved.update(created.id, user=ALICE, sql="x" * 1001)
    assert saved.get(created.id, user=ALICE).sql == "SELECT 1"


@pytest.mark.parametrize("bad_id", ["", "sq_", "../../etc/passwd", "sq_0000000000000000' OR 1=1 --", "x" * 10_000,
                                    "sq_ZZZZZZZZZZZZZZZZ", "\ud800"])
def test_bad_ids_are_not_found_and_never_echoed(saved: SavedQueries, bad_id: str):
    with pytest.raises(SavedQueryNotFound) as error:
        saved.get(bad_id, user=ALICE)
    assert bad_id not in error.value.detail or bad_id == ""
    assert len(error.value.detail) < 100


def test_search_covers_name_description_and_sql_and_escapes_wildcards(saved: SavedQueries):
    saved.create(user=ALICE, name="Fares", sql="SELECT avg(fare) FROM nyc_taxi")
    saved.create(user=ALICE, name="Tips", sql="SELECT 1", description="TIP share per borough")
    saved.create(user=ALICE, name="100% done", sql="SELECT 2")
    saved.create(user=BOB, name="bob's fares", sql="SELECT fare")          # private: not Alice's to find
    assert [s.name for s in saved.list(user=ALICE, q="FARE")[0]] == ["Fares"]
    assert [s.name for s in saved.list(user=ALICE, q="borough")[0]] == ["Tips"]
    assert [s.name for s in saved.list(user=ALICE, q="%")[0]] == ["100% done"]
    assert saved.list(user=ALICE, q="fare_")[1] == 0           # `_` is no wildcard: "fare)" does not match
    assert saved.list(user=ADMIN, scope="all", q="fare")[1] == 2
    with pytest.raises(AccessDenied):
        saved.list(user=ALICE, scope="all")
    page, total = saved.list(user=ALICE, limit=2, offset=1)
    assert total == 3 and [s.name for s in page] == ["Fares", "Tips"]


def test_auth_off_local_user_owns_its_queries(saved: SavedQueries):
    created = saved.create(user=LOCAL, name="mine", sql="SELECT 1")
    assert created.owner == "local" and created.can_edit
    assert saved.list(user=LOCAL)[1] == 1
