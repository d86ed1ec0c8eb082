"""The pure helpers behind the parameter boxes: rows per detected name, what Run sends, the browser's copy."""

import pytest

from bqlite_app.state.params import (
    boxes_for,
    guess_type,
    param_rows,
    settings_from_json,
    to_parameters,
    type_after_typing,
)


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
    assert settings_from_json('{"t1": {"n": {"type": "DATE", "value": "", "picked": true}}}') == {
        "t1": {"n": {"type": "DATE", "value": "", "picked": "1"}}}
    assert settings_from_json("not json") == {} and settings_from_json("[1]") == {}
    assert settings_from_json('{"t1": [1], "t2": {"n": 3}}') == {"t2": {}}


def test_a_jobs_parameters_fill_the_boxes_when_they_are_scalars():
    assert boxes_for([{"name": "n", "type": "INT64", "value": "1"}, {"name": "b", "type": "BOOL", "value": True},
                      {"name": "x", "type": "DATE", "value": None},
                      {"name": "xs", "type": "ARRAY<INT64>", "value": ["1"]},
                      {"name": "s", "type": "BYTES", "value": "AA=="}]) == {
        "n": {"type": "INT64", "value": "1", "picked": "1"}, "b": {"type": "BOOL", "value": "true", "picked": "1"},
        "x": {"type": "DATE", "value": "", "picked": "1"}}


@pytest.mark.parametrize(("value", "expected"), [
    ("4", "INT64"), (" -12 ", "INT64"), ("3.5", "FLOAT64"), ("1e6", "FLOAT64"), ("TRUE", "BOOL"),
    ("2024-01-31", "DATE"), ("2024-01-31 08:30:00", "TIMESTAMP"), ("2024-01-31T08:30:00Z", "TIMESTAMP"),
    ("12345678901234567890", "STRING"), ("4 apples", "STRING"), ("", "STRING"), ("O'Brien", "STRING"),
])
def test_a_new_parameters_type_follows_what_is_typed(value, expected):
    # Until the user picks a type: typing 4 into a new box must not compare a number column with the string '4'.
    assert guess_type(value) == expected


def test_a_guessed_type_widens_but_a_picked_one_stays():
    assert type_after_typing({}, "4") == "INT64"
    assert type_after_typing({"type": "INT64"}, "4.5") == "FLOAT64"
    assert type_after_typing({"type": "FLOAT64"}, "5") == "FLOAT64"         # not narrowed again
    assert type_after_typing({"type": "STRING", "picked": "1"}, "5") == "STRING"
    assert type_after_typing({"type": "DATE", "picked": "1"}, "x") == "DATE"
