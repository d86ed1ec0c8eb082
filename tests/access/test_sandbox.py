"""The escape corpus: every construct docs/api.md's sandbox lists, on its engine, through the API.

Each case must be refused before a job exists (403 SQL_NOT_ALLOWED naming the construct), for dry runs too, and
must leave no file behind and no setting changed. ``{marker}`` in a case is a path that must not appear.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DUCKDB_ESCAPES = [
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv()"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "read_csv_auto()"),
    ("SELECT * FROM read_parquet('/etc/x.parquet')", "read_parquet()"),
    ("SELECT * FROM read_json('/etc/x.json')", "read_json()"),
    ("SELECT * FROM read_text('/etc/passwd')", "read_text()"),
    ("SELECT * FROM read_blob('{data_dir}/bqlite.sqlite')", "read_blob()"),
    ("SELECT * FROM glob('/etc/*')", "glob()"),
    ("SELECT * FROM '/etc/passwd'", "'/etc/passwd'"),
    ("SELECT * FROM \"{marker}.csv\"", "table name"),
    ("COPY nyc_taxi TO '{marker}'", "COPY"),
    ("COPY (SELECT 1) TO '{data_dir}/bqlite.sqlite' (FORMAT csv)", "COPY"),
    ("COPY nyc_taxi FROM '/etc/passwd'", "COPY"),
    ("EXPORT DATABASE '{marker}'", "EXPORT DATABASE"),
    ("IMPORT DATABASE '{marker}'", "IMPORT DATABASE"),
    ("ATTACH '{marker}' AS escape_db", "ATTACH"),
    ("DETACH escape_db", "DETACH"),
    ("INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"),
    ("SET GLOBAL memory_limit = '100TB'", "SET"),
    ("SET threads = 1", "SET"),
    ("SET GLOBAL lock_configuration = true", "SET"),
    ("RESET threads", "RESET"),
    ("PRAGMA memory_limit = '100TB'", "PRAGMA memory_limit"),
    ("PRAGMA enable_profiling", "PRAGMA enable_profiling"),
    ("CHECKPOINT", "CHECKPOINT"),
    ("FORCE CHECKPOINT", "FORCE CHECKPOINT"),
    ("CALL checkpoint()", "CALL"),
    ("SELECT getenv('HOME')", "getenv()"),
    ("SELECT * FROM query('SELECT 1')", "query()"),
    ("CREATE SECRET escape (TYPE s3)", "CREATE SECRET"),
    ("CREATE VIEW escape_view AS SELECT * FROM read_csv('/etc/passwd')", "read_csv()"),
    ("CREATE TABLE escape_table AS SELECT * FROM read_text('/etc/passwd')", "read_text()"),
    ("SELECT 1; COPY nyc_taxi TO '{marker}'", "COPY"),
    ("SELECT 1;\nSET threads = 1", "SET"),
]

CLICKHOUSE_ESCAPES = [
    ("SELECT * FROM file('/etc/passwd', LineAsString)", "file()"),
    ("SELECT file('/etc/passwd')", "file()"),
    ("INSERT INTO FUNCTION file('{marker}', CSV) SELECT 1", "INTO FUNCTION"),
    ("SELECT 1 INTO OUTFILE '{marker}'", "INTO OUTFILE"),
    ("INSERT INTO default.nyc_taxi FROM INFILE '/etc/passwd' FORMAT CSV", "FROM INFILE"),
    ("SELECT * FROM url('http://127.0.0.1:9/x', CSV)", "url()"),
    ("SELECT * FROM s3('http://127.0.0.1:9/b/x.csv')", "s3()"),
    ("SELECT * FROM hdfs('hdfs://127.0.0.1:9/x', CSV)", "hdfs()"),
    ("SELECT * FROM remote('127.0.0.1:9', system.one)", "remote()"),
    ("SELECT * FROM remoteSecure('127.0.0.1:9', system.one)", "remotesecure()"),
    ("SELECT * FROM cluster('default', system.one)", "cluster()"),
    ("SELECT * FROM mysql('127.0.0.1:9', 'd', 't', 'u', 'p')", "mysql()"),
    ("SELECT * FROM postgresql('127.0.0.1:9', 'd', 't', 'u', 'p')", "postgresql()"),
    ("SELECT * FROM jdbc('jdbc:x', 't')", "jdbc()"),
    ("SELECT * FROM odbc('DSN=x', 't')", "odbc()"),
    ("SELECT * FROM executable('x.sh', TSV, 'a Int32')", "executable()"),
    ("SELECT * FROM Python(df)", "python()"),
    ("CREATE TABLE escape_file (a Int32) ENGINE = File(CSV)", "file()"),
    ("CREATE TABLE escape_url (a Int32) ENGINE = URL('http://127.0.0.1:9/x', CSV)", "url()"),
    ("CREATE DATABASE escape_mysql ENGINE = MySQL('127.0.0.1:9', 'd', 'u', 'p')", "mysql()"),
    ("CREATE TABLE escape_kafka (a Int32) ENGINE = Kafka", "Kafka"),
    ("CREATE TABLE escape_disk (a Int32) ENGINE = MergeTree ORDER BY a "
     "SETTINGS disk = disk(type = local, path = '{marker}')", "disk()"),
    ("CREATE DICTIONARY escape_dict (a UInt64) PRIMARY KEY a "
     "SOURCE(FILE(path '/etc/passwd' format 'CSV')) LAYOUT(FLAT()) LIFETIME(0)", "DICTIONARY"),
    ("SYSTEM SHUTDOWN", "SYSTEM"),
    ("SYSTEM DROP DNS CACHE", "SYSTEM"),
    ("KILL QUERY WHERE 1", "KILL"),
    ("SET max_memory_usage = 0", "SET"),
    ("USE system", "USE"),
    ("SELECT 1 SETTINGS max_memory_usage = 0, max_execution_time = 0", "max_memory_usage"),
    ("SELECT 1 SETTINGS max_execution_time = 0", "max_execution_time"),
    ("SELECT 1 SETTINGS readonly = 0", "readonly"),
    ("SELECT 1 SETTINGS timeout_overflow_mode = 'break'", "timeout_overflow_mode"),
    ("SELECT 1 SETTINGS max_memory_usage = 100000000000000", "max_memory_usage"),
    ("DROP DATABASE system", "system database"),
    ("DROP TABLE system.one", "system database"),
    ("CREATE TABLE system.escape (a Int32) ENGINE = Memory", "system database"),
    ("INSERT INTO system.query_log SELECT * FROM system.query_log", "system database"),
    ("TRUNCATE TABLE information_schema.tables", "system database"),
    ("BACKUP TABLE default.nyc_taxi TO Disk('default', 'escape')", "BACKUP"),
    ("ATTACH TABLE escape_attach FROM '{marker}' (a Int32) ENGINE = MergeTree ORDER BY a", "ATTACH"),
    ("CREATE USER escape_user", "CREATE"),
    ("GRANT ALL ON *.* TO default", "GRANT"),
]

CASES = [("duckdb", sql, construct) for sql, construct in DUCKDB_ESCAPES] + \
        [("clickhouse", sql, construct) for sql, construct in CLICKHOUSE_ESCAPES]


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "escaped"


def _job_count(client) -> int:
    return client.get("/jobs", params={"limit": 1}).json()["total"]


def _engine_state(client) -> dict:
    """Settings and databases an escape could have changed, read through ordinary jobs."""
    from tests.conftest import run_job

    state = {}
    probes = {
        "duckdb": "SELECT current_setting('threads') AS t, current_setting('memory_limit') AS m, "
                  "(SELECT count(*) FROM duckdb_databases() WHERE NOT internal) AS d",
        "clickhouse": "SELECT count() AS system_tables FROM system.tables WHERE database = 'system'",
    }
    for engine, sql in probes.items():
        job = run_job(client, sql, engine)
        assert job["status"] == "completed", job
        state[engine] = client.get(f"/jobs/{job['job_id']}/result").json()["rows"]
    return state


@pytest.fixture(scope="module")
def state_before(client) -> dict:
    return _engine_state(client)


@pytest.mark.parametrize(("engine", "sql", "construct"), CASES, ids=[f"{e}:{s[:60]}" for e, s, _ in CASES])
def test_the_sandbox_refuses_it_before_a_job_exists(client, settings, state_before, marker, engine, sql, construct):
    text = sql.format(marker=marker, data_dir=settings.data_dir)
    jobs_before = _job_count(client)
    for dry_run in (False, True):
        answer = client.post("/queries", json={"sql": text, "engine": engine, "dry_run": dry_run})
        assert answer.status_code == 403, answer.text
        body = answer.json()
        assert body["error_code"] == "SQL_NOT_ALLOWED"
        assert construct.lower() in body["detail"].lower()
    assert _job_count(client) == jobs_before
    assert not marker.exists()


def test_nothing_changed_after_the_corpus(client, state_before):
    assert _engine_state(client) == state_before
    assert client.get("/health").json()["engines"] == {"duckdb": True, "clickhouse": True}


@pytest.mark.parametrize(("engine", "sql"), [
    ("duckdb", "SELECT count(*) FROM nyc_taxi"),
    ("duckdb", "PRAGMA table_info('nyc_taxi')"),
    ("duckdb", "DESCRIBE nyc_taxi"),
    ("duckdb", "CREATE TEMP TABLE sandbox_ok AS SELECT 1 AS a; SELECT * FROM sandbox_ok"),
    ("duckdb", "SELECT current_setting('threads')"),
    ("duckdb", "SELECT * FROM duckdb_settings() LIMIT 1"),
    ("clickhouse", "SELECT count() FROM nyc_taxi"),
    ("clickhouse", "SELECT name FROM system.tables LIMIT 1"),
    ("clickhouse", "SELECT * FROM numbers(3)"),
    ("clickhouse", "SELECT 'INTO OUTFILE' AS looks_like_a_clause, 'file(x)' AS looks_like_a_call"),
    ("clickhouse", "CREATE TABLE IF NOT EXISTS sandbox_ok (a Int32) ENGINE = MergeTree ORDER BY a"),
    ("clickhouse", "INSERT INTO sandbox_ok SELECT number FROM numbers(3)"),
])
def test_ordinary_sql_still_runs(client, engine, sql):
    from tests.conftest import run_job

    job = run_job(client, sql, engine)
    assert job["status"] == "completed", job


def test_a_temporary_table_does_not_outlive_its_job(client):
    from tests.conftest import run_job

    assert run_job(client, "CREATE TEMP TABLE sandbox_scratch AS SELECT 1 AS a")["status"] == "completed"
    # Every query connection is asked in turn (there are at most four).
    for _ in range(4):
        job = run_job(client, "SELECT count(*) AS n FROM duckdb_tables() WHERE temporary")
        assert client.get(f"/jobs/{job['job_id']}/result").json()["rows"] == [[0]]


def test_syntax_errors_stay_failed_jobs_not_refusals(client):
    from tests.conftest import run_job

    for engine in ("duckdb", "clickhouse"):
        job = run_job(client, "SELEC 1 FROM", engine)
        assert job["status"] == "failed"
        assert job["error"]


def test_the_plan_of_an_old_job_is_judged_again(client, core):
    """History may predate the sandbox: /plan must never hand such SQL to the engine's planner."""
    from bqlite_app.jobs.models import Job, JobStatus

    old = Job(sql="SELECT 1 INTO OUTFILE '/tmp/bqlite-plan-escape'",
              max_execution_time=300, engine="clickhouse", status=JobStatus.FAILED)
    core.store.add(old)
    answer = client.get(f"/jobs/{old.job_id}/plan")
    assert answer.status_code == 403
    assert answer.json()["error_code"] == "SQL_NOT_ALLOWED"
    assert not Path("/tmp/bqlite-plan-escape").exists()


