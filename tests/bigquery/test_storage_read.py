"""BigQuery's Storage Read API (gRPC, Arrow) through the real google-cloud-bigquery-storage client, against a real
StorageReadServer over the session core: query results, tables, streams, resumption, splits, owners and errors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import grpc
import pyarrow as pa
import pytest
from google.api_core import exceptions as gexc
from google.cloud import bigquery_storage
from google.cloud.bigquery_storage_v1.services.big_query_read.transports import BigQueryReadGrpcTransport

from bqlite_app.access.principal import LOCAL, Principal
from bqlite_app.bigquery.storage import StorageReadServer
from bqlite_app.bigquery.storage.reads import ROWS_PER_STREAM
from bqlite_app.jobs.service import QuerySpec
from tests.conftest import SAMPLE_ROWS

ARROW = bigquery_storage.types.DataFormat.ARROW
DATASET = "stor_ds"
ADMIN_PASSWORD = "storage-admin-pass-0001"
PASSWORD = "storage-member-pass-0002"

pytestmark = pytest.mark.filterwarnings("ignore:Retrieving Arrow record batches directly:PendingDeprecationWarning")


def read_client(port: int, token: str | None = None) -> bigquery_storage.BigQueryReadClient:
    """The client as docs/bigquery.md sets it up: a plain channel, or local-channel credentials carrying a token."""
    target = f"127.0.0.1:{port}"
    if token is None:
        channel = grpc.insecure_channel(target)
    else:
        credentials = grpc.composite_channel_credentials(grpc.local_channel_credentials(),
                                                         grpc.access_token_call_credentials(token))
        channel = grpc.secure_channel(target, credentials)
    return bigquery_storage.BigQueryReadClient(transport=BigQueryReadGrpcTransport(channel=channel))


def run(core: Any, sql: str, user: Principal = LOCAL, engine: str = "duckdb") -> str:
    job = core.queries.submit(QuerySpec(sql=sql, engine=engine), user=user)
    job = core.queries.wait(job.job_id, 120, user=user)
    assert job.status == "completed", job.error
    return job.job_id


def session(client: bigquery_storage.BigQueryReadClient, table: str, *, streams: int = 0,
            fields: list[str] | None = None, restriction: str = "") -> bigquery_storage.types.ReadSession:
    wanted = bigquery_storage.types.ReadSession(table=table, data_format=ARROW)
    wanted.read_options.selected_fields.extend(fields or [])
    wanted.read_options.row_restriction = restriction
    return client.create_read_session(parent="projects/local", read_session=wanted, max_stream_count=streams)


def read_all(client: bigquery_storage.BigQueryReadClient, read_session: Any) -> pa.Table:
    tables = [client.read_rows(stream.name).to_arrow(read_session) for stream in read_session.streams]
    return pa.concat_tables(tables)


def result_table(job_id: str) -> str:
    return f"projects/local/datasets/_query_results/tables/{job_id}"


@pytest.fixture(scope="module")
def server(core: Any) -> Iterator[StorageReadServer]:
    server = StorageReadServer(core, "127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(server: StorageReadServer) -> bigquery_storage.BigQueryReadClient:
    assert server.port
    return read_client(server.port)


# -- query results --------------------------------------------------------------------------------------------------

TYPES_SQL = """
SELECT 7::INTEGER AS small, 9007199254740993::BIGINT AS big, 1.25::FLOAT AS f32, 'héllo' AS s,
       'ab'::BLOB AS b, true AS ok, 12345.678::DECIMAL(10, 3) AS num, 1.5::DECIMAL(38, 20) AS bignum,
       DATE '2024-02-29' AS day, TIME '13:14:15.123456' AS tod,
       TIMESTAMP '2024-01-02 03:04:05.123456' AS naive, TIMESTAMPTZ '2024-01-02 03:04:05.5+00' AS instant,
       TIMESTAMP_NS '2024-01-02 03:04:05.123456789' AS nanos,
       [1, 2, 3] AS ints, {'a': 1, 'b': 'x'} AS rec, [{'k': 1}, {'k': 2}] AS recs, MAP {'m': 5} AS kv,
       NULL::INTEGER AS nothing, 'abc'::VARCHAR[] AS empty_or_null
