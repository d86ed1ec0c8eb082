"""The Jobs pages in a real browser: history updates live, filters, the detail page and its actions."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e

LONG_SQL = "SELECT sum(a.range * b.range) FROM range(200000000) a, range(1000) b"


def submit(live_app, sql: str, engine: str = "duckdb", wait: bool = True) -> str:
    with httpx.Client(base_url=live_app.api_url, timeout=60) as http:
        answer = http.post("/queries", json={"sql": sql, "engine": engine})
        assert answer.status_code in (200, 201, 202), answer.text
        job_id = answer.json()["job_id"]
        if wait:
            http.get(f"/jobs/{job_id}/result", params={"timeout_ms": 30000})
    return job_id


def open_page(browser, url: str, color_scheme: str = "light") -> tuple[Page, list[str]]:
    """A 1280x800 page at ``url`` once its state socket is up, collecting console errors."""
    page = browser.new_page(viewport={"width": 1280, "height": 800}, color_scheme=color_scheme)
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    with page.expect_websocket(lambda socket: "_event" in socket.url, timeout=30000) as socket:
        page.goto(url)
    socket.value.wait_for_event("framereceived", timeout=30000)
    return page, errors


def test_history_follows_jobs_live_and_opens_the_detail_page(live_app, browser):
    marker = f"m_{uuid.uuid4().hex[:8]}"
    job_id = submit(live_app, f"SELECT count(*) AS n, '{marker}' AS marker FROM nyc_taxi")
    page, errors = open_page(browser, f"{live_app.ui_url}/jobs")

    row = page.get_by_role("row", name=f"Job {job_id}")
    expect(row).to_contain_text("completed", timeout=15000)
    expect(row).to_contain_text("duckdb")

    # A job submitted while the page is open appears without a reload.
    later = submit(live_app, f"SELECT 42 AS answer, '{marker}_later' AS marker", engine="clickhouse")
    expect(page.get_by_role("row", name=f"Job {later}")).to_contain_text("completed", timeout=10000)

    # Filters: engine, then a text search over the SQL.
    page.get_by_role("combobox", name="Engine").click()
    page.get_by_role("option", name="ClickHouse").click()
    expect(page.get_by_role("row", name=f"Job {later}")).to_be_visible()
    expect(page.get_by_role("row", name=f"Job {job_id}")).to_have_count(0)
    page.get_by_role("button", name="Clear filters").click()
    page.get_by_role("textbox", name="Search SQL").fill(marker)
    expect(page.get_by_role("row", name=re.compile(r"^Job "))).to_have_count(2)
    page.get_by_role("textbox", name="Search SQL").fill(f"{marker}_later")
    expect(page.get_by_role("row", name=re.compile(r"^Job "))).to_have_count(1)
    page.get_by_role("button", name="Clear filters").click()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "jobs.png"))

    page.get_by_role("link", name=job_id).click()
    expect(page).to_have_url(re.compile(f"/jobs/{job_id}$"))
    expect(page.get_by_role("region", name="SQL")).to_contain_text(marker)
    expect(page.get_by_role("region", name="Query plan")).not_to_be_empty(timeout=15000)
    expect(page.get_by_text("Bytes processed")).to_be_visible()
    editor = page.get_by_role("link", name="Open in editor")
    assert f"job={job_id}" in (editor.get_attribute("href") or "")
    page.screenshot(path=str(ARTIFACTS / "job-detail.png"), full_page=True)

    # Re-run submits a copy and lands on the new job, which completes.
    page.get_by_role("button", name="Re-run").click()
    page.wait_for_url(lambda url: "/jobs/job_" in url and job_id not in url, timeout=10000)
    new_id = page.url.rsplit("/", 1)[-1]
    expect(page.get_by_role("heading", name=new_id)).to_be_visible()
    expect(page.get_by_role("region", name="SQL")).to_contain_text(marker)
    expect(page.get_by_text("completed", exact=True)).to_be_visible(timeout=15000)
    assert errors == []
    page.close()


def test_cancel_a_running_job_from_its_page(live_app, browser):
    job_id = submit(live_app, LONG_SQL, wait=False)
    page, errors = open_page(browser, f"{live_app.ui_url}/jobs/{job_id}", color_scheme="dark")
    cancel = page.get_by_role("button", name="Cancel job")
    expect(cancel).to_be_visible(timeout=15000)
    page.screenshot(path=str(ARTIFACTS / "job-detail-running-dark.png"))
    cancel.click()
    expect(page.get_by_text("cancelled", exact=True).first).to_be_visible(timeout=15000)
    expect(cancel).to_have_count(0)
    with httpx.Client(base_url=live_app.api_url, timeout=30) as http:
        assert http.get(f"/jobs/{job_id}").json()["status"] == "cancelled"
    page.goto(f"{live_app.ui_url}/jobs/job_does_not_exist")
    expect(page.get_by_text("not found")).to_be_visible()
    assert errors == []
    page.close()
