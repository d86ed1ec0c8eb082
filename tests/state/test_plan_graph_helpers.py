"""The job page's execution graph as rows: depth first, parents before children, bars and marks from the graph."""

from bqlite_app.state.plan_graph import graph_rows, time_text


def test_graph_rows_flatten_the_tree_depth_first():
    root = {"name": "HASH_JOIN", "detail": "INNER", "time_ms": 8.0, "rows": 10, "share": 0.8, "slow": True,
            "children": [
                {"name": "SEQ_SCAN", "detail": "main.t", "time_ms": 1.5, "rows": 1000, "share": 0.15, "slow": False,
                 "children": [{"name": "FILTER", "detail": "", "time_ms": 0.0, "rows": None, "share": 0.0,
                               "slow": False, "children": []}]},
                {"name": "SEQ_SCAN", "detail": "main.u", "time_ms": 0.5, "rows": 5, "share": 0.05, "slow": False,
                 "children": []}]}
    rows = graph_rows(root)
    assert [(r.name, r.depth, r.detail) for r in rows] == [
        ("HASH_JOIN", 0, "INNER"), ("SEQ_SCAN", 1, "main.t"), ("FILTER", 2, ""), ("SEQ_SCAN", 1, "main.u")]
    join, scan, filt, _ = rows
    assert join.slow and join.share == "80.0%" and join.bar == "80.0%" and join.time == "8.00 ms"
    assert join.rows == "10 rows" and join.indent == "0em"
    assert not scan.slow and scan.indent == "1.25em" and scan.rows == "1,000 rows"
    assert filt.bar == "0.0%" and filt.rows == "—" and filt.indent == "2.5em"


def test_time_text():
    assert time_text(None) == "—"
    assert time_text(0.1234) == "0.12 ms"
    assert time_text(1234.5) == "1,234 ms"