"""


def test_query_result_arrives_with_bigquery_arrow_types(core: Any, client: Any) -> None:
    job_id = run(core, TYPES_SQL.replace("'abc'::VARCHAR[]", "NULL::VARCHAR[]"))
    read_session = session(client, result_table(job_id))
    assert read_session.estimated_row_count == 1 and len(read_session.streams) == 1
    table = read_all(client, read_session)
    types = {field.name: field.type for field in table.schema}
    assert types == {
        "small": pa.int64(), "big": pa.int64(), "f32": pa.float64(), "s": pa.string(), "b": pa.binary(),
        "ok": pa.bool_(), "num": pa.decimal128(38, 9), "bignum": pa.decimal256(76, 38), "day": pa.date32(),
        "tod": pa.time64("us"), "naive": pa.timestamp("us"), "instant": pa.timestamp("us", tz="UTC"),
        "nanos": pa.timestamp("us"), "ints": pa.list_(pa.int64()),
        "rec": pa.struct([("a", pa.int64()), ("b", pa.string())]), "recs": pa.list_(pa.struct([("k", pa.int64())])),
        "kv": pa.list_(pa.struct([("key", pa.string()), ("value", pa.int64())])), "nothing": pa.int64(),
        "empty_or_null": pa.list_(pa.string()),
    }
    # The extension name google-cloud-bigquery puts on DATETIME fields, so both paths give the same schema.
    assert table.schema.field("naive").metadata == {b"ARROW:extension:name": b"google:sqlType:datetime"}
    row = table.to_pylist()[0]
    assert row["big"] == 9007199254740993 and row["s"] == "héllo" and row["b"] == b"ab" and row["ok"] is True
    assert row["num"] == Decimal("12345.678") and row["bignum"] == Decimal("1.5")
    assert row["day"] == dt.date(2024, 2, 29) and row["tod"] == dt.time(13, 14, 15, 123456)
    assert row["naive"] == dt.datetime(2024, 1, 2, 3, 4, 5, 123456)
    assert row["instant"] == dt.datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=dt.UTC)
    assert row["nanos"] == dt.datetime(2024, 1, 2, 3, 4, 5, 123456)   # truncated to microseconds, as BigQuery
    assert row["ints"] == [1, 2, 3] and row["rec"] == {"a": 1, "b": "x"} and row["recs"] == [{"k": 1}, {"k": 2}]
    assert row["kv"] == [{"key": "m", "value": 5}] and row["nothing"] is None
    assert row["empty_or_null"] == []   # BigQuery has no NULL arrays


def test_large_result_is_split_into_streams_that_together_hold_every_row(core: Any, client: Any) -> None:
    rows = ROWS_PER_STREAM * 2 + 1234
    job_id = run(core, f"SELECT range AS i, 'r' || range::VARCHAR AS s FROM range({rows})")
    read_session = session(client, result_table(job_id))
    assert len(read_session.streams) == 3
    table = read_all(client, read_session)
    assert table.num_rows == rows
    assert sorted(table.column("i").to_pylist()) == list(range(rows))

    ordered = session(client, result_table(job_id), streams=1)
    assert len(ordered.streams) == 1
    table = client.read_rows(ordered.streams[0].name).to_arrow()
    assert table.column("i").to_pylist() == list(range(rows))   # one stream keeps the result's order


def test_read_rows_resumes_at_an_offset(core: Any, client: Any) -> None:
    job_id = run(core, "SELECT range AS i FROM range(100000)")
    stream = session(client, result_table(job_id), streams=1).streams[0]
    rest = client.read_rows(stream.name, offset=99_990).to_arrow()
    assert rest.column("i").to_pylist() == list(range(99_990, 100_000))
    assert client.read_rows(stream.name, offset=100_000).to_arrow().num_rows == 0
    with pytest.raises(gexc.InvalidArgument):
        list(client.read_rows(stream.name, offset=100_001))


def test_split_read_stream_cuts_a_stream_in_two(core: Any, client: Any) -> None:
    job_id = run(core, "SELECT range AS i FROM range(1000)")
    stream = session(client, result_table(job_id), streams=1).streams[0]
    split = client.split_read_stream(request={"name": stream.name, "fraction": 0.25})
    first = client.read_rows(split.primary_stream.name).to_arrow().column("i").to_pylist()
    second = client.read_rows(split.remainder_stream.name).to_arrow().column("i").to_pylist()
    assert first == list(range(250)) and second == list(range(250, 1000))


def test_selected_fields_of_a_result(core: Any, client: Any) -> None:
    job_id = run(core, "SELECT 1 AS a, 'x' AS b, 2.5 AS c")
    table = read_all(client, session(client, result_table(job_id), fields=["c", "a"]))
    assert table.column_names == ["c", "a"] and table.to_pylist() == [{"c": Decimal("2.5"), "a": 1}]
    with pytest.raises(gexc.InvalidArgument, match="no column"):
        session(client, result_table(job_id), fields=["zz"])


def test_empty_result_has_no_streams_but_a_schema(core: Any, client: Any) -> None:
    job_id = run(core, "SELECT 1 AS a WHERE false")
    read_session = session(client, result_table(job_id))
    assert list(read_session.streams) == []
    schema = pa.ipc.read_schema(pa.py_buffer(read_session.arrow_schema.serialized_schema))
    assert schema.names == ["a"] and schema.field("a").type == pa.int64()


def test_result_of_a_clickhouse_job(core: Any, client: Any) -> None:
    job_id = run(core, "SELECT toUInt8(3) AS u, toDateTime64('2024-05-06 07:08:09.5', 6, 'UTC') AS t, "
                       "toDecimal64(2.25, 4) AS d", engine="clickhouse")
    table = read_all(client, session(client, result_table(job_id)))
    assert table.schema.field("u").type == pa.int64()
    assert table.schema.field("t").type == pa.timestamp("us", tz="UTC")
    assert table.to_pylist() == [{"u": 3, "t": dt.datetime(2024, 5, 6, 7, 8, 9, 500000, tzinfo=dt.UTC),
                                  "d": Decimal("2.25")}]


def test_missing_job_and_bad_names_are_client_errors(core: Any, client: Any) -> None:
    with pytest.raises(gexc.NotFound, match="not found"):
        session(client, result_table("no_such_job_123"))
    with pytest.raises(gexc.InvalidArgument):
        session(client, "projects/local/datasets/x")
    with pytest.raises(gexc.InvalidArgument):
        session(client, "projects/local/datasets/bad name/tables/t")
    with pytest.raises(gexc.NotFound):
        list(client.read_rows("projects/local/locations/us/sessions/0123456789abcdef01234567/streams/0-10"))
    with pytest.raises(gexc.InvalidArgument):
        list(client.read_rows("not/a/stream"))
    failed = core.queries.submit(QuerySpec(sql="SELECT * FROM no_such_table_anywhere"), user=LOCAL)
    core.queries.wait(failed.job_id, 60, user=LOCAL)
    with pytest.raises(gexc.NotFound, match="failed"):
        session(client, result_table(failed.job_id))


def test_job_default_stream_reads_the_result_from_an_offset(core: Any, client: Any) -> None:
    """google-cloud-bigquery's ARROW query results read the rest of a result from the job's default stream."""
    job_id = run(core, "SELECT range AS i FROM range(10)")
    name = f"projects/local/locations/US/jobs/{job_id}/streams/_default"
    assert client.read_rows(name, offset=4).to_arrow().column("i").to_pylist() == list(range(4, 10))


# -- tables ---------------------------------------------------------------------------------------------------------

def test_table_read_with_selected_fields_and_row_restriction(core: Any, client: Any) -> None:
    table = read_all(client, session(client, "projects/local/datasets/default/tables/nyc_taxi",
                                     fields=["passenger_count", "total_amount"],
                                     restriction="passenger_count >= 2 AND total_amount > 10.5"))
    assert table.column_names == ["passenger_count", "total_amount"]
    assert table.schema.field("passenger_count").type == pa.int64()
    expected = core.engines["duckdb"].execute(
        "SELECT count(*) AS n FROM nyc_taxi WHERE passenger_count >= 2 AND total_amount > 10.5", query_tag="t")
    assert table.num_rows == pa.Table.from_batches(list(expected)).column("n")[0].as_py() > 0
    whole = read_all(client, session(client, "projects/local/datasets/default/tables/nyc_taxi"))
    assert whole.num_rows == SAMPLE_ROWS and "tpep_pickup_datetime" in whole.column_names


def test_table_read_finds_the_engine_that_holds_the_table(core: Any, client: Any, clickhouse_engine: Any) -> None:
    for sql in (f"CREATE DATABASE IF NOT EXISTS {DATASET}",
                f"CREATE OR REPLACE TABLE {DATASET}.only_ch (id UInt32, name String) ENGINE = MergeTree ORDER BY id",
                f"INSERT INTO {DATASET}.only_ch VALUES (1, 'a'), (2, 'b'), (3, 'c')"):
        list(clickhouse_engine.execute(sql, query_tag="storage-setup"))
    table = read_all(client, session(client, f"projects/local/datasets/{DATASET}/tables/only_ch",
                                     restriction="name IN ('a', 'c')"))
    assert sorted(table.to_pylist(), key=lambda r: r["id"]) == [{"id": 1, "name": "a"}, {"id": 3, "name": "c"}]


def test_table_read_refuses_what_is_not_a_simple_restriction(core: Any, client: Any) -> None:
    nyc = "projects/local/datasets/default/tables/nyc_taxi"
    for restriction in ("1 = 1) UNION ALL (SELECT * FROM nyc_taxi", "passenger_count IN (SELECT 1)",
                        "read_csv('/etc/passwd') IS NOT NULL", "no_such_column = 1", "x.passenger_count = 1",
                        "passenger_count = 1; DROP TABLE nyc_taxi"):
        with pytest.raises(gexc.InvalidArgument, match="row_restriction"):
            session(client, nyc, restriction=restriction)
    with pytest.raises(gexc.InvalidArgument, match="no column"):
        session(client, nyc, fields=["nope"])
    with pytest.raises(gexc.NotFound, match="Not found: Table"):
        session(client, "projects/local/datasets/default/tables/no_such_table")
    with pytest.raises(gexc.InvalidArgument, match="row_restriction"):
        session(client, result_table("anything"), restriction="a = 1")


# -- identity and owners --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def auth_core(tmp_path_factory: pytest.TempPathFactory, duckdb_engine: Any, clickhouse_engine: Any) -> Iterator[Any]:
    from bqlite_app.core import Core
    from bqlite_app.settings import Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("storage-auth"), auth="on", admin_password=ADMIN_PASSWORD,
                        default_grants={}, sample_rows=SAMPLE_ROWS, max_concurrent_jobs=4, total_slots=10,
                        query_memory_limit="4GB", result_cleanup_interval_s=3600, rate_limit="100000/minute")
    core = Core(settings, engines={"duckdb": duckdb_engine, "clickhouse": clickhouse_engine})
    core.start()
    admin = token_user(core, "admin", ADMIN_PASSWORD)
    for name in ("alice", "bob"):
        core.identity.create_user(admin, name, PASSWORD, "member")
    core.grants.set_grant(admin, "default", "alice", "reader")
    yield core
    core.stop()


def token_user(core: Any, username: str, password: str) -> Principal:
    return core.identity.authenticate(token(core, username, password), None)


def token(core: Any, username: str, password: str) -> str:
    return core.identity.login(username, password, None).access_token


@pytest.fixture(scope="module")
def auth_server(auth_core: Any) -> Iterator[StorageReadServer]:
    server = StorageReadServer(auth_core, "127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


def test_with_auth_on_only_the_owner_reads_a_result(auth_core: Any, auth_server: StorageReadServer) -> None:
    assert auth_server.port
    alice_token, bob_token = token(auth_core, "alice", PASSWORD), token(auth_core, "bob", PASSWORD)
    alice, bob = read_client(auth_server.port, alice_token), read_client(auth_server.port, bob_token)
    job_id = run(auth_core, "SELECT 42 AS answer", user=token_user(auth_core, "alice", PASSWORD))

    read_session = session(alice, result_table(job_id))
    assert read_all(alice, read_session).to_pylist() == [{"answer": 42}]
    with pytest.raises(gexc.NotFound):   # someone else's job answers as a missing one
        session(bob, result_table(job_id))
    with pytest.raises(gexc.NotFound):   # and so does someone else's session
        list(bob.read_rows(read_session.streams[0].name))
    with pytest.raises(gexc.Unauthenticated):
        session(read_client(auth_server.port), result_table(job_id))
    with pytest.raises(gexc.Unauthenticated):
        session(read_client(auth_server.port, "not-a-token"), result_table(job_id))
    admin = read_client(auth_server.port, token(auth_core, "admin", ADMIN_PASSWORD))
    assert read_all(admin, session(admin, result_table(job_id))).num_rows == 1


def test_a_google_auth_credentials_object_carries_the_token(auth_core: Any, auth_server: StorageReadServer) -> None:
    """The same kind of credentials object the REST client takes, on a local channel (docs/bigquery.md)."""
    import google.auth.transport.grpc
    import google.auth.transport.requests
    import google.oauth2.credentials

    credentials = google.oauth2.credentials.Credentials(token(auth_core, "alice", PASSWORD))
    channel = google.auth.transport.grpc.secure_authorized_channel(
        credentials, google.auth.transport.requests.Request(), f"127.0.0.1:{auth_server.port}",
        ssl_credentials=grpc.local_channel_credentials())
    alice = bigquery_storage.BigQueryReadClient(transport=BigQueryReadGrpcTransport(channel=channel))
    job_id = run(auth_core, "SELECT 'a' AS who", user=token_user(auth_core, "alice", PASSWORD))
    assert read_all(alice, session(alice, result_table(job_id))).to_pylist() == [{"who": "a"}]


def test_with_auth_on_a_table_read_needs_reader_on_the_dataset(auth_core: Any,
                                                               auth_server: StorageReadServer) -> None:
    assert auth_server.port
    nyc = "projects/local/datasets/default/tables/nyc_taxi"
    alice = read_client(auth_server.port, token(auth_core, "alice", PASSWORD))
    bob = read_client(auth_server.port, token(auth_core, "bob", PASSWORD))
    table = read_all(alice, session(alice, nyc, fields=["trip_distance"], restriction="passenger_count = 3"))
    assert table.num_rows > 0 and table.column_names == ["trip_distance"]
    with pytest.raises(gexc.PermissionDenied, match="reader on dataset default"):
        session(bob, nyc)
    # The read ran as a job of alice's, visible in her history like any query.
    jobs, _ = auth_core.queries.list(user=token_user(auth_core, "alice", PASSWORD), limit=5)
    assert any(job.labels.get("bqlite-storage-read") == "true" for job in jobs)


def test_hand_written_read_rows_response_decodes_with_the_client_type() -> None:
    from bqlite_app.bigquery.storage.wire import read_rows_response

    batch = pa.record_batch({"x": pa.array(range(1000))})
    schema = batch.schema.serialize().to_pybytes()
    for with_schema in (schema, None):
        message = bigquery_storage.types.ReadRowsResponse.deserialize(
            read_rows_response(batch.serialize(), 1000, schema=with_schema, progress=(0.25, 0.5)))
        assert message.row_count == 1000 and message.arrow_record_batch.row_count == 1000
        assert message.stats.progress.at_response_start == 0.25 and message.stats.progress.at_response_end == 0.5
        assert message.arrow_schema.serialized_schema == (with_schema or b"")
        decoded = pa.ipc.read_record_batch(pa.py_buffer(message.arrow_record_batch.serialized_record_batch),
                                           batch.schema)
        assert decoded.equals(batch)


# -- the whole client path: google-cloud-bigquery's query(...).to_arrow(bqstorage_client=...) -------------------------
# Needs the REST face (tests/bigquery/conftest.py's ``bq`` client over bqlite_app/bigquery/routes_jobs.py): the job
# reports its anonymous destination table (datasets/_query_results/tables/{job_id}), which the client then reads here.

CLIENT_SQL = """
SELECT 7 AS i, 'héllo' AS s, b'ab' AS b, TRUE AS ok, 1.25 AS f, NUMERIC '12345.678' AS num,
       DATE '2024-02-29' AS day, TIME '13:14:15.123456' AS tod, DATETIME '2024-01-02 03:04:05.123456' AS naive,
       TIMESTAMP '2024-01-02 03:04:05.5+00' AS instant, [1, 2, 3] AS ints, STRUCT(1 AS a, 'x' AS b) AS rec,
       CAST(NULL AS INT64) AS nothing
