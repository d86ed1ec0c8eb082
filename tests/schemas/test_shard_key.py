"""A schema's ``shard_key``: checked at registration, stored (old data dirs gain the column), shown, and handed to
``create_table`` (docs/clickhouse.md)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from bqlite_app.access.principal import LOCAL
from bqlite_app.db import open_database
from bqlite_app.schemas.compiler import ProtoFile
from bqlite_app.schemas.registry import SchemaRegistry
from engines.duckdb_engine import DuckDBEngine
from tests.api.test_queries import assert_error
from tests.api.test_schemas import register, unique_table

SHARDED = b"""
syntax = "proto3";
package shard.v1;
message Inner { int32 a = 1; }
message Order {
  string customer = 1;
  int64 id = 2;
  repeated string tags = 3;
  map<string, int32> counts = 4;
  Inner inner = 5;
  optional int32 maybe = 6;
}
"""


def register_order(client, **fields: Any):
    return register(client, SHARDED, message_type="shard.v1.Order", **fields)


@pytest.mark.parametrize("key", ["customer", "id", "maybe"])
def test_a_scalar_field_is_stored_and_shown(client, key: str):
    answer = register_order(client, shard_key=key)
    assert answer.status_code == 201, answer.text
    assert answer.json()["shard_key"] == key
    schema_id = answer.json()["schema_id"]
    detail = client.get(f"/schemas/{schema_id}").json()
    assert detail["shard_key"] == key
    listed = {s["schema_id"]: s for s in client.get("/schemas").json()["schemas"]}
    assert listed[schema_id]["shard_key"] == key


def test_without_a_key_there_is_none(client):
    answer = register_order(client)
    assert answer.json()["shard_key"] is None
    assert client.get(f"/schemas/{answer.json()['schema_id']}").json()["shard_key"] is None


@pytest.mark.parametrize(("key", "says"), [
    ("nope", "has no field 'nope'; its top-level scalar fields are customer, id, maybe"),
    ("tags", "'tags' is a repeated or map field"),
    ("counts", "'counts' is a repeated or map field"),
    ("inner", "'inner' is a message field"),
    ("a", "has no field 'a'"),                     # nested fields are not top-level
])
def test_anything_but_a_top_level_scalar_is_refused(client, key: str, says: str):
    table = unique_table()
    body = assert_error(register_order(client, table=table, shard_key=key), 422, "VALIDATION_FAILED")
    assert says in body["detail"]
    assert all(s["table_name"] != table for s in client.get("/schemas").json()["schemas"])   # nothing registered


def test_re_registering_keeps_the_key_or_changes_it(client):
    table = unique_table()
    schema_id = register_order(client, table=table, shard_key="id").json()["schema_id"]
    assert register_order(client, table=table).json()["shard_key"] == "id"                # same content, no key
    again = register_order(client, table=table, shard_key="customer")
    assert again.status_code == 200 and again.json()["shard_key"] == "customer"           # same version, new key
    assert client.get(f"/schemas/{schema_id}").json()["shard_key"] == "customer"


class _Recording:
    """Wraps an engine and records the ``shard_key`` each DDL call receives."""

    def __init__(self, engine: DuckDBEngine) -> None:
        self._engine = engine
        self.keys: list[tuple[str, str | None]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def render_ddl(self, *args: Any, shard_key: str | None = None, **kwargs: Any) -> str:
        self.keys.append(("render_ddl", shard_key))
        return self._engine.render_ddl(*args, shard_key=shard_key, **kwargs)

    def create_table(self, *args: Any, shard_key: str | None = None, **kwargs: Any) -> str:
        self.keys.append(("create_table", shard_key))
        return self._engine.create_table(*args, shard_key=shard_key, **kwargs)


def test_the_key_reaches_create_table(tmp_path, duckdb_engine):
    recording = _Recording(duckdb_engine)
    registry = SchemaRegistry(open_database(tmp_path / "r.sqlite"), {"duckdb": recording},  # type: ignore[dict-item]
                              max_depth=6, work_dir=tmp_path / "w")
    record = registry.register(ProtoFile("o.proto", SHARDED), user=LOCAL, table_name=unique_table(),
                               database_name="shard_key_test", message_type="shard.v1.Order",
                               shard_key="customer").record
    results = registry.create_tables(record.schema_id, ["duckdb"], user=LOCAL)
    assert results["duckdb"].created, results
    assert ("create_table", "customer") in recording.keys and ("render_ddl", "customer") in recording.keys


def test_a_data_dir_from_before_shard_keys_gains_the_column(tmp_path, duckdb_engine):
    db_path = tmp_path / "old.sqlite"
    with sqlite3.connect(db_path) as con:       # the schemas table as it was before issue 12
        con.execute("CREATE TABLE schemas (schema_id VARCHAR PRIMARY KEY, database_name VARCHAR NOT NULL, "
                    "table_name VARCHAR NOT NULL, message_type VARCHAR NOT NULL, description VARCHAR NOT NULL, "
                    "version INTEGER NOT NULL, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL)")
        con.execute("INSERT INTO schemas VALUES ('sch_old', 'db', 't', 'x', '', 1, '2024-01-01 00:00:00', "
                    "'2024-01-01 00:00:00')")
    for _ in range(2):      # a second start finds the column and leaves it
        database = open_database(db_path)
        SchemaRegistry(database, {"duckdb": duckdb_engine}, max_depth=6, work_dir=tmp_path / "w")
        database.close()
    with sqlite3.connect(db_path) as con:
        assert con.execute("SELECT shard_key FROM schemas WHERE schema_id = 'sch_old'").fetchone() == (None,)
