"""The chart and cell-inspector mixins on the workspace state (no browser): how a new page, a click and the
chart's controls change the state, and how the mixins chain ResultsMixin's hooks."""

from __future__ import annotations

import pytest

from bqlite_app.jobs.result_view import RowFilter, SortKey
from bqlite_app.state.chart import MAX_SERIES
from bqlite_app.state.results import ResultPageData
from bqlite_app.state.workspace import WorkspaceState

COLUMNS = [{"name": "k", "type": "STRING"}, {"name": "person", "type": "STRUCT<name STRING, tags ARRAY<STRING>>"},
           {"name": "n", "type": "INT64"}, {"name": "v", "type": "FLOAT64"}]
ROWS = [["a", '{"name":"Ada","tags":["x"]}', 1, 0.5], ["b", "null", 2, 1.5]]


def _page(total_rows: int = 2, job_id: str = "job_1", columns=COLUMNS, rows=ROWS) -> ResultPageData:
    return ResultPageData(job_id=job_id, columns=columns, rows=rows, total_rows=total_rows, offset=0)


def _event(state: WorkspaceState, name: str, *args):
    return WorkspaceState.event_handlers[name].fn(state, *args)


@pytest.fixture
def state() -> WorkspaceState:
    s = WorkspaceState(_reflex_internal_init=True)
    s.job_id = "job_1"
    s._apply_page(_page())
    return s


def test_a_new_result_picks_chart_columns_and_how_to_aggregate(state):
    assert (state.chart_x, state.chart_ys, state.chart_agg) == ("k", ["n"], "none")   # all of it is on the page
    assert state.chart_data == [{"x": "a", "y0": 1.0}, {"x": "b", "y0": 2.0}]
    assert state.chart_caption == "Every row of the result (2), not aggregated"
    state._apply_page(_page(total_rows=1_000_000, job_id="job_2"))
    assert state.chart_agg == "sum"                                                   # bigger: the server groups
    state.chart_agg = "none"
    assert state.chart_caption.startswith("The first 2 rows of this page, not aggregated")


def test_paging_the_same_result_keeps_the_chart_choices(state):
    _event(state, "set_chart_x", "n")
    _event(state, "set_chart_agg", "max")
    state._apply_page(_page())
    assert (state.chart_x, state.chart_agg) == ("n", "max")


def test_the_series_picker_keeps_result_order_numbers_only_and_a_cap(state):
    _event(state, "toggle_chart_y", "v", True)
    _event(state, "toggle_chart_y", "k", True)          # not a number
    assert state.chart_ys == ["n", "v"]
    assert [s["name"] for s in state.chart_series] == ["n", "v"]
    _event(state, "toggle_chart_y", "n", False)
    assert state.chart_ys == ["v"]
    many = [{"name": f"c{i}", "type": "INT64"} for i in range(MAX_SERIES + 3)]
    state._apply_page(_page(columns=many, rows=[list(range(len(many)))], job_id="job_3"))
    for column in many:
        _event(state, "toggle_chart_y", column["name"], True)
    assert len(state.chart_ys) == MAX_SERIES
    _event(state, "set_chart_agg", "median")            # not offered: falls back to a sum
    assert state.chart_agg == "sum"
    _event(state, "set_chart_kind", "pie")
    assert state.chart_kind == "bar"


def test_the_chart_follows_the_grid_filters_not_its_sort(state):
    state.sort_column, state.sort_desc = "n", True
    state.row_filters = [{"column": "k", "op": "=", "value": "a", "label": "k = 'a'"}]
    view = state._chart_view()
    assert view.order_by == () and view.filters == (RowFilter("k", "=", "a"),)
    assert state._view().order_by == (SortKey("n", True),)


def test_a_click_on_a_nested_cell_opens_the_inspector(state):
    _event(state, "inspect_cell", (1, 0))
    assert state.inspect_open and state.inspect_structured
    assert (state.inspect_column, state.inspect_row, state.inspect_mode) == ("person", 1, "tree")
    assert state.inspect_text.startswith('{\n  "name": "Ada"')
    assert [r["path"] for r in state.inspect_visible] == ["", "/name", "/tags", "/tags/0"]
    _event(state, "toggle_inspect_node", "/tags")
    assert [r["path"] for r in state.inspect_visible] == ["", "/name", "/tags"]
    _event(state, "set_inspect_mode", "text")
    assert state.inspect_mode == "text"


def test_plain_cells_null_structs_and_stray_positions_leave_it_alone(state):
    for pos in [(0, 0), (1, 1), (9, 0), (0, 9), (-1, 0), ("x", 0), ()]:
        _event(state, "inspect_cell", pos)
        assert not state.inspect_open, pos


def test_other_rows_close_the_inspector(state):
    _event(state, "inspect_cell", (1, 0))
    state._apply_page(_page())                          # another page, a sort, a filter
    assert not state.inspect_open and state.inspect_tree == []
    _event(state, "inspect_cell", (1, 0))
    state._clear_result()                               # a new run
    assert not state.inspect_open
