"""The GoogleSQL corpus again, end to end through the real client on both engines: the client's own parsing of our
f/v rows must give the same values the engines produce."""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud import bigquery

from tests.bigquery.test_sql_corpus import CORPUS


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
@pytest.mark.parametrize(("sql", "expected"), [(sql, rows) for _, sql, rows in CORPUS],
                         ids=[name for name, _, _ in CORPUS])
def test_corpus_through_the_client(bq: bigquery.Client, engine: str, sql: str,
                                   expected: list[dict[str, Any]]) -> None:
    config = bigquery.QueryJobConfig(labels={"bqlite-engine": engine})
    rows = [dict(row.items()) for row in bq.query_and_wait(sql, job_config=config)]
    assert rows == expected
