"""Every example query runs on its engine against the sample data."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest

from bqlite_app.examples import ENGINES, EXAMPLES, Example, examples_for
from bqlite_app.sample_data import ensure_sample_loaded
from engines.base import Engine
from tests.test_sample_data import SAMPLE_ROWS


def _run(engine: Engine, sql: str) -> pa.Table:
    return pa.Table.from_batches(list(engine.execute(sql, query_tag="t-example")))


@pytest.fixture
def loaded(request: pytest.FixtureRequest) -> dict[str, Engine]:
    engines = {name: request.getfixturevalue(f"{name}_engine") for name in ENGINES}
    for engine in engines.values():
        ensure_sample_loaded(engine, SAMPLE_ROWS)
    return engines


def test_each_example_exists_once_per_engine() -> None:
    assert 6 <= len(EXAMPLES) // len(ENGINES) <= 10
    assert Counter(e.title for e in EXAMPLES) == {title: len(ENGINES) for title in {e.title for e in EXAMPLES}}
    assert {e.engine for e in EXAMPLES} == set(ENGINES)
    assert all(e.description and "nyc_taxi" in e.sql and not e.sql.rstrip().endswith(";") for e in EXAMPLES)


def test_examples_for_filters_by_engine() -> None:
    assert [e["title"] for e in examples_for(None)] == [e.title for e in EXAMPLES]
    assert examples_for(None)[0] == {"title": EXAMPLES[0].title, "description": EXAMPLES[0].description,
                                     "sql": EXAMPLES[0].sql, "engine": EXAMPLES[0].engine}
    assert [e["engine"] for e in examples_for("duckdb")] == ["duckdb"] * (len(EXAMPLES) // 2)
    assert examples_for("postgres") == []


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"{e.engine}-{e.title}")
def test_example_runs_and_returns_rows(example: Example, loaded: dict[str, Engine]) -> None:
    result = _run(loaded[example.engine], example.sql)
    assert result.num_rows > 0


@pytest.mark.parametrize("title", sorted({e.title for e in EXAMPLES}))
def test_both_engines_agree(title: str, loaded: dict[str, Engine]) -> None:
    """Dialect variants answer the same question: the same table, up to float summation order."""
    duck, click = (_run(loaded[e.engine], e.sql) for e in EXAMPLES if e.title == title)
    assert duck.schema.names == click.schema.names
    assert duck.num_rows == click.num_rows
    for name in duck.schema.names:
        a, b = duck.column(name).to_pylist(), click.column(name).to_pylist()
        if pa.types.is_floating(duck.schema.field(name).type):
            assert a == pytest.approx(b, rel=1e-9, abs=0.011), name      # a rounded cent may flip
        else:
            assert a == b, name
