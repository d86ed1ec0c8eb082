"""The pure helpers behind the grid's server-side sort and filter row."""

from urllib.parse import parse_qsl, urlencode

from bqlite_app.jobs.result_view import RowFilter, SortKey, parse_view
from bqlite_app.state.results import FILTER_OPS, filter_chip, view_of


def test_the_grid_state_becomes_the_core_view():
    filters = [filter_chip("name", "contains", "a:b"), filter_chip("tip", "is_null", "ignored")]
    view = view_of("fare", True, filters)
    assert view.order_by == (SortKey("fare", True),)
    assert view.filters == (RowFilter("name", "contains", "a:b"), RowFilter("tip", "is_null"))
    assert not view_of("", False, []).active


def test_the_view_round_trips_through_query_parameters():
    view = view_of('odd, "name":x', False, [filter_chip("a:b", ">=", "2024-01-01 10:00:00")])
    pairs = parse_qsl(urlencode(view.params()))
    assert parse_view([v for k, v in pairs if k == "order_by"], [v for k, v in pairs if k == "filter"]) == view


def test_chip_labels_and_menu_ops():
    assert filter_chip("fare", ">=", "10")["label"] == "fare ≥ '10'"
    assert filter_chip("tip", "not_null", "")["label"] == "tip is not null"
    assert set(FILTER_OPS.values()) == {"contains", "=", "!=", "<", "<=", ">", ">=", "is_null", "not_null"}
