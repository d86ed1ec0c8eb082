"""The job page draws the execution graph of a join's own run: operators as a tree with time bars, slow ones marked."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_jobs_pages import open_page, submit

pytestmark = pytest.mark.e2e

JOIN_SQL = ("SELECT p.payment_type, count(*) AS trips, avg(t.fare_amount) AS fare FROM nyc_taxi t "
            "JOIN (SELECT DISTINCT payment_type FROM nyc_taxi) p ON t.payment_type = p.payment_type "
            "GROUP BY p.payment_type ORDER BY trips DESC")


def graph_of(live_app, job_id: str) -> dict:
    deadline = time.monotonic() + 60        # ClickHouse logs in the background; a slow machine is slower
    with httpx.Client(base_url=live_app.api_url, timeout=30) as http:
        while True:
            graph = http.get(f"/jobs/{job_id}/plan").json()["execution_graph"]
            if graph["status"] != "pending" or time.monotonic() > deadline:
                return graph
            time.sleep(0.5)


def walk(node: dict):
    yield node
    for child in node["children"]:
        yield from walk(child)


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_the_plan_of_a_join_is_an_operator_tree_with_time_bars(live_app, browser, engine):
    job_id = submit(live_app, JOIN_SQL, engine=engine)
    graph = graph_of(live_app, job_id)
    assert graph["status"] == "available"
    nodes = list(walk(graph["root"]))
    page, errors = open_page(browser, f"{live_app.ui_url}/jobs/{job_id}")

    panel = page.get_by_role("region", name="Execution graph")
    operators = panel.get_by_role("treeitem")
    expect(operators).to_have_count(len(nodes), timeout=20000)
    expect(panel).to_contain_text(f"{len(nodes)} operators")
    # Depth first, parents before children, each at its depth; the join is there.
    assert operators.first.get_attribute("aria-level") == "1"
    assert operators.first.get_attribute("aria-label") == graph["root"]["name"]
    assert any("JOIN" in node["name"].upper() for node in nodes)
    expect(panel.get_by_role("treeitem", name="JOIN", exact=False).first).to_be_visible()
    # The slowest operator's share is on its row; slow operators carry the mark (and only they do).
    slowest = max(nodes, key=lambda node: node["share"])
    expect(operators.nth(nodes.index(slowest))).to_contain_text(f"{slowest['share']:.1%}")
    slow = [node for node in nodes if node["slow"]]
    expect(panel.locator("[data-slow='true']")).to_have_count(len(slow))
    expect(panel.get_by_text("slow", exact=True)).to_have_count(len(slow))
    assert slow, "a share of a quarter or more is always somewhere in a join this small"
    # The EXPLAIN stays beside it.
    expect(page.get_by_role("region", name="Query plan")).not_to_be_empty()

    ARTIFACTS.mkdir(exist_ok=True)
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"job-plan-{engine}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 1800})               # room for the whole tree
    panel.screenshot(path=str(ARTIFACTS / f"job-plan-{engine}-graph.png"))
    assert errors == []
    page.close()


def test_the_graph_appears_when_a_running_job_finishes(live_app, browser):
    job_id = submit(live_app, "SELECT count(*) AS n FROM nyc_taxi t JOIN range(30000000) r ON t.PULocationID = r.range",
                    wait=False)
    page, errors = open_page(browser, f"{live_app.ui_url}/jobs/{job_id}")
    panel = page.get_by_role("region", name="Execution graph")
    expect(page.get_by_text("completed", exact=True)).to_be_visible(timeout=60000)
    expect(panel.get_by_role("treeitem").first).to_be_visible(timeout=20000)
    expect(panel).to_contain_text("HASH_JOIN")
    assert errors == []
    page.close()


def test_a_job_without_a_graph_says_why(live_app, browser):
    job_id = submit(live_app, "SELECT 42 AS answer")
    page, errors = open_page(browser, f"{live_app.ui_url}/jobs/{job_id}")
    panel = page.get_by_role("region", name="Execution graph")
    expect(panel).to_contain_text("read no table", timeout=20000)
    expect(panel.get_by_role("treeitem")).to_have_count(0)
    assert errors == []
    page.close()
