"""Defence in depth: SQL that reaches an engine without passing the policy still cannot leave its tables.

These call the engines directly, as if the policy had missed a statement.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engines.base import QueryLimits
from engines.errors import EngineError

# Jobs always run with a time limit and a memory limit; the escapes below try to lift them.
LIMITS = QueryLimits(timeout_s=60, memory_limit="4GB")


def _run(engine, sql: str) -> list[dict]:
    batches = engine.execute(sql, query_tag="sandbox-test", limits=LIMITS)
    return [row for batch in batches for row in batch.to_pylist()]


def _refused(engine, sql: str) -> str:
    with pytest.raises(EngineError) as raised:
        _run(engine, sql)
    return str(raised.value)


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM glob('/etc/*')",
    "COPY (SELECT 1) TO '{marker}'",
    "ATTACH '{marker}' AS escaped",
    "INSTALL httpfs",
])
def test_duckdb_cannot_reach_files(duckdb_engine, tmp_path: Path, sql):
    marker = tmp_path / "escaped"
    message = _refused(duckdb_engine, sql.format(marker=marker))
    assert any(text in message for text in ("Permission Error", "disabled by configuration", "does not exist")), message
    assert not marker.exists()


@pytest.mark.parametrize("sql", [
    "SET GLOBAL threads = 1", "SET GLOBAL memory_limit = '100TB'", "SET lock_configuration = false",
    "SET enable_external_access = true", "SET GLOBAL autoload_known_extensions = true",
])
def test_duckdb_configuration_is_locked(duckdb_engine, sql):
    before = _run(duckdb_engine, "SELECT current_setting('threads') AS t, current_setting('memory_limit') AS m")
    _refused(duckdb_engine, sql)
    assert _run(duckdb_engine, "SELECT current_setting('threads') AS t, current_setting('memory_limit') AS m") == before


def test_duckdb_reads_files_only_under_allowed_directories(tmp_path: Path):
    from engines.duckdb_engine import DuckDBEngine

    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "trips.csv").write_text("a,b\n1,2\n")
    (tmp_path / "secret.csv").write_text("a,b\n3,4\n")
    engine = DuckDBEngine(tmp_path / "own.duckdb", capacity=1, allowed_directories=[allowed])
    engine.start()
    try:
        assert _run(engine, f"SELECT * FROM read_csv('{allowed}/trips.csv')") == [{"a": 1, "b": 2}]
        for outside in (f"{tmp_path}/secret.csv", f"{allowed}/../secret.csv", "/etc/passwd"):
            assert "Permission Error" in _refused(engine, f"SELECT * FROM read_csv('{outside}')")
    finally:
        engine.close()


@pytest.mark.parametrize("sql", [
    "SELECT * FROM file('/etc/passwd', LineAsString)",
    "SELECT count() FROM url('http://127.0.0.1:9/x', CSV)",
    "SELECT * FROM remote('127.0.0.1:9', system.one)",
    "SELECT 1 SETTINGS max_memory_usage = 0",
    "SELECT 1 SETTINGS readonly = 0",
    "SELECT * FROM (SELECT 1) SETTINGS max_execution_time = 0",
])
def test_clickhouse_reads_run_read_only(clickhouse_engine, sql):
    assert "readonly" in _refused(clickhouse_engine, sql).lower()


def test_clickhouse_dry_runs_and_plans_are_read_only(clickhouse_engine):
    estimate = clickhouse_engine.estimate("SELECT * FROM file('/etc/passwd', LineAsString)")
    assert not estimate.valid
    with pytest.raises(EngineError):
        clickhouse_engine.explain("SELECT * FROM url('http://127.0.0.1:9/x', CSV)")
