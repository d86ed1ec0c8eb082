"""The job page's line of bound parameters."""

from bqlite_app.state.jobs import parameters_line


def test_the_job_page_lists_each_bound_parameter_with_its_type_and_value():
    assert parameters_line([
        {"name": "kind", "type": "INT64", "value": "1"},
        {"name": "since", "type": "DATE", "value": None},
        {"name": "ids", "type": "ARRAY<INT64>", "value": ["1", "2"]},
        {"name": "who", "type": "STRUCT<name STRING>", "value": {"name": "Ada"}},
    ]) == ('@kind INT64 = 1 · @since DATE = NULL · @ids ARRAY<INT64> = ["1", "2"] · '
           '@who STRUCT<name STRING> = {"name": "Ada"}')
    assert parameters_line([]) == ""
