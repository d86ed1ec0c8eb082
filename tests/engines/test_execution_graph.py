"""The execution graph of a run, on every engine: read from the run itself (DuckDB's profile, ClickHouse's logs)."""

from __future__ import annotations

import json
import time
import uuid

import pyarrow as pa
import pytest

from engines.base import Engine, QueryStats
from engines.execution_graph import (
    MAX_OPERATORS,
    SLOW_SHARE,
    ExecutionGraph,
    Operator,
    Processor,
    finish,
    from_duckdb_profile,
    from_processors,
)
from engines.types import Column, Scalar


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def join_tables(duckdb_engine: Engine, clickhouse_engine: Engine) -> dict[str, tuple[str, str]]:
    """Two tables per engine to join: 200k facts and 2k dimension rows."""
    made = {}
    for engine in (duckdb_engine, clickhouse_engine):
        db = "main" if engine.name == "duckdb" else "default"
        facts, dims = unique("facts"), unique("dims")
        engine.create_table(db, facts, [Column("k", Scalar("int64")), Column("x", Scalar("float64"))])
        engine.create_table(db, dims, [Column("k", Scalar("int64")), Column("name", Scalar("string"))])
        engine.insert_arrow(db, facts, pa.table({"k": pa.array([i % 2000 for i in range(200_000)], pa.int64()),
                                                 "x": pa.array([i / 7 for i in range(200_000)], pa.float64())}))
        engine.insert_arrow(db, dims, pa.table({"k": pa.array(range(2000), pa.int64()),
                                                "name": [f"name-{i % 50}" for i in range(2000)]}))
        made[engine.name] = (f"{db}.{facts}", f"{db}.{dims}")
    return made


def run_graph(engine: Engine, sql: str) -> tuple[ExecutionGraph | None, QueryStats]:
    stats = QueryStats()
    list(engine.execute(sql, query_tag=unique("job"), stats=stats))
    if stats.graph is not None or stats.profile_ref is None:
        return stats.graph, stats
    deadline = time.monotonic() + 60         # ClickHouse writes its logs in the background
    while time.monotonic() < deadline:
        graph = engine.execution_graph(stats.profile_ref)
        if graph is not None:
            return graph, stats
        time.sleep(0.5)
    return None, stats


def nodes(graph: ExecutionGraph) -> list[Operator]:
    return [node for _, node in graph.root.walk()]


def test_a_join_has_a_graph_of_its_own_run(engine: Engine, join_tables) -> None:
    facts, dims = join_tables[engine.name]
    sql = (f"SELECT d.name, count(*) AS n, sum(f.x) AS total FROM {facts} f JOIN {dims} d ON f.k = d.k "
           "GROUP BY d.name ORDER BY n DESC LIMIT 5")
    graph, _ = run_graph(engine, sql)
    assert graph is not None
    assert graph.source == ("duckdb_profile" if engine.name == "duckdb" else "clickhouse_processors_profile_log")
    ops = nodes(graph)
    assert graph.operator_count == len(ops) >= 4 and not graph.truncated
    names = " ".join(op.name.upper() for op in ops)
    assert "JOIN" in names and ("SCAN" in names or "READFROM" in names) and ("GROUP" in names or "AGGREGAT" in names)
    # Times are the run's own: they add up to the total, shares to one, and the biggest share is marked slow.
    assert graph.total_ms > 0
    assert sum(op.time_ms or 0 for op in ops) == pytest.approx(graph.total_ms, rel=0.01, abs=0.01)
    assert sum(op.share or 0 for op in ops) == pytest.approx(1.0, abs=0.01)
    assert all(op.slow == ((op.share or 0) >= SLOW_SHARE) for op in ops)
    assert max(op.share or 0 for op in ops) >= 1 / len(ops)
    # Rows: the scans read every fact row, and the top of the tree emits the five result rows.
    assert max(op.rows or 0 for op in ops) >= 200_000
    assert graph.root.rows == 5 or any(op.rows == 5 for op in ops[:3])
    assert any(facts.split(".")[1] in op.detail for op in ops)
    # It survives being kept with the job.
    assert ExecutionGraph.of(json.loads(graph.to_json())).as_dict() == graph.as_dict()


def test_a_query_that_reads_no_table_keeps_no_profile(engine: Engine) -> None:
    graph, stats = run_graph(engine, "SELECT 1 AS one")
    assert graph is None and stats.profile_ref is None


