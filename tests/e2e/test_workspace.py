"""The SQL workspace in a real browser against the real app: run, page, cancel, export, errors, tabs."""

from __future__ import annotations

import csv
import datetime
import re
import time
from collections.abc import Iterator

import httpx
import openpyxl
import pytest
from playwright.sync_api import expect

from tests.e2e.workspace import (
    editor,
    expect_cell,
    run_with_keyboard,
    shot,
    status_badge,
    type_sql,
    workspace_page,
)

# Long enough to still be running when Cancel is clicked (a 10^12-row cross join), short to write.
LONG_QUERY = "SELECT sum(hash(a.range * b.range)) FROM range(1000000) a, range(1000000) b"


@pytest.fixture
def page(live_app, browser) -> Iterator:
    with workspace_page(browser, live_app.ui_url) as page:
        yield page


def test_ctrl_enter_runs_the_typed_sql(page):
    run_with_keyboard(page, "SELECT 40 + 2 AS answer, 'hello' AS greeting, [1, 2] AS nested")
    expect_cell(page, 0, 0, "42")
    expect_cell(page, 1, 0, "hello")
    expect_cell(page, 2, 0, "[1,2]")                       # nested values read as JSON
    expect(status_badge(page)).to_have_text("completed")
    assert page.get_by_label("Shown rows").inner_text() == "1 – 1 of 1"
    assert page.errors == []


def test_ctrl_enter_runs_only_the_selection(page):
    type_sql(page, "SELECT 'first' AS which;\nSELECT 'second' AS which")
    page.keyboard.press("Shift+Home")                     # select the second line only
    page.keyboard.press("Control+Enter")
    expect_cell(page, 0, 0, "second")


def test_pages_through_a_100k_row_result(page):
    run_with_keyboard(page, "SELECT range AS n FROM range(100000)")
    shown = page.get_by_label("Shown rows")
    shown.filter(has_text="1 – 1,000 of 100,000").wait_for()
    page.get_by_role("button", name="Next page").click()
    shown.filter(has_text="1,001 – 2,000 of 100,000").wait_for()
    expect_cell(page, 0, 0, "1000")
    page.get_by_role("button", name="Last page").click()
    shown.filter(has_text="99,001 – 100,000 of 100,000").wait_for()
    assert page.get_by_role("button", name="Next page").is_disabled()
    page.get_by_role("combobox", name="Rows per page").click()
    page.get_by_role("option", name="10000").click()
    shown.filter(has_text="90,001 – 100,000 of 100,000").wait_for()
    page.get_by_role("button", name="First page").click()
    shown.filter(has_text="1 – 10,000 of 100,000").wait_for()
    expect_cell(page, 0, 0, "0")
    shot(page, "workspace-results.png")
    assert page.errors == []


