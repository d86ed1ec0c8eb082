"""One behaviour suite, run against every engine through the ``engine`` fixture."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pyarrow as pa
import pytest

from engines.base import Engine, QueryLimits, QueryStats
from engines.errors import EngineQueryError, QueryCancelled, QueryTimeout
from engines.types import Column, Enum, Interval, ListOf, MapOf, Scalar, Struct, Timestamp
from tests.conftest import SERVER_MODE

# Runs for minutes unless stopped: the engines cannot shortcut a hash over every row.
HEAVY = {
    "duckdb": "SELECT count(*) FROM range(100000000000) WHERE hash(range) % 7 = 3",
    "clickhouse": "SELECT count() FROM numbers(100000000000) WHERE sipHash64(number) % 7 = 3",
}
SERIES = {"duckdb": "SELECT range AS n, range * 2 AS m FROM range({rows})",
          "clickhouse": "SELECT number AS n, number * 2 AS m FROM numbers({rows})"}
# About 800 MB of state that cannot spill.
MEMORY_HOG = {"duckdb": "SELECT length(list(range)) FROM range(100000000)",
              "clickhouse": "SELECT length(groupArray(number)) FROM numbers(100000000)"}
CHECKED_TABLE = {
    "duckdb": "CREATE TABLE {t} (x BIGINT CHECK (x < 1000000000))",
    "clickhouse": "CREATE TABLE {t} (x Int64, CONSTRAINT small CHECK x < 1000000000) "
                  "ENGINE = MergeTree ORDER BY tuple()",
}


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def default_db(engine: Engine) -> str:
    return "main" if engine.name == "duckdb" else "default"


def run(engine: Engine, sql: str, **kwargs: object) -> list[pa.RecordBatch]:
    return list(engine.execute(sql, query_tag=unique("q"), **kwargs))


def table_of(batches: list[pa.RecordBatch]) -> pa.Table:
    return pa.Table.from_batches(batches)


def make_table(engine: Engine, rows: int) -> str:
    db, name = default_db(engine), unique("t")
    engine.create_table(db, name, [Column("a", Scalar("int64")), Column("b", Scalar("string")),
                                   Column("c", Scalar("float64"))])
    engine.insert_arrow(db, name, pa.table({"a": pa.array(range(rows), pa.int64()),
                                            "b": [f"row-{i:08d}" for i in range(rows)],
                                            "c": pa.array([i / 3 for i in range(rows)], pa.float64())}))
    return f"{db}.{name}"


def test_engine_meets_the_contract(engine: Engine) -> None:
    assert isinstance(engine, Engine)
    info = engine.info()
    expected_mode = "server" if SERVER_MODE and engine.name == "clickhouse" else "embedded"
    assert info.name == engine.name and info.mode == expected_mode and info.version
    assert engine.health() is True
    assert engine.capacity >= 1 and isinstance(engine.supports_native_protobuf, bool)


def test_select_returns_typed_arrow(engine: Engine) -> None:
    result = table_of(run(engine, "SELECT CAST(7 AS BIGINT) AS i, 'héllo' AS s, CAST(2.5 AS DOUBLE) AS f"))
    assert result.schema.field("i").type == pa.int64()
    assert result.schema.field("s").type == pa.string()
    assert result.schema.field("f").type == pa.float64()
    assert result.to_pylist() == [{"i": 7, "s": "héllo", "f": 2.5}]


def test_zero_row_result_keeps_columns(engine: Engine) -> None:
    table = make_table(engine, 10)
    batches = run(engine, f"SELECT a, b FROM {table} WHERE a < 0")
    assert batches, "a zero-row result still yields its schema batch"
    assert batches[0].schema.names == ["a", "b"]
    assert batches[0].schema.field("a").type == pa.int64()
    assert sum(b.num_rows for b in batches) == 0


def test_large_result_streams_in_batches(engine: Engine) -> None:
    batches = run(engine, SERIES[engine.name].format(rows=300_000), batch_rows=10_000)
    assert len(batches) >= 30
    assert all(b.num_rows <= 10_000 for b in batches)
    assert sum(b.num_rows for b in batches) == 300_000


def test_streaming_memory_stays_bounded(engine: Engine) -> None:
    rows = 10_000_000                        # 160 MB as two int64 columns if materialized
    process = psutil.Process()
    baseline = peak = process.memory_info().rss
    seen = 0
    for batch in engine.execute(SERIES[engine.name].format(rows=rows), query_tag=unique("big")):
        seen += batch.num_rows
        peak = max(peak, process.memory_info().rss)
        del batch
    assert seen == rows
    assert peak - baseline < 80 * 2**20, f"streaming grew RSS by {(peak - baseline) / 2**20:.0f} MiB"


def test_statements_run_through_execute(engine: Engine) -> None:
    db, name = default_db(engine), unique("stmt")
    suffix = " ENGINE = MergeTree ORDER BY tuple()" if engine.name == "clickhouse" else ""
    run(engine, f"CREATE TABLE {db}.{name} (x INTEGER){suffix}")
    run(engine, f"INSERT INTO {db}.{name} VALUES (1), (2), (3)")
    assert table_of(run(engine, f"SELECT sum(x) AS s FROM {db}.{name}")).column("s").to_pylist() == [6]


def test_syntax_error_is_reported_with_position(engine: Engine) -> None:
    with pytest.raises(EngineQueryError) as info:
        run(engine, "SELECT 1,\n  (2 + FROM t")
    assert "syntax" in info.value.message.lower()
    # both engines point at the second line, where the parenthesis is never closed
    sql = "SELECT 1,\n  (2 + FROM t"
    assert info.value.position is not None and len("SELECT 1,\n") < info.value.position <= len(sql) + 1


def test_missing_table_is_reported(engine: Engine) -> None:
    with pytest.raises(EngineQueryError) as info:
        run(engine, "SELECT * FROM no_such_table_here")
    assert "no_such_table_here" in info.value.message
    assert info.value.position == len("SELECT * FROM ") + 1


def _start_heavy(engine: Engine, tag: str, limits: QueryLimits | None = None) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def consume() -> None:
        try:
            list(engine.execute(HEAVY[engine.name], query_tag=tag, limits=limits))
        except Exception as exc:  # the test inspects whatever ended the query
            outcome["error"] = exc

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    return thread, outcome


def test_cancel_stops_a_running_query_and_progress_is_reported(engine: Engine) -> None:
    tag = unique("cancel")
    thread, outcome = _start_heavy(engine, tag)
    progress = None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not progress:
        time.sleep(0.1)
        progress = engine.progress(tag)
    assert progress is not None and 0.0 < progress <= 1.0
    assert engine.cancel(tag) is True
    thread.join(timeout=60)          # a guard against a hang; the stop itself is an event, checked below
    assert not thread.is_alive()
    assert isinstance(outcome["error"], QueryCancelled)
    assert engine.progress(tag) is None and engine.cancel(tag) is False
    assert table_of(run(engine, "SELECT 1 AS one")).column("one").to_pylist() == [1]


def test_cancel_while_the_consumer_holds_a_batch(engine: Engine) -> None:
    tag = unique("held")
    stream = engine.execute(SERIES[engine.name].format(rows=100_000_000), query_tag=tag, batch_rows=1000)
    assert next(stream).num_rows == 1000
    # Single-threaded on purpose: were cancel to wait for the paused query, it would never return.
    assert engine.cancel(tag) is True
    with pytest.raises(QueryCancelled):
        next(stream)
    assert engine.cancel(tag) is False


def test_timeout_is_enforced_in_the_engine(engine: Engine) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout) as info:
        run(engine, HEAVY[engine.name], limits=QueryLimits(timeout_s=1))
    assert time.monotonic() - started >= 0.9       # stopped by its limit, not before it
    assert "time limit of 1 s" in info.value.message


@pytest.fixture
def memory_capped(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """The engine as a 200 MB query sees it. DuckDB caps memory per database, not per query (its per-query
    ``operator_memory_limit`` spills instead of failing), so it gets its own small database; ClickHouse takes the
    per-query limit from QueryLimits."""
    if engine.name != "duckdb":
        yield engine
        return
    from engines.duckdb_engine import DuckDBEngine

    small = DuckDBEngine(tmp_path / "small.duckdb", capacity=1, memory_limit="200MB")
    small.start()
    yield small
    small.close()


def test_memory_limit_gives_clear_error_and_engine_recovers(memory_capped: Engine) -> None:
    with pytest.raises(EngineQueryError) as info:
        run(memory_capped, MEMORY_HOG[memory_capped.name], limits=QueryLimits(memory_limit="200MB"))
    assert "memory limit" in info.value.message.lower()
    assert table_of(run(memory_capped, "SELECT 41 + 1 AS x")).column("x").to_pylist() == [42]


def test_estimate_prices_columns_and_rows(engine: Engine) -> None:
    small, big = make_table(engine, 1_000), make_table(engine, 50_000)
    one_column = engine.estimate(f"SELECT a FROM {big}")
    all_columns = engine.estimate(f"SELECT a, b, c FROM {big}")
    small_table = engine.estimate(f"SELECT a FROM {small}")
    assert one_column.valid and all_columns.valid and small_table.valid
    assert one_column.referenced_tables == [big]
    assert all_columns.estimated_bytes_processed > one_column.estimated_bytes_processed > 0
    assert one_column.estimated_bytes_processed > small_table.estimated_bytes_processed > 0
    # an int64 costs 8 bytes a row (9 with ClickHouse's null map); a string is priced from its data
    # ("row-00000000" is 12 bytes; ClickHouse 26 also stores a UInt64 size and a null byte), not as a constant
    assert 50_000 * 8 <= one_column.estimated_bytes_processed <= 50_000 * 9
    strings = engine.estimate(f"SELECT b FROM {big}").estimated_bytes_processed
    assert 50_000 * 12 <= strings <= 50_000 * 22


def test_estimate_rejects_invalid_sql_without_running_it(engine: Engine) -> None:
    bad = engine.estimate("SELECT a,, FROM nowhere")
    assert not bad.valid and bad.error and bad.position is not None
    missing = engine.estimate("SELECT * FROM missing_table_xyz")
    assert not missing.valid and "missing_table_xyz" in (missing.error or "")
    db, name = default_db(engine), unique("never")
    suffix = " ENGINE = MergeTree ORDER BY tuple()" if engine.name == "clickhouse" else ""
    assert engine.estimate(f"CREATE TABLE {db}.{name} (x INTEGER){suffix}").valid
    assert not engine.table_exists(db, name)


def test_query_stats_are_filled(engine: Engine) -> None:
    table = make_table(engine, 20_000)
    stats = QueryStats()
    run(engine, f"SELECT sum(a) FROM {table}", stats=stats)
    assert stats.bytes_processed >= 20_000 * 8 * 0.9
    assert stats.rows_read >= 20_000


def test_explain_returns_plan_text(engine: Engine) -> None:
    table = make_table(engine, 10)
    assert table.split(".")[1] in engine.explain(f"SELECT a FROM {table}")


def test_catalog_lists_created_tables(engine: Engine) -> None:
    db, name = unique("db"), unique("cat")
    engine.create_table(db, name, [Column("id", Scalar("int64"), nullable=False), Column("label", Scalar("string"))])
    engine.insert_arrow(db, name, pa.table({"id": pa.array([1, 2], pa.int64()), "label": ["a", "b"]}))
    assert engine.table_exists(db, name)
    entry = {t.qualified_name: t for t in engine.catalog()}[f"{db}.{name}"]
    assert [c.name for c in entry.columns] == ["id", "label"]
    assert entry.row_count == 2
    assert not any(t.database.lower() in ("system", "information_schema", "pg_catalog") for t in engine.catalog())
    engine.drop_table(db, name)
    assert not engine.table_exists(db, name)


ALL_TYPES = [
    Column("id", Scalar("int64"), nullable=False),
    Column("u64", Scalar("uint64")),
    Column("flag", Scalar("bool")),
    Column("f32", Scalar("float32")),
    Column("name", Scalar("string")),
    Column("blob", Scalar("binary")),
    Column("day", Scalar("date")),
    Column("doc", Scalar("json")),
    Column("ts", Timestamp()),
    Column("dur", Interval()),
    Column("color", Enum((("RED", 0), ("GREEN", 1)))),
    Column("tags", ListOf(Scalar("string")), nullable=False),
    Column("attrs", MapOf(Scalar("string"), Scalar("int32")), nullable=False),
    Column("point", Struct((Column("x", Scalar("int32")), Column("label", Scalar("string"))))),
    Column("opt", Scalar("int32")),
]
UTC = dt.UTC
ALL_TYPES_DATA = pa.table({
    "id": pa.array([1, 2], pa.int64()),
    "u64": pa.array([2**64 - 1, 0], pa.uint64()),
    "flag": pa.array([True, None]),
    "f32": pa.array([1.5, None], pa.float32()),
    "name": ["héllo", None],
    "blob": pa.array([b"\x0a\x00", None], pa.binary()),
    "day": pa.array([dt.date(2024, 1, 2), None]),
    "doc": ['{"a": 1}', None],
    "ts": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC), None], pa.timestamp("us", tz="UTC")),
    "dur": pa.array([dt.timedelta(seconds=5, microseconds=7), None], pa.duration("us")),
    "color": ["GREEN", "7"],                        # 7 is a number the enum does not know; it must survive
    "tags": pa.array([["a", "b"], []], pa.list_(pa.string())),
    "attrs": pa.array([[("k", 1)], []], pa.map_(pa.string(), pa.int32())),
    "point": pa.array([{"x": 1, "label": "p"}, None], pa.struct([("x", pa.int32()), ("label", pa.string())])),
    "opt": pa.array([None, 3], pa.int32()),
})


def _micros(value: object) -> object:
    """Intervals come back as DuckDB INTERVAL or ClickHouse Int64 microseconds."""
    if isinstance(value, dt.timedelta):
        return value // dt.timedelta(microseconds=1)
    if hasattr(value, "nanoseconds"):
        return (value.days * 86_400_000_000_000 + value.nanoseconds) // 1000
    return value


def _bytes(value: object) -> object:
    return value.encode() if isinstance(value, str) else value


def test_create_table_from_neutral_types_round_trips_values(engine: Engine) -> None:
    db, name = unique("types"), unique("all")
    ddl = engine.create_table(db, name, ALL_TYPES)
    assert name in ddl and ddl == engine.render_ddl(db, name, ALL_TYPES, if_not_exists=True)
    assert engine.insert_arrow(db, name, ALL_TYPES_DATA) == 2
    rows = table_of(run(engine, f"SELECT * FROM {db}.{name} ORDER BY id")).to_pylist()
    first, second = rows
    assert first["u64"] == 2**64 - 1 and second["u64"] == 0
    assert first["flag"] is True and second["flag"] is None
    assert first["f32"] == 1.5 and second["f32"] is None
    assert first["name"] == "héllo" and second["name"] is None
    assert _bytes(first["blob"]) == b"\x0a\x00" and second["blob"] is None
    assert first["day"] == dt.date(2024, 1, 2) and second["day"] is None
    assert json.loads(first["doc"]) == {"a": 1} and second["doc"] is None
    assert first["ts"] == dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC) and second["ts"] is None
    assert _micros(first["dur"]) == 5_000_007 and second["dur"] is None
    assert [first["color"], second["color"]] == ["GREEN", "7"]
    assert first["tags"] == ["a", "b"] and second["tags"] == []
    assert dict(first["attrs"]) == {"k": 1} and dict(second["attrs"]) == {}
    assert first["point"] == {"x": 1, "label": "p"} and second["point"] is None
    assert first["opt"] is None and second["opt"] == 3


def test_create_table_replace_and_if_not_exists(engine: Engine) -> None:
    db, name = unique("repl"), unique("t")
    engine.create_table(db, name, [Column("a", Scalar("int32"))])
    engine.insert_arrow(db, name, pa.table({"a": pa.array([1], pa.int32())}))
    engine.create_table(db, name, [Column("a", Scalar("int32"))])        # exists: left alone
    assert table_of(run(engine, f"SELECT count(*) AS n FROM {db}.{name}")).column("n").to_pylist() == [1]
    engine.create_table(db, name, [Column("b", Scalar("string"))], replace=True)
    assert [c.name for c in {t.qualified_name: t for t in engine.catalog()}[f"{db}.{name}"].columns] == ["b"]


def test_identifiers_are_quoted(engine: Engine) -> None:
    db, name = unique("odd-db"), unique("odd table")
    columns = [Column("select", Scalar("int32")), Column('with "quote" and space', Scalar("string"))]
    engine.create_table(db, name, columns)
    engine.insert_arrow(db, name, pa.table({"select": pa.array([1], pa.int32()), 'with "quote" and space': ["v"]}))
    assert engine.table_exists(db, name)
    entry = {t.qualified_name: t for t in engine.catalog()}[f"{db}.{name}"]
    assert [c.name for c in entry.columns] == ["select", 'with "quote" and space']


def test_quote_makes_any_name_usable_in_sql(engine: Engine) -> None:
    db = default_db(engine)
    name = unique("q") + " `x` \"y\" \\z 'w'"
    run(engine, f"CREATE TABLE {engine.quote(db)}.{engine.quote(name)} ({engine.quote('a`b')} INTEGER)")
    assert engine.table_exists(db, name)
    run(engine, f"INSERT INTO {engine.quote(db)}.{engine.quote(name)} VALUES (7)")
    result = table_of(run(engine, f"SELECT {engine.quote('a`b')} FROM {engine.quote(db)}.{engine.quote(name)}"))
    assert result.column_names == ["a`b"] and result.to_pylist() == [{"a`b": 7}]
    assert type(engine).quote("plain") in ('"plain"', "`plain`")   # static: no connection needed


def test_every_declared_capability_has_a_reader() -> None:
    """A ``supports_*`` flag on the contract is there because some caller branches on it; one nobody reads is
    a promise nobody keeps (issue 13 removed ``supports_progress`` and ``supports_cancel`` for that)."""
    flags = [name for name in Engine.__annotations__ if name.startswith("supports_")]
    app = Path(__file__).resolve().parents[2] / "bqlite_app"
    sources = "\n".join(p.read_text(encoding="utf-8") for p in app.rglob("*.py"))
    assert flags and all(f".{flag}" in sources for flag in flags), flags


def test_insert_is_all_or_nothing(engine: Engine) -> None:
    db, name = default_db(engine), unique("atomic")
    run(engine, CHECKED_TABLE[engine.name].format(t=f"{db}.{name}"))
    rows = 1_500_000                       # more than ClickHouse's default insert block (1,048,449 rows)
    values = pa.array(range(rows), pa.int64())
    bad = pa.concat_arrays([values.slice(0, rows - 1), pa.array([5_000_000_000], pa.int64())])
    data = pa.Table.from_batches([pa.record_batch({"x": bad.slice(i, 500_000)}) for i in range(0, rows, 500_000)])
    with pytest.raises(EngineQueryError):
        engine.insert_arrow(db, name, data)
    assert table_of(run(engine, f"SELECT count(*) AS n FROM {db}.{name}")).column("n").to_pylist() == [0]
    assert engine.insert_arrow(db, name, pa.table({"x": values})) == rows
    assert table_of(run(engine, f"SELECT count(*) AS n FROM {db}.{name}")).column("n").to_pylist() == [rows]
