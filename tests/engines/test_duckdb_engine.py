"""DuckDB-only behaviour: error positions from its LINE/caret markers and what the width model counts."""

from __future__ import annotations

import pytest

from engines.base import Engine
from engines.errors import EngineQueryError


def test_position_survives_a_truncated_error_line(duckdb_engine: Engine) -> None:
    # DuckDB shortens long lines around the error with "..."; the position must still point into the real SQL.
    head = "SELECT " + ", ".join(str(i) for i in range(200)) + ", "
    sql = head + "'a'::INT, " + ", ".join(str(i) for i in range(200))
    with pytest.raises(EngineQueryError) as info:
        list(duckdb_engine.execute(sql, query_tag="long"))
    assert info.value.message.startswith("Conversion Error")
    assert info.value.position == sql.index("::") + 1


def test_position_on_a_later_line(duckdb_engine: Engine) -> None:
    sql = "SELECT 1,\n  2,\n  3 +"
    with pytest.raises(EngineQueryError) as info:
        list(duckdb_engine.execute(sql, query_tag="lines"))
    assert info.value.position == sql.index("+") + 1


def test_filter_columns_are_priced(duckdb_engine: Engine) -> None:
    list(duckdb_engine.execute("CREATE TABLE filtered AS SELECT range AS a, 'value ' || range AS b FROM range(10000)",
                               query_tag="setup"))
    projected = duckdb_engine.estimate("SELECT b FROM filtered").estimated_bytes_processed
    filtered = duckdb_engine.estimate("SELECT b FROM filtered WHERE a > 5").estimated_bytes_processed
    assert filtered == projected + 10_000 * 8
