"""The pure helpers behind the parameter boxes: rows per detected name, what Run sends, the browser's copy."""

from bqlite_app.state.params import boxes_for, param_rows, settings_from_json, to_parameters


def test_rows_follow_the_names_in_the_sql_with_the_tabs_settings():
    settings = {"kind": {"type": "INT64", "value": "2"}, "gone": {"type": "DATE", "value": "x"}}
    assert param_rows(["Kind", "since"], settings) == [
        {"name": "Kind", "type": "INT64", "value": "2"}, {"name": "since", "type": "STRING", "value": ""}]


def test_an_empty_box_is_null_except_for_a_string():
    rows = [{"name": "a", "type": "STRING", "value": ""}, {"name": "b", "type": "INT64", "value": ""},
            {"name": "c", "type": "DATE", "value": "2024-01-01"}]
    assert to_parameters(rows) == [{"name": "a", "type": "STRING", "value": ""},
                                   {"name": "b", "type": "INT64", "value": None},
                                   {"name": "c", "type": "DATE", "value": "2024-01-01"}]


def test_the_browsers_copy_is_read_defensively():
    assert settings_from_json('{"t1": {"n": {"type": "INT64", "value": 5}}}') == {
        "t1": {"n": {"type": "INT64", "value": "5"}}}
    assert settings_from_json("not json") == {} and settings_from_json("[1]") == {}
    assert settings_from_json('{"t1": [1], "t2": {"n": 3}}') == {"t2": {}}


def test_a_jobs_parameters_fill_the_boxes_when_they_are_scalars():
    assert boxes_for([{"name": "n", "type": "INT64", "value": "1"}, {"name": "b", "type": "BOOL", "value": True},
                      {"name": "x", "type": "DATE", "value": None},
                      {"name": "xs", "type": "ARRAY<INT64>", "value": ["1"]},
                      {"name": "s", "type": "BYTES", "value": "AA=="}]) == {
        "n": {"type": "INT64", "value": "1"}, "b": {"type": "BOOL", "value": "true"},
        "x": {"type": "DATE", "value": ""}}