def test_an_engine_that_cannot_answer_fails_the_check_closed_and_nothing_is_remembered(core, settings):
    """A parse that failed because the engine was away must not let that text through later without a check."""
    from bqlite_app.access.sql_policy import SqlPolicy, sandbox_limits
    from bqlite_app.errors import ServiceUnavailable, SqlNotAllowed
    from engines.clickhouse_engine import ClickHouseEngine

    policy = SqlPolicy(sandbox_limits(settings))
    engine = ClickHouseEngine.embedded(settings.chdb_path, capacity=1)   # same data path: chdb allows it
    escape = "SELECT * FROM file('/etc/passwd', LineAsString)"
    with pytest.raises(ServiceUnavailable):
        policy.check(engine, escape)
    engine.start()
    try:
        with pytest.raises(SqlNotAllowed):
            policy.check(engine, escape)
        policy.check(engine, "SELECT 1")
    finally:
        engine.close()


def test_allowed_directories_open_file_reading_on_duckdb_only(duckdb_engine, clickhouse_engine):
    """With BQLITE_ALLOWED_DIRECTORIES set, DuckDB's file readers pass the policy (DuckDB itself confines the
    paths); writing files stays refused, and ClickHouse's file() too, which clickhouse-local cannot confine."""
    from bqlite_app.access._rules import Limits
    from bqlite_app.access.sql_policy import SqlPolicy
    from bqlite_app.errors import SqlNotAllowed

    policy = SqlPolicy(Limits(files_readable=True))
    policy.check(duckdb_engine, "SELECT * FROM read_csv('/srv/exports/trips.csv')")
    policy.check(duckdb_engine, "SELECT * FROM '/srv/exports/trips.parquet'")
    for engine, sql in [(duckdb_engine, "COPY nyc_taxi TO '/srv/exports/out.csv'"),
                        (duckdb_engine, "SELECT getenv('HOME')"),
                        (clickhouse_engine, "SELECT * FROM file('/srv/exports/trips.csv')")]:
        with pytest.raises(SqlNotAllowed):
            policy.check(engine, sql)
