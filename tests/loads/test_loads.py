"""Load jobs end to end on the real engines: every format into both engines, dispositions, bad records, all or
nothing, cancel, grants and audit. Each test uses its own tables in the ``loads_c`` dataset."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from decimal import Decimal
from pathlib import Path

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bqlite_app.access.audit import AuditQuery
from bqlite_app.access.principal import LOCAL, Principal
from bqlite_app.datasets import engine_database
from bqlite_app.errors import AccessDenied, DatasetReserved, ValidationFailed
from bqlite_app.jobs.models import Job, JobStatus
from bqlite_app.jobs.work import WorkContext
from bqlite_app.loads import (
    DatasetNotFound,
    DestinationNotFound,
    LoadReport,
    LoadService,
    LoadSpec,
    TableNotEmpty,
    TooManyBadRecords,
)
from engines.errors import QueryCancelled
from engines.types import Column, ListOf, Scalar, Struct, Timestamp
from engines.types import Decimal as DecimalType

from .test_readers import AVRO_SCHEMA, avro_rows

UTC = dt.UTC
DATASET = "loads_c"
ENGINES = ["duckdb", "clickhouse"]
PEOPLE = (Column("id", Scalar("int64")), Column("name", Scalar("string")), Column("score", Scalar("float64")),
          Column("active", Scalar("bool")), Column("born", Scalar("date")), Column("seen", Timestamp()),
          Column("price", DecimalType(38, 9)))


@pytest.fixture(scope="module")
def loads(core) -> LoadService:
    for engine in core.engines.values():
        create = "CREATE SCHEMA IF NOT EXISTS" if engine.name == "duckdb" else "CREATE DATABASE IF NOT EXISTS"
        list(engine.execute(f"{create} {DATASET}", query_tag=f"loads-setup-{uuid.uuid4().hex[:6]}"))
    return LoadService(engines=core.engines, scheduler=core.scheduler, grants=core.grants, audit=core.audit,
                       batch_rows=1000, block_bytes=64 << 10)


def table_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def run(core, loads: LoadService, spec: LoadSpec, path: Path, user: Principal = LOCAL) -> Job:
    job = loads.submit(spec, path, user=user)
    assert core.scheduler.wait(job.job_id, 120)
    return core.queries.get(job.job_id, user=LOCAL)


def rows(core, engine: str, table: str, order: str = "id") -> list[dict]:
    batches = list(core.engines[engine].execute(f"SELECT * FROM {DATASET}.{table} ORDER BY {order}",
                                                query_tag=f"loads-read-{uuid.uuid4().hex[:6]}"))
    return pa.Table.from_batches(batches).to_pylist()


def count(core, engine: str, table: str) -> int:
    batches = list(core.engines[engine].execute(f"SELECT count(*) AS n FROM {DATASET}.{table}",
                                                query_tag=f"loads-count-{uuid.uuid4().hex[:6]}"))
    return int(batches[-1].column(0)[0].as_py())


def staging_tables(core, engine: str) -> list[str]:
    return [t.name for t in core.engines[engine].catalog() if t.name.startswith("__bqlite_load_")]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{uuid.uuid4().hex[:6]}-{name}"
    path.write_text(text)
    return path


PEOPLE_CSV = ("id,name,score,active,born,seen,price\n"
              "1,\"Doe, Ann\",1.5,true,1990-01-02,2024-01-02 03:04:05,12.5\n"
              "2,Bob,,no,1991-02-03,2024-01-02T03:04:05+02:00,0.000000001\n")


@pytest.mark.parametrize("engine", ENGINES)
def test_csv_with_declared_schema(core, loads: LoadService, tmp_path: Path, engine: str) -> None:
    table = table_name("csv")
    path = write(tmp_path, "people.csv", PEOPLE_CSV)
    spec = LoadSpec(DATASET, table, engine=engine, schema=PEOPLE, skip_leading_rows=1)
    job = run(core, loads, spec, path)
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.kind == "load" and job.rows_returned == 2 and job.bytes_processed == len(PEOPLE_CSV)
    assert job.sql.startswith(f"LOAD DATA INTO {DATASET}.{table} FROM FILES (format = 'CSV'")
    assert not path.exists()        # the job owned its source file
    got = rows(core, engine, table)
    assert got[0] == {"id": 1, "name": "Doe, Ann", "score": 1.5, "active": True, "born": dt.date(1990, 1, 2),
                      "seen": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=got[0]["seen"].tzinfo),
                      "price": Decimal("12.500000000")}
    assert got[0]["seen"].utcoffset() == dt.timedelta(0)
    assert got[1]["score"] is None and got[1]["active"] is False and got[1]["price"] == Decimal("1E-9")
    assert got[1]["seen"].astimezone(UTC) == dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)
    summary = core.queries.page(job, offset=0, limit=1, user=LOCAL).table.to_pylist()
    assert summary == [{"destination": f"{DATASET}.{table}", "output_rows": 2, "input_bytes": len(PEOPLE_CSV),
                        "bad_records": 0, "errors": []}]
    report = loads.report(job.job_id)
    assert report is not None and report.output_rows == 2 and report.error is None


@pytest.mark.parametrize("engine", ENGINES)
def test_ndjson_autodetect_nested_records_and_arrays(core, loads: LoadService, tmp_path: Path, engine: str) -> None:
    table = table_name("json")
    lines = [
        {"id": 1, "tags": ["a", "b"], "owner": {"name": "ann", "langs": [{"code": "en", "level": 3}]},
         "at": "2024-01-02T03:04:05Z"},
        {"id": 2, "tags": [], "owner": {"name": "bob", "langs": []}, "at": None},
    ]
    path = write(tmp_path, "nested.json", "".join(json.dumps(x) + "\n" for x in lines))
    spec = LoadSpec(DATASET, table, engine=engine, source_format="NEWLINE_DELIMITED_JSON", autodetect=True)
    job = run(core, loads, spec, path)
    assert job.status == JobStatus.COMPLETED, job.error
    got = rows(core, engine, table)
    assert got[0]["tags"] == ["a", "b"] and got[1]["tags"] == []
    assert got[0]["owner"] == {"name": "ann", "langs": [{"code": "en", "level": 3}]}
    assert got[1]["owner"] == {"name": "bob", "langs": []}
    assert got[0]["at"].astimezone(UTC) == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    # A second file appends through the table's own columns.
    more = write(tmp_path, "more.json", json.dumps({"id": 3, "tags": ["z"], "owner": {"name": "cy"}}) + "\n")
    append = LoadSpec(DATASET, table, engine=engine, source_format="NEWLINE_DELIMITED_JSON")
    assert run(core, loads, append, more).status == JobStatus.COMPLETED
    assert [r["owner"]["name"] for r in rows(core, engine, table)] == ["ann", "bob", "cy"]


@pytest.mark.parametrize("engine", ENGINES)
def test_parquet(core, loads: LoadService, tmp_path: Path, engine: str) -> None:
    table = table_name("pq")
    path = tmp_path / f"{table}.parquet"
    pq.write_table(pa.table({
        "id": pa.array([1, 2], pa.int32()),
        "price": pa.array([Decimal("1.50"), None], pa.decimal128(10, 2)),
        "at": pa.array([dt.datetime(2024, 1, 1, 12, tzinfo=UTC), None], pa.timestamp("ms", tz="UTC")),
        "tags": pa.array([["a"], []], pa.list_(pa.string())),
        "point": pa.array([{"x": 1.0, "y": 2.0}, None], pa.struct([("x", pa.float64()), ("y", pa.float64())])),
    }), path)
    job = run(core, loads, LoadSpec(DATASET, table, engine=engine, source_format="PARQUET"), path)
    assert job.status == JobStatus.COMPLETED, job.error
    got = rows(core, engine, table)
    assert got[0]["id"] == 1 and got[0]["price"] == Decimal("1.50") and got[0]["tags"] == ["a"]
    assert got[0]["at"].astimezone(UTC) == dt.datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert got[0]["point"] == {"x": 1.0, "y": 2.0} and got[1]["tags"] == []


@pytest.mark.parametrize("engine", ENGINES)
def test_avro(core, loads: LoadService, tmp_path: Path, engine: str) -> None:
    table = table_name("avro")
    path = tmp_path / f"{table}.avro"
    with path.open("wb") as out:
        fastavro.writer(out, fastavro.parse_schema(AVRO_SCHEMA), avro_rows(2500))
    job = run(core, loads, LoadSpec(DATASET, table, engine=engine, source_format="AVRO"), path)
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.rows_returned == 2500 and count(core, engine, table) == 2500
    got = rows(core, engine, table)[2]
    assert got["id"] == 2 and got["name"] == "n2" and got["amount"] == Decimal("12.34")
    assert got["day"] == dt.date(2024, 1, 2) and got["tags"] == ["a", "b"]
    assert got["where"] == {"city": "Paris", "kind": "WORK"}
    assert got["at"].astimezone(UTC) == dt.datetime(2024, 1, 1, 0, 0, 2, tzinfo=UTC)


@pytest.mark.parametrize("engine", ENGINES)
def test_bad_records_within_and_beyond_the_limit(core, loads: LoadService, tmp_path: Path, engine: str) -> None:
    table = table_name("bad")
    text = "id,name\n1,a\nx,b\n3,c\ny,d\n5,e\n"
    columns = (Column("id", Scalar("int64")), Column("name", Scalar("string")))
    too_strict = LoadSpec(DATASET, table, engine=engine, schema=columns, skip_leading_rows=1, max_bad_records=1)
    job = run(core, loads, too_strict, write(tmp_path, "bad.csv", text))
    assert job.status == JobStatus.FAILED
    assert "too many bad records" in job.error and "row 3: could not parse 'x' as INT64 for field id" in job.error
    assert isinstance(loads.report(job.job_id).error, TooManyBadRecords)
    assert not core.engines[engine].table_exists(DATASET, table)      # nothing was created

    enough = LoadSpec(DATASET, table, engine=engine, schema=columns, skip_leading_rows=1, max_bad_records=2)
    job = run(core, loads, enough, write(tmp_path, "bad.csv", text))
    assert job.status == JobStatus.COMPLETED, job.error
    assert [r["id"] for r in rows(core, engine, table)] == [1, 3, 5]
    report = loads.report(job.job_id)
    assert report.bad_records == 2 and [p.location for p in report.problems] == ["row 3", "row 5"]
    summary = core.queries.page(job, offset=0, limit=1, user=LOCAL).table.to_pylist()[0]
    assert summary["bad_records"] == 2 and summary["errors"][0]["location"] == "row 3"


@pytest.mark.parametrize("engine", ENGINES)
def test_jagged_rows(core, loads: LoadService, tmp_path: Path, engine: str) -> None:
    table = table_name("jag")
    columns = (Column("id", Scalar("int64")), Column("a", Scalar("string")), Column("b", Scalar("string")))
    spec = LoadSpec(DATASET, table, engine=engine, schema=columns, allow_jagged_rows=True)
    job = run(core, loads, spec, write(tmp_path, "j.csv", "1,x,y\n2,x\n3\n"))
    assert job.status == JobStatus.COMPLETED, job.error
    assert rows(core, engine, table) == [{"id": 1, "a": "x", "b": "y"}, {"id": 2, "a": "x", "b": None},
                                         {"id": 3, "a": None, "b": None}]
    strict = LoadSpec(DATASET, table, engine=engine, schema=columns)
    job = run(core, loads, strict, write(tmp_path, "j.csv", "4,x,y\n5,x\n"))
    assert job.status == JobStatus.FAILED and "line 2: expected 3 fields, found 2" in job.error
    assert count(core, engine, table) == 3


@pytest.mark.parametrize("engine", ENGINES)
def test_write_truncate_replaces_and_a_failed_one_leaves_the_table(core, loads: LoadService, tmp_path: Path,
                                                                   engine: str) -> None:
    table = table_name("trunc")
    columns = (Column("id", Scalar("int64")), Column("name", Scalar("string")))
    first = LoadSpec(DATASET, table, engine=engine, schema=columns)
    assert run(core, loads, first, write(tmp_path, "a.csv", "1,a\n2,b\n")).status == JobStatus.COMPLETED

    # 50,000 good rows pass through several blocks and batches before the bad one at the end fails the load.
    good = "".join(f"{i},n{i}\n" for i in range(10, 50_010))
    truncate = LoadSpec(DATASET, table, engine=engine, write_disposition="WRITE_TRUNCATE")
    job = run(core, loads, truncate, write(tmp_path, "b.csv", good + "oops,z\n"))
    assert job.status == JobStatus.FAILED and "could not parse 'oops'" in job.error
    assert rows(core, engine, table) == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    assert staging_tables(core, engine) == []

    job = run(core, loads, truncate, write(tmp_path, "c.csv", good))
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.sql.startswith(f"LOAD DATA OVERWRITE {DATASET}.{table}")
    assert count(core, engine, table) == 50_000 and rows(core, engine, table)[0] == {"id": 10, "name": "n10"}

    # With a schema (or autodetect), WRITE_TRUNCATE replaces the columns too, as BigQuery's does.
    retyped = LoadSpec(DATASET, table, engine=engine, write_disposition="WRITE_TRUNCATE", autodetect=True,
                       source_format="NEWLINE_DELIMITED_JSON")
    assert run(core, loads, retyped, write(tmp_path, "d.json", '{"id": 7, "ok": true}\n')).status \
        == JobStatus.COMPLETED
    assert rows(core, engine, table) == [{"id": 7, "ok": True}]
    assert staging_tables(core, engine) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_write_empty_and_create_never(core, loads: LoadService, tmp_path: Path, engine: str) -> None:
    table = table_name("empty")
    columns = (Column("id", Scalar("int64")),)
    with pytest.raises(DestinationNotFound, match=f"Not found: Table {DATASET}.{table}"):
        loads.submit(LoadSpec(DATASET, table, engine=engine, schema=columns, create_disposition="CREATE_NEVER"),
                     write(tmp_path, "n.csv", "1\n"))
    core.engines[engine].create_table(DATASET, table, list(columns))
    write_empty = LoadSpec(DATASET, table, engine=engine, write_disposition="WRITE_EMPTY",
                           create_disposition="CREATE_NEVER")
    assert run(core, loads, write_empty, write(tmp_path, "n.csv", "1\n")).status == JobStatus.COMPLETED
    source = write(tmp_path, "n.csv", "2\n")
    with pytest.raises(TableNotEmpty, match="not empty"):
        loads.submit(write_empty, source)
    assert not source.exists()      # a refused submit still disposes of the file it was given
    assert count(core, engine, table) == 1


def test_missing_dataset_and_missing_schema(core, loads: LoadService, tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFound, match="Not found: Dataset loads_c_nowhere"):
        loads.submit(LoadSpec("loads_c_nowhere", "t", schema=(Column("id", Scalar("int64")),)),
                     write(tmp_path, "a.csv", "1\n"))
    with pytest.raises(ValidationFailed, match="give a schema or set autodetect"):
        loads.submit(LoadSpec(DATASET, table_name("noschema")), write(tmp_path, "a.csv", "1\n"))
    with pytest.raises(ValidationFailed, match="source: the uploaded file is missing"):
        loads.submit(LoadSpec(DATASET, "t", autodetect=True), tmp_path / "gone.csv")


@pytest.mark.parametrize("dataset", ["default", "DEFAULT", "main", "system", "information_schema", "pg_catalog",
                                     "temp", "_query_results"])
def test_reserved_datasets_are_never_load_targets(core, loads: LoadService, tmp_path: Path, dataset: str) -> None:
    """The sample, the query results and the engines' catalogs take no loads, not even the admin's, and no query
    results either; a preview (which names no real destination) still reads the file."""
    spec = LoadSpec(dataset, table_name("reserved"), schema=(Column("id", Scalar("int64")),))
    source = write(tmp_path, "a.csv", "1\n")
    with pytest.raises(DatasetReserved, match=f"dataset: '{dataset}' is reserved"):
        loads.submit(spec, source, user=LOCAL)
    assert not source.exists()      # refused, and the file it was given is still disposed of
    with pytest.raises(DatasetReserved):
        loads.check_destination(spec, user=LOCAL)
    for name, engine in core.engines.items():
        assert not engine.table_exists(engine_database(name, dataset), spec.table)
    assert loads.preview(write(tmp_path, "b.csv", "2\n"), spec).rows == [{"id": 2}]


def test_cancel_between_batches_writes_nothing(core, loads: LoadService, tmp_path: Path) -> None:
    """The work checks ``stopped`` before every batch: stopping after the third leaves no table and no stage."""
    table = table_name("stop")
    path = write(tmp_path, "big.csv", "".join(f"{i},n{i}\n" for i in range(20_000)))
    spec = LoadSpec(DATASET, table, schema=(Column("id", Scalar("int64")), Column("name", Scalar("string"))))
    checks = {"n": 0}
    progress: list[float] = []

    def stopped() -> bool:
        checks["n"] += 1
        return checks["n"] > 3

    job = Job(sql="", max_execution_time=300, engine="duckdb", job_id=f"job_{uuid.uuid4().hex[:20]}")
    ctx = WorkContext(job=job, stopped=stopped, set_progress=progress.append)
    with pytest.raises(QueryCancelled):
        loads._run(ctx, spec, path, LoadReport(destination=spec.destination, input_bytes=path.stat().st_size))
    assert 0 < progress[-1] < 1
    assert not core.engines["duckdb"].table_exists(DATASET, table)
    assert staging_tables(core, "duckdb") == [] and not path.exists()


@pytest.mark.parametrize("engine", ENGINES)
def test_cancel_a_running_load(core, loads: LoadService, tmp_path: Path, engine: str) -> None:
    table = table_name("cancel")
    path = write(tmp_path, "big.csv", "".join(f"{i},n{i}\n" for i in range(300_000)))
    spec = LoadSpec(DATASET, table, engine=engine,
                    schema=(Column("id", Scalar("int64")), Column("name", Scalar("string"))))
    job = loads.submit(spec, path)
    # 300 batches of 1000 rows: the job is seen running long before it could finish.
    deadline = time.monotonic() + 30
    while core.queries.get(job.job_id, user=LOCAL).status == JobStatus.QUEUED and time.monotonic() < deadline:
        time.sleep(0.001)
    core.queries.cancel(job.job_id, user=LOCAL)
    assert core.scheduler.wait(job.job_id, 60)
    job = core.queries.get(job.job_id, user=LOCAL)
    assert job.status == JobStatus.CANCELLED and job.error == "cancelled by user"
    assert not core.engines[engine].table_exists(DATASET, table) and staging_tables(core, engine) == []
    assert not path.exists()


def test_a_large_file_loads_in_many_batches(core, loads: LoadService, tmp_path: Path) -> None:
    table = table_name("large")
    path = write(tmp_path, "large.json", "".join(json.dumps({"id": i, "tags": [str(i)], "r": {"v": i * 0.5}}) + "\n"
                                                 for i in range(30_000)))
    spec = LoadSpec(DATASET, table, engine="clickhouse", source_format="NEWLINE_DELIMITED_JSON", autodetect=True)
    job = run(core, loads, spec, path)
    assert job.status == JobStatus.COMPLETED, job.error
    assert count(core, "clickhouse", table) == 30_000
    public = core.queries.describe(job)
    assert public.kind == "load" and public.progress == 1.0


def test_preview_shows_detected_columns_and_rows(loads: LoadService, tmp_path: Path) -> None:
    path = write(tmp_path, "people.csv", PEOPLE_CSV)
    preview = loads.preview(path, LoadSpec(DATASET, "t", autodetect=True), rows=1)
    assert [c.name for c in preview.columns] == ["id", "name", "score", "active", "born", "seen", "price"]
    assert preview.columns[0].type == Scalar("int64") and preview.skip_leading_rows == 1
    assert preview.rows == [{"id": 1, "name": "Doe, Ann", "score": 1.5, "active": "true",
                             "born": dt.date(1990, 1, 2), "seen": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
                             "price": 12.5}]
    assert path.exists()        # a preview reads, the file stays for the load
    nested = write(tmp_path, "n.json", json.dumps({"a": {"b": [1]}}) + "\n")
    columns = loads.preview(nested, LoadSpec(DATASET, "t", source_format="NEWLINE_DELIMITED_JSON")).columns
    assert columns == [Column("a", Struct((Column("b", ListOf(Scalar("int64")), nullable=False),)))]


def test_grants_and_audit(core, loads: LoadService, tmp_path: Path) -> None:
    name = f"loads_c_{uuid.uuid4().hex[:6]}"
    user = core.identity.create_user(LOCAL, name, "Loads-C-passw0rd-long", "member")
    member = Principal(name, "member", user.user_id)
    table = table_name("granted")
    spec = LoadSpec(DATASET, table, schema=(Column("id", Scalar("int64")),))
    with pytest.raises(AccessDenied, match=f"needs writer on dataset {DATASET}"):
        loads.submit(spec, write(tmp_path, "a.csv", "1\n"), user=member)
    core.grants.set_grant(LOCAL, DATASET, name, "writer")
    job = run(core, loads, spec, write(tmp_path, "a.csv", "1\n"), user=member)
    assert job.status == JobStatus.COMPLETED and job.user == name
    truncate = LoadSpec(DATASET, table, write_disposition="WRITE_TRUNCATE")
    with pytest.raises(AccessDenied, match=f"needs owner on dataset {DATASET}"):
        loads.submit(truncate, write(tmp_path, "a.csv", "2\n"), user=member)
    events, _ = core.audit.list(AuditQuery(actor=name, limit=10))
    assert [(e.action, e.outcome) for e in reversed(events)] == [
        ("access.denied", "denied"), ("load.submit", "ok"), ("access.denied", "denied")]
    assert events[1].target == f"{DATASET}.{table}" and events[1].detail["format"] == "CSV"
    listed, _ = core.queries.list(user=member)
    assert [j.job_id for j in listed] == [job.job_id]
