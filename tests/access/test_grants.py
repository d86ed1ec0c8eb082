"""Grants on a real SQLite file, and what the engines' parsers say a statement reads and writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import SQLModel

from bqlite_app.access.audit import AuditLog, AuditQuery
from bqlite_app.access.authorize import Authorizer, split_name
from bqlite_app.access.grants import Grants
from bqlite_app.access.models import User
from bqlite_app.access.principal import LOCAL, Principal
from bqlite_app.datasets import dataset_of
from bqlite_app.db import open_database
from bqlite_app.errors import AccessDenied, UserNotFound, ValidationFailed
from bqlite_app.settings import Settings


@pytest.fixture
def grants(tmp_path: Path) -> Grants:
    settings = Settings(data_dir=tmp_path, auth="on", default_grants={"default": "reader", "shared": "writer"})
    database = open_database(tmp_path / "g.sqlite")
    db = database.engine
    SQLModel.metadata.create_all(db)
    from sqlmodel import Session

    with Session(db) as session:
        for user_id, name in (("u_ann", "ann"), ("u_bob", "bob")):
            session.add(User(user_id=user_id, username=name, password_hash="x"))
        session.commit()
    return Grants(db, settings, AuditLog(database))


ANN = Principal("ann", "member", "u_ann")
BOB = Principal("bob", "member", "u_bob")


def test_defaults_owner_and_roles(grants: Grants) -> None:
    grants.give_defaults(ANN.user_id)
    assert grants.grants_of(ANN) == [{"dataset": "default", "role": "reader"}, {"dataset": "shared", "role": "writer"}]
    grants.make_owner(ANN.user_id, "shared")
    grants.give_defaults(ANN.user_id)      # a stronger role is kept
    assert grants.role_on(ANN, "shared") == "owner"
    assert grants.readable_datasets(ANN) == {"default", "shared"}
    assert grants.readable_datasets(LOCAL) is None and grants.role_on(LOCAL, "anything") == "owner"


def test_only_owners_and_admins_change_grants(grants: Grants) -> None:
    grants.make_owner(ANN.user_id, "sales")
    with pytest.raises(AccessDenied, match="needs owner on dataset sales"):
        grants.set_grant(BOB, "sales", "bob", "owner")
    assert grants.set_grant(ANN, "sales", "bob", "reader") == {"dataset": "sales", "username": "bob", "role": "reader"}
    assert grants.list_grants("sales") == {"dataset": "sales", "grants": [
        {"username": "ann", "role": "owner"}, {"username": "bob", "role": "reader"}]}
    grants.set_grant(LOCAL, "sales", "bob", "writer")
    assert grants.role_on(BOB, "sales") == "writer"
    grants.revoke(ANN, "sales", "bob")
    assert grants.role_on(BOB, "sales") is None
    with pytest.raises(UserNotFound):
        grants.revoke(ANN, "sales", "bob")
    with pytest.raises(UserNotFound):
        grants.set_grant(ANN, "sales", "nobody", "reader")
    with pytest.raises(ValidationFailed):
        grants.set_grant(ANN, "sales", "bob", "boss")
    with pytest.raises(ValidationFailed):
        grants.set_grant(ANN, "no good", "bob", "reader")
    events, _ = grants._audit.list(AuditQuery(limit=100))
    assert [e.action for e in reversed(events)] == ["access.denied", "grant.set", "grant.set", "grant.revoke"]
    grants.forget_user(ANN.user_id)
    assert grants.grants_of(ANN) == []


def test_datasets_listing(grants: Grants) -> None:
    from engines.base import CatalogTable

    grants.set_grant(LOCAL, "sales", "ann", "reader")
    tables = [("duckdb", CatalogTable("main", "taxi", [])), ("clickhouse", CatalogTable("default", "taxi", [])),
              ("duckdb", CatalogTable("sales", "orders", [])), ("clickhouse", CatalogTable("hidden", "x", []))]
    assert grants.datasets(ANN, tables) == [{"name": "sales", "tables": 1, "your_role": "reader"}]
    assert [d["name"] for d in grants.datasets(LOCAL, tables)] == ["default", "hidden", "sales"]
    assert grants.datasets(LOCAL, tables)[0]["tables"] == 2
    empty = grants.datasets(LOCAL, tables, [("duckdb", "fresh"), ("clickhouse", "fresh")])
    assert {"name": "fresh", "tables": 0, "your_role": "owner"} in empty


def test_a_deleted_dataset_takes_its_grants_along(grants: Grants) -> None:
    grants.make_owner(ANN.user_id, "scratch")
    grants.set_grant(ANN, "scratch", "bob", "reader")
    grants.forget_dataset("scratch")
    assert grants.role_on(ANN, "scratch") is None and grants.role_on(BOB, "scratch") is None
    assert not grants.dataset_exists("scratch")    # created again, it starts with no owners


@pytest.mark.parametrize(("name", "engine", "expected"), [
    ("t", "duckdb", (None, "t")), ("s.t", "duckdb", ("s", "t")), ('"my.s"."t"', "duckdb", ("my.s", "t")),
    ("cat.s.t", "duckdb", ("s", "t")), ("db.t", "clickhouse", ("db", "t")), ("`a b`.t", "clickhouse", ("a b", "t")),
])
def test_names_resolve_to_datasets(name: str, engine: str, expected: tuple[str | None, str]) -> None:
    assert split_name(name, engine, None) == expected
    database = expected[0]
    assert dataset_of(engine, database) == (database or "default")
    assert dataset_of("duckdb", "main") == dataset_of("clickhouse", "default") == "default"


@pytest.mark.parametrize(("sql", "reads", "operation", "targets"), [
    ("WITH c AS (SELECT * FROM s1.a) SELECT * FROM c JOIN s2.b ON true WHERE 1 IN (SELECT 1 FROM s3.c)",
     {"s1.a", "s2.b", "s3.c"}, "", ()),
    ("INSERT INTO s1.a SELECT * FROM s2.b", {"s2.b"}, "insert", ("s1.a",)),
    ("UPDATE s1.a SET x = 1 FROM s2.b", {"s2.b"}, "update", ("s1.a",)),
    ("DROP TABLE IF EXISTS s1.a", set(), "drop", ("s1.a",)),
    ("TRUNCATE s1.a", set(), "truncate", ("s1.a",)),
    ("ALTER TABLE s1.a RENAME TO b", set(), "alter", ("s1.a",)),
    ("CREATE OR REPLACE VIEW s1.v AS SELECT * FROM s2.b", {"s2.b"}, "create", ("s1.v",)),
    ("CREATE SCHEMA IF NOT EXISTS s9", set(), "create_database", ("s9",)),
    ("SELECT * FROM range(3)", set(), "", ()),
    ("WITH c AS (SELECT * FROM s2.b) INSERT INTO s1.a SELECT * FROM c", {"s2.b"}, "insert", ("s1.a",)),
])
def test_duckdb_statements_name_what_they_touch(duckdb_engine, sql: str, reads: set[str], operation: str,
                                                targets: tuple[str, ...]) -> None:
    [statement] = duckdb_engine.parse(sql)
    assert reads <= set(statement.read_tables)
    assert "c" not in statement.read_tables   # a CTE is no table
    assert (statement.operation, statement.targets) == (operation, targets)


def test_clickhouse_statements_name_what_they_touch(clickhouse_engine) -> None:
    cases = {
        "WITH c AS (SELECT * FROM s1.a) SELECT * FROM c JOIN s2.b ON 1": ({"s1.a", "s2.b"}, "", ()),
        "INSERT INTO s1.a SELECT * FROM s2.b": ({"s2.b"}, "insert", ("s1.a",)),
        "ALTER TABLE s1.a DELETE WHERE 1": (set(), "delete", ("s1.a",)),
        "ALTER TABLE s1.a ADD COLUMN z Int8": (set(), "alter", ("s1.a",)),
        "RENAME TABLE s1.a TO s2.b": (set(), "rename", ("s1.a", "s2.b")),
        "DROP DATABASE IF EXISTS s9": (set(), "drop_database", ("s9",)),
        "TRUNCATE TABLE a": (set(), "truncate", ("a",)),
        # The root's trailing Identifier is the output format, never a database.
        "DROP TABLE a": (set(), "drop", ("a",)),
        "DROP TABLE s1.a": (set(), "drop", ("s1.a",)),
        "CREATE TABLE a (x Int8) ENGINE = Memory": (set(), "create", ("a",)),
        "INSERT INTO a VALUES (1)": (set(), "insert", ("a",)),
        "INSERT INTO TABLE s1.a (x) VALUES (1)": (set(), "insert", ("s1.a",)),
        "CREATE DATABASE IF NOT EXISTS s9": (set(), "create_database", ("s9",)),
        "DELETE FROM s1.a WHERE 1": (set(), "delete", ("s1.a",)),
    }
    for sql, (reads, operation, targets) in cases.items():
        [statement] = clickhouse_engine.parse(sql)
        # (these tables do not exist, so a CTE name may count as a table too: that can only refuse more)
        assert reads <= set(statement.read_tables), sql
        assert (statement.operation, statement.targets) == (operation, targets), sql


def test_a_cte_name_does_not_hide_a_table_outside_its_scope(clickhouse_engine, duckdb_engine) -> None:
    list(clickhouse_engine.execute("CREATE TABLE IF NOT EXISTS default.acc_t (a Int32) ENGINE = Memory",
                                   query_tag="acc-setup"))
    list(duckdb_engine.execute("CREATE TABLE IF NOT EXISTS main.acc_t (a INT)", query_tag="acc-setup"))
    sql = "SELECT * FROM acc_t, (WITH acc_t AS (SELECT 1 AS a) SELECT * FROM acc_t) AS z"
    assert "default.acc_t" in clickhouse_engine.parse(sql)[0].read_tables
    assert "acc_t" in duckdb_engine.parse(sql)[0].read_tables
    # ...while a CTE alone reads nothing.
    assert clickhouse_engine.parse("WITH acc_t AS (SELECT 1 AS a) SELECT * FROM acc_t")[0].read_tables == ()


def test_authorizer_needs(grants: Grants, duckdb_engine) -> None:
    authorizer = Authorizer(grants, grants._audit)
    needs = authorizer.needs(duckdb_engine, duckdb_engine.parse("INSERT INTO s1.a SELECT * FROM s2.b"))
    assert [(n.dataset, n.role) for n in needs] == [("s2", "reader"), ("s1", "writer")]
    with pytest.raises(AccessDenied, match="needs reader on dataset s2"):
        authorizer.check_sql(ANN, duckdb_engine, duckdb_engine.parse("INSERT INTO s1.a SELECT * FROM s2.b"))
    authorizer.check_sql(LOCAL, duckdb_engine, duckdb_engine.parse("DROP SCHEMA s1"))   # admins: anything
    with pytest.raises(AccessDenied, match="admin role"):
        authorizer.check_sql(ANN, duckdb_engine, duckdb_engine.parse("DROP SCHEMA IF EXISTS s1"))


def test_clickhouse_statements_that_reach_tables_by_name(grants: Grants, clickhouse_engine) -> None:
    authorizer = Authorizer(grants, grants._audit)
    grants.set_grant(LOCAL, "s1", "ann", "owner")
    grants.set_grant(LOCAL, "s2", "ann", "reader")
    refused = {
        "SELECT * FROM merge('s2', '.*')": "admin role",
        "CREATE TABLE s1.m (a Int32) ENGINE = Merge('s3', '.*')": "admin role",
        "CREATE TABLE s1.b (a Int32) ENGINE = Buffer('s3', 't', 1, 10, 100, 10, 100, 10, 100)": "admin role",
        "CREATE MATERIALIZED VIEW s1.mv TO s2.t AS SELECT * FROM s1.src": "needs writer on dataset s2",
    }
    for sql, reason in refused.items():
        with pytest.raises(AccessDenied, match=reason):
            authorizer.check_sql(ANN, clickhouse_engine, clickhouse_engine.parse(sql))
    authorizer.check_sql(ANN, clickhouse_engine, clickhouse_engine.parse("SELECT * FROM s2.t JOIN s1.u USING (a)"))
