"""What the workspace's browser tests share: a fresh page on the workspace, and how to type, run and read it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS


@contextlib.contextmanager
def workspace_page(browser, ui_url: str, *, width: int = 1280, height: int = 800,
                   clipboard: bool = False) -> Iterator:
    """A fresh browser context (own localStorage) on the workspace, collecting console errors in ``page.errors``;
    ``clipboard`` lets the page read and write the clipboard."""
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    if clipboard:
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui_url)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(ui_url, wait_until="networkidle")
    editor(page).wait_for()
    try:
        yield page
    finally:
        context.close()


def editor(page):
    return page.get_by_role("textbox", name="SQL editor")


def type_sql(page, sql: str) -> None:
    editor(page).click(position={"x": 4, "y": 4})        # top left: a completion popup may cover the middle
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(sql)


def run_with_keyboard(page, sql: str) -> None:
    type_sql(page, sql)
    page.keyboard.press("Control+Enter")


def cell(page, column: int, row: int):
    """A cell of the grid's accessible table (hidden: the grid itself is drawn on a canvas); both are 0-based."""
    return page.get_by_test_id(f"glide-cell-{column + 1}-{row}")


def expect_cell(page, column: int, row: int, text: str) -> None:
    expect(cell(page, column, row)).to_have_text(text, timeout=30_000)


def status_badge(page, text: str | None = None):
    badges = page.get_by_label("Job status")
    return (badges if text is None else badges.filter(has_text=text)).first


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))
