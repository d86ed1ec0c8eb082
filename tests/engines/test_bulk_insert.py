"""open_insert and add_columns: many batches land at once or not at all; tables grow new nullable columns."""

import uuid

import pyarrow as pa
import pytest

from engines.errors import EngineError
from engines.types import Column, Scalar


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def count(engine, qualified: str) -> int:
    batches = list(engine.execute(f"SELECT count(*) AS n FROM {qualified}", query_tag=unique("q")))
    return pa.Table.from_batches(batches).column(0)[0].as_py()


def make_table(engine) -> tuple[str, str]:
    db, table = unique("bulk"), unique("t")
    engine.create_table(db, table, [Column("id", Scalar("int64"), nullable=False), Column("name", Scalar("string"))])
    return db, table


def batch(start: int, rows: int) -> pa.RecordBatch:
    return pa.record_batch({"id": pa.array(range(start, start + rows), pa.int64()),
                            "name": pa.array([f"n{i}" for i in range(rows)])})


def test_rows_are_invisible_until_commit_then_all_appear(engine):
    db, table = make_table(engine)
    bulk = engine.open_insert(db, table)
    for start in (0, 1000, 2000):
        bulk.write(batch(start, 1000))
    assert count(engine, f"{db}.{table}") == 0
    assert bulk.commit() == 3000
    assert count(engine, f"{db}.{table}") == 3000


def test_abort_leaves_no_rows_and_no_staging_tables(engine):
    db, table = make_table(engine)
    bulk = engine.open_insert(db, table)
    bulk.write(batch(0, 500))
    bulk.abort()
    assert count(engine, f"{db}.{table}") == 0
    assert [t.name for t in engine.catalog() if t.database == db] == [table]


def test_a_failing_batch_aborts_everything(engine):
    db, table = make_table(engine)
    bulk = engine.open_insert(db, table)
    bulk.write(batch(0, 100))
    bad = pa.record_batch({"id": pa.array([1], pa.int64()), "no_such_column": pa.array(["x"])})
    with pytest.raises(EngineError):
        bulk.write(bad)
        bulk.commit()
    assert count(engine, f"{db}.{table}") == 0


def test_add_columns_keeps_existing_rows(engine):
    db, table = make_table(engine)
    engine.insert_arrow(db, table, pa.Table.from_batches([batch(0, 3)]))
    engine.add_columns(db, table, [Column("tip", Scalar("float64"))])
    rows = pa.Table.from_batches(list(engine.execute(
        f"SELECT id, tip FROM {db}.{table} ORDER BY id", query_tag=unique("q")))).to_pylist()
    assert [r["id"] for r in rows] == [0, 1, 2]
    assert {r["tip"] for r in rows} <= {None, 0.0}
    assert "tip" in [c.name for t in engine.catalog() if t.name == table for c in t.columns]