def test_cancel_stops_a_long_query(page, live_app):
    type_sql(page, LONG_QUERY)
    page.wait_for_timeout(300)
    page.keyboard.press("Escape")                         # close the completion popup (for the screenshot)
    page.get_by_role("button", name="Run query").click()
    status_badge(page, "running").wait_for()
    page.get_by_label("Elapsed time").wait_for()
    shot(page, "workspace-running.png")
    page.get_by_role("button", name="Cancel query").click()
    status_badge(page, "cancelled").wait_for(timeout=10_000)
    with httpx.Client(base_url=live_app.api_url, timeout=10) as http:
        jobs = http.get("/jobs", params={"search": "range(1000000) a"}).json()["jobs"]
        assert jobs[0]["status"] == "cancelled"
        # Stopped in the engine, not only in the bookkeeping: the slot comes back.
        deadline = time.monotonic() + 5
        while http.get("/status").json()["running_jobs"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert http.get("/status").json()["running_jobs"] == 0
    assert page.errors == []


def test_export_csv_downloads_every_row(page, live_app, tmp_path):
    run_with_keyboard(page, "SELECT range AS n, 'row ' || range AS label FROM range(25000)")
    page.get_by_label("Shown rows").filter(has_text="1 – 1,000 of 25,000").wait_for()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    for label, fmt in (("JSON", "ndjson"), ("Parquet", "parquet")):
        href = page.get_by_role("link", name=f"Download {label}").get_attribute("href")
        assert href.startswith(live_app.api_url + "/jobs/job_") and href.endswith(f"/result?format={fmt}")
    target = tmp_path / "result.csv"
    download.value.save_as(target)
    with target.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["n", "label"]
    assert len(rows) == 25_001 and rows[-1] == ["24999", "row 24999"]


def test_export_excel_downloads_a_workbook(page, tmp_path):
    run_with_keyboard(page, "SELECT range AS n, DATE '2024-01-01' + range::INT AS day FROM range(3000)")
    page.get_by_label("Shown rows").filter(has_text="1 – 1,000 of 3,000").wait_for()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download Excel").click()
    target = tmp_path / "result.xlsx"
    download.value.save_as(target)
    assert download.value.suggested_filename.endswith(".xlsx")
    rows = list(openpyxl.load_workbook(target, read_only=True)["result"].iter_rows(values_only=True))
    assert rows[0] == ("n", "day") and len(rows) == 3_001
    assert rows[-1] == (2999, datetime.datetime(2032, 3, 18))   # a real date cell, not text
    assert page.errors == []


def test_a_failing_query_shows_the_engine_error_and_position(page):
    run_with_keyboard(page, "SELECT\n  no_such_column\nFROM nyc_taxi")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "no_such_column" in alert.inner_text()
    assert "Line 2, column 3" in alert.inner_text()
    expect(status_badge(page)).to_have_text("failed")
    shot(page, "workspace-error.png")


def test_dry_run_explorer_samples_and_tabs(page, live_app, browser):
    # The dry run estimates the bytes as you type.
    type_sql(page, "SELECT fare_amount FROM nyc_taxi")
    page.get_by_label("Query validation").filter(has_text=re.compile(r"This query will process [\d.]+ \w?B")).wait_for()

    # The explorer lists both engines' tables; a click inserts the name at the cursor.
    page.get_by_role("button", name="Expand nyc_taxi").first.click()
    page.get_by_role("button", name="Insert fare_amount").first.wait_for()
    type_sql(page, "SELECT count(*) FROM ")
    page.get_by_role("button", name="Insert main.nyc_taxi").click()
    editor(page).filter(has_text="FROM main.nyc_taxi").wait_for()
    page.keyboard.press("Control+Enter")
    expect_cell(page, 0, 0, "2000")

    # A sample query opens in a new tab, on its engine.
    page.get_by_role("tab", name="Samples").click()
    page.get_by_role("button", name=re.compile("^Open sample")).first.click()
    expect(page.get_by_role("tablist", name="Query tabs").get_by_role("tab")).to_have_count(2)
    page.get_by_role("button", name="Run query").click()
    status_badge(page, "completed").wait_for()
    page.get_by_role("tab", name="Chart").click()
    page.locator(".recharts-surface").first.wait_for()
    shot(page, "workspace-chart.png")

    # Tabs live in localStorage: a new browser tab (a new Reflex session) shows them again.
    again = page.context.new_page()
    again.goto(live_app.ui_url, wait_until="networkidle")
    expect(again.get_by_role("tablist", name="Query tabs").get_by_role("tab")).to_have_count(2)
    again.close()


def test_the_explorer_follows_ddl(page):
    run_with_keyboard(page, "CREATE TABLE explorer_probe AS SELECT 1 AS a, 'x' AS b")
    expect(status_badge(page)).to_have_text("completed")
    page.get_by_role("button", name="Insert main.explorer_probe").wait_for()
    run_with_keyboard(page, "DROP TABLE explorer_probe")
    expect(page.get_by_role("button", name="Insert main.explorer_probe")).to_have_count(0)


def test_links_from_other_pages_open_their_sql_in_a_tab(page, live_app):
    page.goto(f"{live_app.ui_url}/?sql=SELECT%2042%20AS%20x&engine=clickhouse", wait_until="networkidle")
    expect(editor(page)).to_have_text("SELECT 42 AS x")
    expect(page.get_by_role("combobox", name="Engine")).to_have_text("ClickHouse (embedded)")
    page.wait_for_url(f"{live_app.ui_url}/")              # a reload must not open it twice
    page.get_by_role("button", name="Run query").click()
    expect_cell(page, 0, 0, "42")


def test_dark_theme_screenshot(page):
    run_with_keyboard(page, "SELECT * FROM nyc_taxi ORDER BY tpep_pickup_datetime LIMIT 500")
    status_badge(page, "completed").wait_for()
    shot(page, "workspace-light.png")
    page.get_by_role("button", name="Toggle dark mode").click()
    page.wait_for_timeout(300)
    shot(page, "workspace-dark.png")
    assert page.errors == []