def test_no_second_execution(engine: Engine, join_tables) -> None:
    """Reading the graph later runs nothing: the engine sees no new query with the job's SQL text."""
    facts, _ = join_tables[engine.name]
    marker = unique("once")
    graph, stats = run_graph(engine, f"SELECT count(*) AS n, '{marker}' AS m FROM {facts} WHERE x > 1")
    assert graph is not None
    if engine.name == "clickhouse":
        ref = stats.profile_ref
        assert ref is not None and engine.execution_graph(ref) is not None
        runs = list(engine.execute(
            f"SELECT query FROM system.query_log WHERE type = 'QueryFinish' AND query LIKE '%{marker}%' "
            "AND query NOT LIKE '%system.query_log%' AND query NOT LIKE '%EXPLAIN %'", query_tag=unique("q")))
        assert len(runs[0].column(0)) == 1, runs[0].column(0).to_pylist()


def test_duckdb_profile_becomes_a_tree() -> None:
    profile = {"operator": [{"name": "RESULT_COLLECTOR", "timing": 0.001, "intermediate_rows": 0, "children": [
        {"name": "HASH_JOIN", "timing": 0.006, "intermediate_rows": 10,
         "extra_info": {"Join Type": "INNER", "Conditions": "a = b", "Estimated Cardinality": "9"}, "children": [
             {"name": "SEQ_SCAN", "timing": 0.003, "intermediate_rows": 100,
              "extra_info": {"Table": "db.main.t", "Projections": ["a", "c"], "Filters": "c > 1"}},
             {"name": "SEQ_SCAN", "timing": 0.0, "intermediate_rows": 5, "extra_info": {"Table": "db.main.u"}}]}]}]}
    graph = from_duckdb_profile(profile)
    assert graph is not None
    root = graph.root
    # The result collector folds into the query's top operator.
    assert root.name == "HASH_JOIN" and root.time_ms == pytest.approx(7.0) and root.rows == 10
    assert root.detail == "INNER · conditions: a = b"
    assert [c.detail for c in root.children] == ["main.t · filters: c > 1 · projections: a, c", "main.u"]
    assert graph.total_ms == pytest.approx(10.0)
    assert root.share == pytest.approx(0.7) and root.slow and root.children[0].slow and not root.children[1].slow
    assert from_duckdb_profile({"operator": []}) is None


def test_clickhouse_processors_group_into_plan_steps() -> None:
    def proc(pid, parents, step, step_name, name, us, rows_in, rows_out, description=""):
        return Processor(pid, tuple(parents), step, step_name, description, name, us, rows_in, rows_out)

    graph = from_processors([
        proc(1, [2], 10, "ReadFromMergeTree", "MergeTreeSelect", 3000, 0, 1000, "default.t"),
        proc(5, [2], 10, "ReadFromMergeTree", "MergeTreeSelect", 1000, 0, 500, "default.t"),
        proc(2, [3], 20, "Aggregating", "AggregatingTransform", 5000, 1500, 10),
        proc(3, [4], 0, "", "LimitsCheckingTransform", 10, 10, 10),
        proc(4, [], 0, "", "LazyOutputFormat", 20, 10, 0),
        proc(6, [4], 0, "", "NullSource", 0, 0, 0),
    ])
    assert graph is not None
    root = graph.root
    assert root.name == "Output" and root.rows == 10 and "LazyOutputFormat" in root.detail
    assert "NullSource" not in root.detail
    (aggregating,) = root.children
    assert aggregating.name == "Aggregating" and aggregating.rows == 10 and aggregating.time_ms == 5.0
    (read,) = aggregating.children
    assert read.name == "ReadFromMergeTree" and read.rows == 1500 and read.time_ms == 4.0
    assert read.detail == "default.t · MergeTreeSelect ×2"
    assert aggregating.slow and read.slow and not root.slow
    assert from_processors([]) is None


def test_big_graphs_are_truncated() -> None:
    root = Operator("ROOT", time_ms=1.0, children=[Operator(f"op{i}", time_ms=1.0) for i in range(MAX_OPERATORS * 2)])
    graph = finish("test", root)
    assert graph.truncated and graph.operator_count == MAX_OPERATORS == len(list(graph.root.walk()))
