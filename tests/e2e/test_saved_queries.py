"""Saved queries in a real browser: save the tab, find it in the sidebar's Saved tab, reopen it in a new tab and run
it; rename, update from a tab (Ctrl+S), search and delete."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ADMIN_PASSWORD
from tests.e2e.workspace import editor, expect_cell, shot, type_sql, workspace_page

SQL = "SELECT 'saved' AS what, 40 + 2 AS answer"
MEMBER_PASSWORD = "saved-e2e-password-1"


@pytest.fixture
def page(live_app, browser) -> Iterator:
    with workspace_page(browser, live_app.ui_url) as page:
        yield page


def query_tabs(page):
    return page.get_by_role("tablist", name="Query tabs").get_by_role("tab")


def open_saved_tab(page) -> None:
    page.get_by_role("tab", name="Saved", exact=True).click()
    page.get_by_role("textbox", name="Search saved queries").wait_for()


def test_save_reopen_and_run_a_saved_query(page, live_app):
    type_sql(page, SQL)
    page.keyboard.press("Escape")                       # close any completion popup
    page.get_by_role("button", name="Save query").click()
    dialog = page.get_by_role("dialog", name="Save query")
    dialog.get_by_role("textbox", name="Saved query name").fill("The answer")
    dialog.get_by_role("textbox", name="Saved query description").fill("Forty-two, every time")
    shot(page, "saved-query-dialog.png")
    dialog.get_by_role("button", name="Save as new query").click()
    expect(dialog).to_be_hidden()
    expect(query_tabs(page).filter(has_text="The answer")).to_have_count(1)   # the tab takes the name

    # Stored in SQLite with owner and timestamps, as REST shows it.
    with httpx.Client(base_url=live_app.api_url, timeout=10) as http:
        [summary] = http.get("/saved-queries", params={"q": "forty-two"}).json()["saved_queries"]
        assert summary["name"] == "The answer" and summary["owner"] == "local" and summary["created_at"]
        assert http.get(f"/saved-queries/{summary['id']}").json()["sql"] == SQL

    # Listed in the sidebar; reopened in a new tab, it runs.
    open_saved_tab(page)
    item = page.get_by_role("button", name="Open saved query The answer")
    item.wait_for()
    page.get_by_role("button", name="New tab").click()
    type_sql(page, "SELECT 'something else' AS other")
    tabs_before = query_tabs(page).count()
    item.click()
    expect(query_tabs(page)).to_have_count(tabs_before + 1)
    expect(editor(page)).to_contain_text("40 + 2")
    page.get_by_role("button", name="Run query").click()
    expect_cell(page, 0, 0, "saved")
    expect_cell(page, 1, 0, "42")
    shot(page, "saved-query-reopened-and-run.png")

    # Update from the tab with Ctrl+S: the dialog offers to update the query this tab came from.
    type_sql(page, "SELECT 'saved' AS what, 6 * 7 AS answer")
    page.keyboard.press("Control+s")
    dialog = page.get_by_role("dialog", name="Save query")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Update saved query").click()
    expect(dialog).to_be_hidden()
    with httpx.Client(base_url=live_app.api_url, timeout=10) as http:
        assert http.get(f"/saved-queries/{summary['id']}").json()["sql"].endswith("6 * 7 AS answer")

    # Or from the sidebar: "Update from current tab" takes the active tab's SQL and engine.
    type_sql(page, "SELECT 'saved' AS what, 84 / 2 AS answer")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Actions for The answer").click()
    page.get_by_role("menuitem", name="Update from current tab").click()
    expect(page.get_by_label("Saved queries status")).to_have_text("Updated from the current tab")
    with httpx.Client(base_url=live_app.api_url, timeout=10) as http:
        assert http.get(f"/saved-queries/{summary['id']}").json()["sql"].endswith("84 / 2 AS answer")

    # Rename it, search for it, delete it.
    page.get_by_role("button", name="Actions for The answer").click()
    page.get_by_role("menuitem", name="Rename…").click()
    rename = page.get_by_role("dialog", name="Rename saved query")
    rename.get_by_role("textbox", name="New name").fill("The answer v2")
    rename.get_by_role("button", name="Confirm rename").click()
    page.get_by_role("button", name="Open saved query The answer v2").wait_for()
    search = page.get_by_role("textbox", name="Search saved queries")
    search.fill("no such words")
    page.get_by_text("No saved query matches.").wait_for()
    search.fill("v2")
    page.get_by_role("button", name="Open saved query The answer v2").wait_for()
    shot(page, "saved-queries-sidebar.png")
    page.get_by_role("button", name="Actions for The answer v2").click()
    page.get_by_role("menuitem", name="Delete…").click()
    page.get_by_role("button", name="Confirm delete").click()
    expect(page.get_by_role("button", name="Open saved query The answer v2")).to_have_count(0)
    with httpx.Client(base_url=live_app.api_url, timeout=10) as http:
        assert http.get(f"/saved-queries/{summary['id']}").status_code == 404
    assert page.errors == []


def test_a_bad_name_is_explained_in_the_dialog(page):
    type_sql(page, "SELECT 1")
    page.get_by_role("button", name="Save query").click()
    dialog = page.get_by_role("dialog", name="Save query")
    dialog.get_by_role("textbox", name="Saved query name").fill("a/b")
    dialog.get_by_role("button", name="Save as new query").click()
    expect(dialog.get_by_role("alert")).to_contain_text("name: letters, digits")
    expect(dialog).to_be_visible()


# -- auth on: a query shared with you is yours to open and run, not to change ------------------------------------


def test_a_shared_query_is_read_only_for_its_reader(auth_app, browser):
    from tests.e2e.test_auth_pages import sign_in, token_for

    admin = {"Authorization": f"Bearer {token_for(auth_app, 'admin', ADMIN_PASSWORD)}"}
    with httpx.Client(base_url=auth_app.api_url, timeout=30) as http:
        for name in ("dana", "eve"):
            created = http.post("/users", json={"username": name, "password": MEMBER_PASSWORD}, headers=admin)
            assert created.status_code in (201, 409), created.text
        dana = {"Authorization": f"Bearer {token_for(auth_app, 'dana', MEMBER_PASSWORD)}"}
        shared = http.post("/saved-queries", headers=dana, json={
            "name": "Dana's count", "sql": "SELECT count(*) AS trips FROM nyc_taxi", "shared_with": ["eve"],
            "description": "shared with eve"})
        assert shared.status_code == 201, shared.text
        private = http.post("/saved-queries", headers=dana, json={"name": "Dana's draft", "sql": "SELECT 2"})
        assert private.status_code == 201, private.text

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        sign_in(page, auth_app, "eve", MEMBER_PASSWORD)
        editor(page).wait_for(timeout=60_000)
        open_saved_tab(page)
        item = page.get_by_role("button", name="Open saved query Dana's count")
        expect(item).to_contain_text("by dana")
        expect(page.get_by_role("button", name="Open saved query Dana's draft")).to_have_count(0)
        page.get_by_role("button", name="Actions for Dana's count").click()
        expect(page.get_by_role("menuitem", name="Open in a new tab")).to_be_visible()
        for action in ("Rename…", "Update from current tab", "Delete…"):
            expect(page.get_by_role("menuitem", name=action)).to_have_count(0)
        page.keyboard.press("Escape")
        item.click()
        expect(query_tabs(page).filter(has_text="Dana's count")).to_have_count(1)
        page.get_by_role("button", name="Run query").click()
        expect_cell(page, 0, 0, "2000")
        # Saving it from her tab makes eve's own copy (no "Update" offered), shared back with dana.
        page.get_by_role("button", name="Save query").click()
        dialog = page.get_by_role("dialog", name="Save query")
        expect(dialog.get_by_role("button", name="Update saved query")).to_have_count(0)
        dialog.get_by_role("combobox", name="Sharing").click()
        page.get_by_role("option", name="Chosen users (read-only)").click()
        dialog.get_by_role("textbox", name="Share with users").fill("dana")
        shot(page, "saved-query-shared-dialog.png")
        dialog.get_by_role("button", name="Save as new query").click()
        expect(dialog).to_be_hidden()
        page.get_by_role("button", name="Open saved query Dana's count").first.wait_for()
        shot(page, "saved-queries-shared.png")
        with httpx.Client(base_url=auth_app.api_url, timeout=30) as http:
            mine = http.get("/saved-queries", params={"scope": "mine"},
                            headers={"Authorization": f"Bearer {token_for(auth_app, 'eve', MEMBER_PASSWORD)}"})
            [copy] = mine.json()["saved_queries"]
            assert (copy["name"], copy["owner"], copy["shared_with"]) == ("Dana's count", "eve", ["dana"])
    finally:
        context.close()
