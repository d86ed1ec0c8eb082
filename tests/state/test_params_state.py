"""The parameter boxes on the workspace state (no browser): a value's type follows it until one is picked, and only
the SQL's own parameters are kept, whatever a crafted event names."""

from __future__ import annotations

import pytest

from bqlite_app.state.workspace import QueryTab, WorkspaceState


def _event(state: WorkspaceState, name: str, *args):
    return WorkspaceState.event_handlers[name].fn(state, *args)


@pytest.fixture
def state() -> WorkspaceState:
    s = WorkspaceState(_reflex_internal_init=True)
    s.tabs = [QueryTab(id="t1", title="Query 1", sql="")]
    s.active_id = "t1"
    s.editor_text = "SELECT * FROM nyc_taxi WHERE passenger_count >= @n AND tip_amount > @Tip"
    return s


def test_typing_sets_the_value_and_a_type_until_one_is_picked(state):
    _event(state, "set_param_value", "n", "4")
    _event(state, "set_param_value", "tip", "2.5")                 # names match case-insensitively
    assert state.param_rows == [{"name": "n", "type": "INT64", "value": "4"},
                                {"name": "Tip", "type": "FLOAT64", "value": "2.5"}]
    _event(state, "set_param_type", "n", "STRING")
    _event(state, "set_param_value", "n", "5")
    assert state.param_rows[0] == {"name": "n", "type": "STRING", "value": "5"}
    assert state._param_list()[0] == {"name": "n", "type": "STRING", "value": "5"}


def test_names_the_sql_does_not_hold_and_unknown_types_are_ignored(state):
    _event(state, "set_param_value", "n", "4")
    before = state.param_settings
    for name in ["nope", "x" * 10_000, None, 7, ["n"]]:
        _event(state, "set_param_value", name, "1")
        _event(state, "set_param_type", name, "INT64")
    _event(state, "set_param_type", "n", "INT64; DROP TABLE t")
    assert state.param_settings == before
