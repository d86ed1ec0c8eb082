"""The result chart's pure helpers: default columns and aggregate, series, points from a page or an aggregate, the
caption, and the browser-side export script."""

import datetime
import re

import pyarrow as pa

from bqlite_app.components.chart import CHART_ID, export_script
from bqlite_app.state.chart import (
    CHART_MAX_POINTS,
    PALETTE,
    ChartData,
    default_aggregate,
    default_columns,
    describe_aggregate,
    export_name,
    page_points,
    series_of,
    table_points,
)

COLUMNS = [{"name": "day", "type": "DATE"}, {"name": "fare", "type": "FLOAT64"},
           {"name": "trips", "type": "INT64"}, {"name": "note", "type": "STRING"}]


def test_default_columns_plot_the_first_number_against_the_first_column():
    assert default_columns(COLUMNS) == ("day", ["fare"])
    assert default_columns([{"name": "n", "type": "INT64"}]) == ("n", ["n"])
    assert default_columns([{"name": "s", "type": "STRING"}]) == ("s", [])
    assert default_columns([]) == ("", [])


def test_a_result_bigger_than_the_page_is_aggregated_by_default():
    assert default_aggregate(total_rows=500, page_rows=500) == "none"
    assert default_aggregate(total_rows=1_000_000, page_rows=1000) == "sum"


def test_series_have_safe_keys_names_and_colours():
    assert series_of(["fare", "a.b"], "avg") == [
        {"key": "y0", "name": "average of fare", "color": PALETTE[0]},
        {"key": "y1", "name": "average of a.b", "color": PALETTE[1]},    # a dotted name is never a recharts key
    ]
    assert series_of(["fare"], "none") == [{"key": "y0", "name": "fare", "color": PALETTE[0]}]
    assert series_of([], "count") == [{"key": "y0", "name": "rows", "color": PALETTE[0]}]
    assert series_of([], "sum") == []
    assert len({s["color"] for s in series_of([f"c{i}" for i in range(8)], "sum")}) == 8


def test_page_points_take_the_first_rows_and_leave_gaps_for_non_numbers():
    rows = [["2024-01-01", 1.5, 3, "a"], ["2024-01-02", "NaN", None, "b"], [None, "2.50", 1, "c"]]
    assert page_points(COLUMNS, rows, "day", ["fare", "trips"]) == [
        {"x": "2024-01-01", "y0": 1.5, "y1": 3.0},
        {"x": "2024-01-02", "y0": None, "y1": None},
        {"x": "null", "y0": 2.5, "y1": 1.0},
    ]
    many = [["d", i, i, ""] for i in range(CHART_MAX_POINTS + 10)]
    assert len(page_points(COLUMNS, many, "day", ["fare"])) == CHART_MAX_POINTS
    assert page_points(COLUMNS, rows, "missing", ["fare"]) == []
    assert page_points(COLUMNS, rows, "day", []) == []


def test_table_points_read_an_aggregate_in_column_order():
    table = pa.table({
        "day": pa.array([datetime.date(2024, 1, 1), None], pa.date32()),
        "fare": pa.array([10.5, 2.0]),
        "trips": pa.array([3, None], pa.int64()),
    })
    assert table_points(table) == [{"x": "2024-01-01", "y0": 10.5, "y1": 3.0}, {"x": "null", "y0": 2.0, "y1": None}]
    count = pa.table({"k": pa.array(["a", "b"]), "count": pa.array([5, 7], pa.int64())})
    assert table_points(count) == [{"x": "a", "y0": 5.0}, {"x": "b", "y0": 7.0}]
    assert table_points(pa.table({})) == []


def test_the_caption_says_what_was_aggregated_and_how_groups_were_cut():
    points = [{"x": i} for i in range(7)]
    plain = ChartData(points=points, rows=1_000_000, groups=7, binned=False, truncated=False)
    assert describe_aggregate(plain, "k", "sum") == "Sum by k over all 1,000,000 rows, on the server · 7 groups"
    assert describe_aggregate(plain, "k", "max", filtered=True) == (
        "Maximum by k over the 1,000,000 rows that pass the grid's filters, on the server · 7 groups")
    binned = ChartData(points=points * 100, rows=1_000_000, groups=1_000_000, binned=True, truncated=False)
    assert "in 700 equal-width bins" in describe_aggregate(binned, "n", "avg")
    cut = ChartData(points=points, rows=10, groups=9, binned=False, truncated=True)
    assert describe_aggregate(cut, "s", "count").endswith("the 7 largest of 9 groups")


def test_export_script_names_the_chart_box_and_the_format():
    for fmt in ("png", "svg"):
        script = export_script(fmt)
        assert script.strip().startswith("(function (format)") and script.strip().endswith(f'("{fmt}")')
        assert f'document.getElementById("{CHART_ID}")' in script
        assert "http" not in script.replace("http://www.w3.org/2000/svg", "")    # nothing is fetched
    assert re.fullmatch(r"chart-job_1-bar", export_name("job_1", "bar"))
    assert export_name("", "line") == "chart-result-line"
