"""The registry's own bookkeeping and ingest, below the API: table ownership across a data-dir upgrade, and native
ingest on a ClickHouse engine with a single pooled client (issue 9)."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from google.protobuf.internal.encoder import _VarintBytes
from sqlmodel import Session, SQLModel, create_engine

import engines.clickhouse_engine as clickhouse_module
from bqlite_app.access.principal import LOCAL
from bqlite_app.db import open_database
from bqlite_app.errors import ServiceUnavailable, TableNotFound
from bqlite_app.jobs.store import JobStore
from bqlite_app.schemas import _ownership as ownership
from bqlite_app.schemas.compiler import ProtoFile, compile_schema
from bqlite_app.schemas.models import (
    EngineTable,
    SchemaDetailPublic,
    SchemaPublic,
    SchemaRecord,
    SchemaTablePublic,
    SchemaVersion,
    TableCreatedPublic,
)
from bqlite_app.schemas.registry import SchemaRegistry
from engines.clickhouse_engine import ClickHouseEngine

EVENT = b"""syntax = "proto3";
package reg.v1;
message Event { int64 id = 1; string name = 2; repeated int32 codes = 3; }
"""


def events_body(count: int) -> bytes:
    cls = compile_schema(ProtoFile("event.proto", EVENT)).message_class("reg.v1.Event")
    out = bytearray()
    for i in range(count):
        payload = cls(id=i, name=f"e{i}", codes=[i, i + 1]).SerializeToString()
        out += _VarintBytes(len(payload)) + payload
    return bytes(out)


# -- ownership after an upgrade ---------------------------------------------------------------------------------


def test_a_data_dir_from_before_ownership_keeps_working(tmp_path, duckdb_engine):
    """Rows of the old ``schema_tables`` become owned tables, except in reserved datasets (the sample tables)."""
    db_path = tmp_path / "old.sqlite"
    old = create_engine(f"sqlite:///{db_path}")
    SQLModel.metadata.create_all(old, tables=[SchemaRecord.__table__, SchemaVersion.__table__,
                                              EngineTable.__table__])
    with Session(old) as session:
        for schema_id, dataset, table in (("sch_mine", "bigquery_lite", "trips"), ("sch_taken", "main", "nyc_taxi")):
            session.add(SchemaRecord(schema_id=schema_id, database_name=dataset, table_name=table, message_type="x"))
            for engine in ("duckdb", "clickhouse"):
                session.add(EngineTable(schema_id=schema_id, engine=engine, table=f"{dataset}.{table}", version=1))
        session.commit()
    old.dispose()
    database = open_database(db_path)
    JobStore(database).close()   # the job store starts first and creates every table of the shared metadata

    for _ in range(2):   # the second start must neither redo nor undo the migration
        registry = SchemaRegistry(database, {"duckdb": duckdb_engine}, max_depth=6, work_dir=tmp_path / "w")
        with Session(registry._db) as session:
            assert ownership.is_owned(session, "duckdb", "bigquery_lite", "trips")
            assert ownership.is_owned(session, "clickhouse", "bigquery_lite", "trips")
            assert not ownership.is_owned(session, "duckdb", "main", "nyc_taxi")
            assert not ownership.is_owned(session, "clickhouse", "main", "nyc_taxi")
    database.close()
    with sqlite3.connect(db_path) as con:
        tables = {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "schema_created_tables" in tables


def test_deleting_a_legacy_schema_in_a_reserved_dataset_keeps_the_sample_table(tmp_path, core):
    duckdb_engine = core.engines["duckdb"]   # the core loads the sample table
    assert duckdb_engine.table_exists("main", "nyc_taxi")
    db_path = tmp_path / "old.sqlite"
    registry = SchemaRegistry(open_database(db_path), {"duckdb": duckdb_engine}, max_depth=6,
                              work_dir=tmp_path / "w")
    with Session(registry._db) as session:   # what a registration before issue 9 could leave behind
        session.add(SchemaRecord(schema_id="sch_legacy", database_name="main", table_name="nyc_taxi",
                                 message_type="x"))
        session.add(EngineTable(schema_id="sch_legacy", engine="duckdb", table="main.nyc_taxi", version=1))
        session.commit()
    message = registry.delete("sch_legacy", user=LOCAL, drop_tables=True)
    assert "kept duckdb:main.nyc_taxi" in message
    assert duckdb_engine.table_exists("main", "nyc_taxi")


def test_ingest_before_the_tables_exist_names_no_route(tmp_path, duckdb_engine):
    """Core error text is for every face (UI, CLI, REST); only the REST face names its route."""
    registry = SchemaRegistry(open_database(tmp_path / "r.sqlite"), {"duckdb": duckdb_engine}, max_depth=6,
                              work_dir=tmp_path / "w")
    schema_id = registry.register(ProtoFile("event.proto", EVENT), user=LOCAL, table_name="events",
                                  database_name=f"reg_{uuid.uuid4().hex[:8]}").record.schema_id
    body = tmp_path / "body.bin"
    body.write_bytes(events_body(2))
    for engines in (None, ["duckdb"]):
        with pytest.raises(TableNotFound, match="create its tables first") as caught:
            registry.ingest(schema_id, body, "delimited", engines, user=LOCAL)
        assert "POST" not in caught.value.detail and "/schemas" not in caught.value.detail


def test_the_registry_hands_out_typed_summaries_details_and_table_results(tmp_path, duckdb_engine):
    """The UI reads these by attribute, and the REST face sends their JSON as it is (docs/api.md, "Schemas")."""
    registry = SchemaRegistry(open_database(tmp_path / "r.sqlite"), {"duckdb": duckdb_engine}, max_depth=6,
                              work_dir=tmp_path / "w")
    dataset = f"reg_{uuid.uuid4().hex[:8]}"
    schema_id = registry.register(ProtoFile("event.proto", EVENT), user=LOCAL, table_name="events",
                                  database_name=dataset).record.schema_id
    try:
        results = registry.create_tables(schema_id, ["duckdb"], user=LOCAL)
        assert isinstance(results["duckdb"], TableCreatedPublic)
        assert (results["duckdb"].created, results["duckdb"].table, results["duckdb"].error) == (
            True, f"{dataset}.events", None)
        assert list(results["duckdb"].model_dump()) == ["created", "table", "ddl", "error"]

        [summary] = [s for s in registry.summaries(user=LOCAL) if s.schema_id == schema_id]
        assert isinstance(summary, SchemaPublic)
        assert (summary.field_count, summary.version, summary.shard_key) == (3, 1, None)
        assert summary.tables == [SchemaTablePublic(engine="duckdb", table=f"{dataset}.events")]
        assert list(summary.model_dump()) == ["schema_id", "table_name", "database_name", "description",
                                              "field_count", "version", "shard_key", "created_at", "updated_at",
                                              "tables"]

        detail = registry.detail(schema_id, user=LOCAL)
        assert isinstance(detail, SchemaDetailPublic) and detail.message_type == "reg.v1.Event"
        assert [(f.name, f.mode, f.fields) for f in detail.fields] == [
            ("id", "REQUIRED", []), ("name", "REQUIRED", []), ("codes", "REPEATED", [])]
        assert [v.version for v in detail.versions] == [1] and detail.versions[0].created_at.endswith("+00:00")
        assert set(detail.ddl) == {"duckdb"} and "CREATE TABLE" in detail.ddl["duckdb"]
        assert detail.model_dump(include=set(SchemaPublic.model_fields)) == summary.model_dump()
    finally:
        registry.delete(schema_id, user=LOCAL, drop_tables=True)


# -- native ingest with one pooled ClickHouse client --------------------------------------------------------------


@pytest.fixture
def single_client_engine(data_dir: Path):
    """A second engine on the session's chdb data path (one path per process, any number of clients on it) whose
    pool holds a single client, as with BQLITE_CLICKHOUSE_CAPACITY=1."""
    engine = ClickHouseEngine.embedded(data_dir / "chdb", capacity=1)
    engine.start()
    yield engine
    engine.close()


@pytest.fixture
def registry(tmp_path, single_client_engine, monkeypatch):
    # Before the fix the insert waited for the pooled client the decode held; a short lease timeout makes such a
    # deadlock fail in seconds instead of 60.
    monkeypatch.setattr(clickhouse_module, "_LEASE_TIMEOUT_S", 3.0)
    database = open_database(tmp_path / "registry.sqlite")
    yield SchemaRegistry(database, {"clickhouse": single_client_engine}, max_depth=6, work_dir=tmp_path / "protos")
    database.close()


def registered(registry: SchemaRegistry) -> str:
    registration = registry.register(ProtoFile("event.proto", EVENT), user=LOCAL, table_name="events",
                                     database_name=f"reg_{uuid.uuid4().hex[:8]}")
    schema_id = registration.record.schema_id
    results = registry.create_tables(schema_id, ["clickhouse"], user=LOCAL)
    assert results["clickhouse"].created, results
    return schema_id


def count_rows(engine: ClickHouseEngine, registry: SchemaRegistry, schema_id: str) -> int:
    record = registry.get(schema_id, user=LOCAL)
    sql = f"SELECT count() AS n FROM {record.database_name}.{record.table_name}"
    return next(iter(engine.execute(sql, query_tag=f"count-{schema_id}"))).to_pylist()[0]["n"]


def test_native_ingest_works_with_a_single_pooled_client(registry, single_client_engine, tmp_path, caplog):
    schema_id = registered(registry)
    body = tmp_path / "body.bin"
    body.write_bytes(events_body(5000))
    with caplog.at_level(logging.INFO, logger="bqlite_app.schemas"):
        result = registry.ingest(schema_id, body, "delimited", user=LOCAL)
    assert result.rows == 5000 and result.engines == {"clickhouse": 5000}
    assert "Python decoder" not in caplog.text   # ClickHouse's own decoder did it
    assert count_rows(single_client_engine, registry, schema_id) == 5000


def test_two_concurrent_native_ingests_both_succeed(registry, single_client_engine, tmp_path):
    schema_ids = [registered(registry) for _ in range(2)]
    bodies = []
    for n, count in enumerate((200_000, 150_000)):
        bodies.append(tmp_path / f"body-{n}.bin")
        bodies[-1].write_bytes(events_body(count))
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda args: registry.ingest(args[0], args[1], "delimited", user=LOCAL),
                                zip(schema_ids, bodies)))
    assert [r.rows for r in results] == [200_000, 150_000]
    assert [count_rows(single_client_engine, registry, s) for s in schema_ids] == [200_000, 150_000]


def test_an_engine_with_every_client_busy_is_a_503_with_retry_after(registry, single_client_engine, tmp_path,
                                                                    monkeypatch):
    schema_id = registered(registry)
    body = tmp_path / "body.bin"
    body.write_bytes(events_body(10))
    monkeypatch.setattr(clickhouse_module, "_LEASE_TIMEOUT_S", 0.2)
    with single_client_engine._lease():   # a long query holds the only pooled client
        with pytest.raises(ServiceUnavailable) as info:
            registry.ingest(schema_id, body, "delimited", user=LOCAL)
    assert (info.value.status, info.value.error_code) == (503, "ENGINE_UNAVAILABLE")
    assert info.value.retry_after and "busy" in info.value.detail
    assert count_rows(single_client_engine, registry, schema_id) == 0
    assert registry.ingest(schema_id, body, "delimited", user=LOCAL).rows == 10   # and it works once the client is free