"""


def test_client_to_arrow_over_the_storage_api_equals_the_rest_path(bq: Any, client: Any) -> None:
    job = bq.query(CLIENT_SQL)
    via_storage = job.to_arrow(bqstorage_client=client)
    via_rest = job.to_arrow(create_bqstorage_client=False)
    assert job.destination.dataset_id == "_query_results" and job.destination.table_id == job.job_id
    assert [(f.name, f.type) for f in via_storage.schema] == [(f.name, f.type) for f in via_rest.schema]
    assert via_storage.to_pylist() == via_rest.to_pylist()
    row = via_storage.to_pylist()[0]
    assert row["num"] == Decimal("12345.678") and row["b"] == b"ab" and row["ints"] == [1, 2, 3]
    assert row["instant"] == dt.datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=dt.UTC)


def test_client_reads_a_large_result_over_several_streams(bq: Any, client: Any) -> None:
    rows = ROWS_PER_STREAM * 2 + 10
    job = bq.query(f"SELECT x, CAST(x AS STRING) AS s FROM UNNEST(GENERATE_ARRAY(1, {rows})) AS x")
    table = job.to_arrow(bqstorage_client=client)
    assert table.num_rows == rows and sorted(table.column("x").to_pylist()) == list(range(1, rows + 1))
