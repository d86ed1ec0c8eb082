"""The pure helpers behind the SQL workspace: grid cells, error positions, saved tabs, the explorer tree."""

import pyarrow as pa

from bqlite_app.state.catalog import engine_tree, insertable
from bqlite_app.state.grid import column_width, header_icon, to_number
from bqlite_app.state.results import line_and_column, table_to_page
from bqlite_app.state.workspace import _tabs_from_json
from engines.base import CatalogColumn, CatalogTable
from engines.clickhouse_engine import ClickHouseEngine
from engines.duckdb_engine import DuckDBEngine


def test_grid_pages_keep_numbers_and_show_nested_values_as_json():
    table = pa.table({
        "n": pa.array([1, None], pa.int64()),
        "s": pa.array(["a", None]),
        "flag": pa.array([True, False]),
        "l": pa.array([[1, 2], []], pa.list_(pa.int64())),
        "st": pa.array([{"a": 1, "b": "x"}, None], pa.struct([("a", pa.int64()), ("b", pa.string())])),
        "m": pa.array([[("k", 1)], []], pa.map_(pa.string(), pa.int64())),
    })
    page = table_to_page("job_1", table, total_rows=10, offset=4)
    assert [c["type"] for c in page.columns][:3] == ["INT64", "STRING", "BOOL"]
    assert page.rows == [
        [1, "a", "true", "[1,2]", '{"a":1,"b":"x"}', '{"k":1}'],
        [None, "null", "false", "[]", "null", "{}"],
    ]
    assert (page.total_rows, page.offset) == (10, 4)


def test_header_icons_follow_the_type():
    assert [header_icon(t) for t in ("INT64", "NUMERIC(10, 2)", "STRING", "ARRAY<INT64>", "STRUCT<a INT64>",
                                     "TIMESTAMP", "BOOL")] == [
        "headerNumber", "headerNumber", "headerString", "headerArray", "headerCode", "headerDate", "headerBoolean"]


def test_column_widths_fit_the_header_and_the_values_within_bounds():
    assert column_width("n", [1, 2]) == 64
    assert column_width("n", ["x" * 30]) == 30 * 8 + 24
    assert column_width("n", ["x" * 500]) == 420


def test_error_positions_become_line_and_column():
    sql = "SELECT\n  nope\nFROM t"
    assert line_and_column(sql, 10) == (2, 3)
    assert line_and_column(sql, 1) == (1, 1)
    assert line_and_column(sql, None) is None
    assert line_and_column(sql, 999) is None


def test_chart_values_accept_numbers_and_numeric_text_only():
    assert [to_number(v) for v in (1, 2.5, "3.25", "18446744073709551615", "x", None, True, "NaN")] == [
        1.0, 2.5, 3.25, 18446744073709551615.0, None, None, None, None]


def test_saved_tabs_are_read_defensively():
    tabs, active = _tabs_from_json('{"active": "t2", "tabs": [{"id": "t2", "title": "Q", "sql": "SELECT 1", '
                                   '"engine": "clickhouse", "job_id": "job_x"}, {"id": "t3", "title": "R", '
                                   '"engine": "oracle"}]}')
    assert active == "t2"
    assert [(t.id, t.engine, t.job_id) for t in tabs] == [("t2", "clickhouse", "job_x"), ("t3", "duckdb", "")]
    assert _tabs_from_json("not json") == ([], "")
    assert _tabs_from_json('{"tabs": [{"title": "no id"}]}') == ([], "")


def test_explorer_tree_groups_tables_and_quotes_names_that_need_it():
    tables = [
        CatalogTable("analytics", "events", [CatalogColumn("id", "BIGINT")], 5),
        CatalogTable("main", "my table", [CatalogColumn("x", "INTEGER")], None),
    ]
    tree = engine_tree("duckdb", tables, quote=DuckDBEngine.quote)
    assert [d.name for d in tree] == ["main", "analytics"]   # the default database first
    assert tree[0].tables[0].qualified == 'main."my table"' and tree[0].tables[0].rows == ""
    assert tree[1].tables[0].rows == "5 rows" and tree[1].tables[0].key == "duckdb/analytics/events"
    # Names are quoted by their engine's own rule (``Engine.quote``), and only when they need it.
    assert insertable("a`b", ClickHouseEngine.quote) == "`a\\`b`"
    assert insertable("events_2", ClickHouseEngine.quote) == "events_2"


def test_explorer_shows_datasets_that_have_no_tables_yet():
    tables = [CatalogTable("analytics", "events", [CatalogColumn("id", "BIGINT")], 5)]
    tree = engine_tree("duckdb", tables, ["analytics", "fresh"], quote=DuckDBEngine.quote)
    assert [(d.name, len(d.tables)) for d in tree] == [("analytics", 1), ("fresh", 0)]
