"""The cell inspector's pure helpers: which cells open it, the value behind a grid cell, the tree and its folding."""

import json

from bqlite_app.state.inspector import (
    LONG_TEXT,
    MAX_LEAF_CHARS,
    cell_value,
    inspectable,
    parse_json,
    pretty_text,
    tree_rows,
    visible_rows,
)


def test_nested_values_json_text_and_long_text_open_the_inspector():
    assert inspectable("STRUCT<a INT64, b ARRAY<INT64>>", '{"a":1,"b":[1,2]}')
    assert inspectable("ARRAY<INT64>", "[]")
    assert inspectable("MAP<STRING, INT64>", '{"k":1}')
    assert inspectable("JSON", '{"a":1}')
    assert inspectable("STRING", '{"a":1}')                 # JSON held as text (DuckDB's JSON type arrives so)
    assert inspectable("STRING", "x" * (LONG_TEXT + 1))
    assert inspectable("STRING", "two\nlines")


def test_short_plain_values_and_nulls_do_not():
    assert not inspectable("STRING", "hello")
    assert not inspectable("STRING", "x" * LONG_TEXT)
    assert not inspectable("STRING", "{not json")
    assert not inspectable("STRUCT<a INT64>", "null")       # a NULL struct: nothing to inspect
    assert not inspectable("INT64", 42)
    assert not inspectable("FLOAT64", None)


def test_parse_json_takes_objects_and_arrays_only():
    assert parse_json(' {"a": [1, 2]} ') == {"a": [1, 2]}
    assert parse_json("[]") == []
    assert parse_json("42") is None
    assert parse_json('"text"') is None
    assert parse_json("[1, 2") is None
    assert parse_json("") is None


def test_cell_value_and_its_text():
    value, structured = cell_value("STRUCT<a INT64>", '{"a":1,"b":"é"}')
    assert (value, structured) == ({"a": 1, "b": "é"}, True)
    assert pretty_text(value, structured) == '{\n  "a": 1,\n  "b": "é"\n}'
    long = "word " * 30
    assert cell_value("STRING", long) == (long, False)
    assert pretty_text(long, False) == long                  # text is copied as it is, not as a JSON string
    assert cell_value("RANGE<DATE>", "[2024-01-01, 2024-02-01)") == ("[2024-01-01, 2024-02-01)", False)


def test_tree_rows_walk_depth_first_with_json_pointer_paths():
    rows = tree_rows({"a": 1, "b": [True, None, {"c/d": "x"}], "e": {}})
    assert [(r["path"], r["depth"], r["key"], r["kind"], r["text"], r["branch"]) for r in rows] == [
        ("", 0, "", "object", "{3 keys}", True),
        ("/a", 1, "a", "number", "1", False),
        ("/b", 1, "b", "array", "[3 items]", True),
        ("/b/0", 2, "[0]", "bool", "true", False),
        ("/b/1", 2, "[1]", "null", "null", False),
        ("/b/2", 2, "[2]", "object", "{1 key}", True),
        ("/b/2/c~1d", 3, "c/d", "string", '"x"', False),     # "/" in a key is escaped, never a level
        ("/e", 1, "e", "object", "{0 keys}", False),         # an empty object has nothing to fold
    ]


def test_big_values_are_cut_and_say_how_much_was_left_out():
    rows = tree_rows(list(range(100)), max_nodes=10)
    assert len(rows) == 11
    assert rows[-1]["kind"] == "more" and "91 more nodes" in rows[-1]["text"]
    nested = tree_rows({"big": [[i, i] for i in range(50)]}, max_nodes=5)
    assert nested[-1]["kind"] == "more"
    assert nested[-1]["text"].startswith(f"… {1 + 1 + 50 * 3 - 5:,} more")
    leaf = tree_rows(["y" * 1000])[1]["text"]
    assert len(leaf) == MAX_LEAF_CHARS and leaf.endswith("…")


def test_a_deep_value_does_not_hit_the_recursion_limit():
    value: list = []
    for _ in range(5000):
        value = [value]
    rows = tree_rows(value, max_nodes=100_000)
    assert len(rows) == 5001 and rows[-1]["depth"] == 5000


def test_collapsing_a_branch_hides_what_is_under_it():
    rows = tree_rows({"a": {"b": [1, 2]}, "ab": 3})
    assert [r["path"] for r in visible_rows(rows, [])] == ["", "/a", "/a/b", "/a/b/0", "/a/b/1", "/ab"]
    shown = visible_rows(rows, ["/a"])
    assert [r["path"] for r in shown] == ["", "/a", "/ab"]         # "/ab" is a sibling, not under "/a"
    assert [r["collapsed"] for r in shown] == [False, True, False]
    assert [r["path"] for r in visible_rows(rows, ["/a/b"])] == ["", "/a", "/a/b", "/ab"]
    assert [r["path"] for r in visible_rows(rows, [""])] == [""]


def test_the_tree_round_trips_the_values_it_shows():
    value = {"n": 2**53, "f": 1.5, "s": "quote \" and \\", "u": "ü"}
    leaves = {r["key"]: json.loads(r["text"]) for r in tree_rows(value) if r["depth"] == 1}
    assert leaves == value
