"""`bqlite jobs result --order-by --filter`: the whole result sorted and filtered by the server, in every format."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
import pytest

from tests.cli.conftest import Bqlite, submit, wait_done

ROWS = 20_000


@pytest.fixture(scope="module")
def job_id(api) -> str:
    sql = f"SELECT i AS id, i % 5 AS grp, 'item ' || (i % 13) AS label FROM range({ROWS}) t(i)"
    return wait_done(api, submit(api, sql))["job_id"]


def expected(pred, key=None) -> list[int]:
    ids = [i for i in range(ROWS) if pred(i)]
    return sorted(ids, key=key) if key else ids


def test_json_pages_are_sorted_and_filtered(bqlite: Bqlite, job_id: str) -> None:
    result = bqlite("jobs", "result", job_id, "--order-by", "grp:desc,id:desc", "--filter", "label:contains:ITEM 1",
                    "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    want = expected(lambda i: "item 1" in f"item {i % 13}", key=lambda i: (-(i % 5), -i))
    assert [row["id"] for row in rows] == want
    assert f"{len(want):,} rows" in result.stderr


def test_table_with_max_rows_counts_the_filtered_rows(bqlite: Bqlite, job_id: str) -> None:
    result = bqlite("jobs", "result", job_id, "--order-by", "id:desc", "--filter", "grp:=:2", "--max-rows", "3")
    assert result.exit_code == 0, result.stderr
    assert "19997" in result.stdout and "19992" in result.stdout and "19987" in result.stdout
    assert f"3 of {ROWS // 5:,} rows" in result.stderr


def test_exports_are_sorted_and_filtered(bqlite: Bqlite, job_id: str, tmp_path) -> None:
    target = tmp_path / "out.parquet"
    result = bqlite("jobs", "result", job_id, "--order-by", "label", "--filter", "grp:<:2", "--filter",
                    "id:>=:100", "-o", str(target))
    assert result.exit_code == 0, result.stderr
    ids = pq.read_table(target).column("id").to_pylist()
    assert ids == expected(lambda i: i % 5 < 2 and i >= 100, key=lambda i: (f"item {i % 13}", i))
    piped = bqlite("jobs", "result", job_id, "--filter", "id:<:4", "--format", "csv")
    assert piped.exit_code == 0, piped.stderr
    assert [int(r["id"]) for r in csv.DictReader(io.StringIO(piped.stdout))] == [0, 1, 2, 3]


@pytest.mark.parametrize("args", [["--order-by", "nope"], ["--filter", "id:~:1"], ["--filter", "id:>:many"],
                                  ["--order-by", "id:up"]])
def test_bad_sort_or_filter_is_the_api_error(bqlite: Bqlite, job_id: str, args: list[str]) -> None:
    result = bqlite("jobs", "result", job_id, *args, "--format", "csv")
    assert result.exit_code == 4
    assert "VALIDATION_FAILED" in result.stderr
