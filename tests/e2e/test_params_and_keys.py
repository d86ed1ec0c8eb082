"""Query parameters and the keyboard, in a real browser against the real app.

A query with ``@name`` parameters gets input boxes under the editor, and runs with the values bound by the engine;
Ctrl+Enter runs, Ctrl+Shift+Enter dry-runs, Ctrl+S opens the Save dialog, Esc cancels the running job and ``?``
lists the shortcuts.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.workspace import editor, status_badge, type_sql, workspace_page

LONG_QUERY = "SELECT sum(hash(a.range * b.range)) FROM range(1000000) a, range(1000000) b"
PARAMETERIZED = ("SELECT payment_type, count(*) AS trips\nFROM nyc_taxi\n"
                 "WHERE payment_type = @kind AND fare_amount >= @min_fare\nGROUP BY payment_type")


@pytest.fixture
def page(live_app, browser) -> Iterator:
    with workspace_page(browser, live_app.ui_url) as page:
        yield page


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(500)      # dialogs and toasts fade in
    page.screenshot(path=str(ARTIFACTS / name))


def set_parameter(page, name: str, typ: str, value: str) -> None:
    page.get_by_role("combobox", name=f"Type of @{name}").click()
    page.get_by_role("option", name=typ, exact=True).click()
    box = page.get_by_label(f"Value of @{name}")
    box.fill(value)
    expect(box).to_have_value(value)


def latest_job(live_app) -> dict:
    with httpx.Client(base_url=live_app.api_url, timeout=10) as http:
        return http.get("/jobs", params={"limit": 1}).json()["jobs"][0]


def wait_for_latest(live_app, done, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = latest_job(live_app)
        if done(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def job_total(live_app) -> int:
    with httpx.Client(base_url=live_app.api_url, timeout=10) as http:
        return http.get("/jobs").json()["total"]


def test_a_parameterized_query_gets_input_boxes_and_runs_with_bound_values(page, live_app):
    expect(page.get_by_role("group", name="Query parameters")).to_have_count(0)
    type_sql(page, PARAMETERIZED)
    boxes = page.get_by_role("group", name="Query parameters")
    expect(boxes).to_be_visible()
    expect(boxes.get_by_text("@kind")).to_be_visible()
    expect(boxes.get_by_text("@min_fare")).to_be_visible()
    # Until a type is picked, it follows what is typed: a number is a number.
    page.get_by_label("Value of @min_fare").fill("7.5")
    expect(page.get_by_role("combobox", name="Type of @min_fare")).to_have_text("FLOAT64")
    set_parameter(page, "kind", "INT64", "1")
    set_parameter(page, "min_fare", "FLOAT64", "5")
    validation = page.get_by_label("Query validation")
    expect(validation).to_contain_text(re.compile(r"This query will process"), timeout=30_000)
    # A bad value is caught before anything runs, naming the parameter.
    page.get_by_label("Value of @kind").fill("one")
    expect(validation).to_contain_text("is not an INT64", timeout=30_000)
    page.get_by_label("Value of @kind").fill("1")
    expect(validation).to_contain_text("This query will process", timeout=30_000)

    page.get_by_role("button", name="Run query").click()
    status_badge(page, "completed").wait_for(timeout=30_000)
    expect(page.get_by_test_id("glide-cell-1-0")).to_have_text("1", timeout=30_000)
    shot(page, "params-query.png")
    job = latest_job(live_app)
    assert "@kind" in job["sql"] and "@min_fare" in job["sql"]     # the text as written; values bound apart
    assert {p["name"]: (p["type"], p["value"]) for p in job["parameters"]} == {
        "kind": ("INT64", "1"), "min_fare": ("FLOAT64", "5")}

    # The job page shows what was bound.
    job_page = page.context.new_page()
    job_page.goto(f"{live_app.ui_url}/jobs/{job['job_id']}", wait_until="networkidle")
    expect(job_page.get_by_label("Query parameters")).to_have_text(
        "Parameters: @kind INT64 = 1 · @min_fare FLOAT64 = 5", timeout=30_000)
    job_page.close()

    # The same parameters on ClickHouse: its own placeholders, the same answer.
    page.get_by_role("combobox", name="Engine").click()
    page.get_by_role("option", name=re.compile("ClickHouse")).click()
    expect(page.get_by_label("Value of @kind")).to_have_value("1")
    editor(page).click(position={"x": 4, "y": 4})
    page.keyboard.press("Control+Enter")
    clickhouse_job = wait_for_latest(live_app, lambda j: j["job_id"] != job["job_id"] and j["status"] == "completed")
    assert clickhouse_job["engine"] == "clickhouse" and "@kind" in clickhouse_job["sql"]
    expect(page.get_by_test_id("glide-cell-1-0")).to_have_text("1")

    # The values belong to the tab and survive a reload.
    page.reload(wait_until="networkidle")
    expect(page.get_by_label("Value of @min_fare")).to_have_value("5", timeout=30_000)

    # A job opened from its link brings its parameters into the new tab.
    page.goto(f"{live_app.ui_url}/?job={job['job_id']}", wait_until="networkidle")
    expect(page.get_by_role("tablist", name="Query tabs").get_by_role("tab")).to_have_count(2, timeout=30_000)
    expect(page.get_by_role("combobox", name="Engine")).to_contain_text("DuckDB")
    expect(page.get_by_label("Value of @min_fare")).to_have_value("5")
    expect(page.get_by_role("combobox", name="Type of @min_fare")).to_have_text("FLOAT64")
    assert page.errors == []


def test_keyboard_shortcuts_and_the_overlay(page, live_app):
    # ? outside a text field opens the overlay; Esc closes it.
    page.get_by_label("Query validation").click()
    page.keyboard.press("?")
    overlay = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(overlay).to_be_visible()
    for text in ("Ctrl", "Enter", "Dry run", "Save the query", "Cancel the running job"):
        expect(overlay).to_contain_text(text)
    shot(page, "shortcuts-overlay.png")
    page.keyboard.press("Escape")
    expect(overlay).to_have_count(0)
    # In the editor, ? is just a character.
    type_sql(page, "SELECT '?' AS q")
    page.keyboard.press("?")
    expect(overlay).to_have_count(0)
    expect(editor(page)).to_contain_text("SELECT '?' AS q?")
    # The toolbar's button opens it too.
    page.get_by_role("button", name="Keyboard shortcuts").click()
    expect(overlay).to_be_visible()
    page.keyboard.press("Escape")
    expect(overlay).to_have_count(0)

    # Ctrl+Shift+Enter: a dry run, announced; no job.
    before = job_total(live_app)
    type_sql(page, "SELECT fare_amount FROM nyc_taxi")
    page.keyboard.press("Control+Shift+Enter")
    expect(page.get_by_text(re.compile(r"Dry run: This query will process"))).to_be_visible(timeout=30_000)
    shot(page, "shortcuts-dry-run.png")
    assert job_total(live_app) == before

    # Ctrl+Enter runs.
    page.keyboard.press("Control+Enter")
    status_badge(page, "completed").wait_for(timeout=30_000)
    assert job_total(live_app) == before + 1 and "fare_amount" in latest_job(live_app)["sql"]

    # Ctrl+S opens the Save dialog with the tab's latest text (not the browser's "save page").
    type_sql(page, "SELECT 1 AS saved_by_keyboard")
    page.keyboard.press("Control+s")
    save = page.get_by_role("dialog", name="Save query")
    expect(save).to_be_visible()
    shot(page, "shortcuts-save.png")
    page.keyboard.press("Escape")
    expect(save).to_have_count(0)
    # ... from anywhere on the page.
    page.get_by_label("Query validation").click()
    page.keyboard.press("Control+s")
    expect(save).to_be_visible()
    page.keyboard.press("Escape")

    # Esc cancels the running job.
    type_sql(page, LONG_QUERY)
    page.keyboard.press("Control+Enter")
    status_badge(page, "running").wait_for(timeout=30_000)
    page.keyboard.press("Escape")
    status_badge(page, "cancelled").wait_for(timeout=15_000)
    assert latest_job(live_app)["status"] == "cancelled"
    assert page.errors == []
