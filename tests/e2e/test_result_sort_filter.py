"""Sort and filter a 1M-row result in a real browser: a header click sorts the whole result on the server, the filter
row narrows it, paging and the row count follow, and the export holds the same rows."""

from __future__ import annotations

import csv
from collections.abc import Iterator

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.e2e.workspace import expect_cell, run_with_keyboard, shot, workspace_page

PRIME = 1_000_003
MILLION = (f"SELECT (range * 7919) % {PRIME} AS score, range AS n, 'item ' || (range % 1000) AS label, "
           "CASE WHEN range % 10 = 0 THEN NULL ELSE range % 50 END AS bucket FROM range(1000000)")
# Glide draws the header on a canvas: it is clicked by position. The first column starts after the row numbers
# (at most 48 px wide) and is at least 64 px wide (state/grid.py), so 70 px from the left is inside it.
FIRST_HEADER = {"x": 70, "y": 16}


@pytest.fixture
def page(live_app, browser) -> Iterator:
    with workspace_page(browser, live_app.ui_url, width=1400, height=900) as page:
        yield page


def scores(n: np.ndarray) -> np.ndarray:
    return (n * 7919) % PRIME


def click_header(page) -> None:
    """A real mouse click on the first column's header (Glide's scroller lies over the canvas and takes it)."""
    canvas = page.get_by_test_id("data-grid-canvas")
    canvas.wait_for()
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + FIRST_HEADER["x"], box["y"] + FIRST_HEADER["y"])


def choose(page, select: str, option: str) -> None:
    page.get_by_role("combobox", name=select).click()
    page.get_by_role("option", name=option, exact=True).click()


def add_filter(page, column: str, op: str, value: str | None = None) -> None:
    choose(page, "Filter column", column)
    choose(page, "Filter operator", op)
    if value is not None:
        page.get_by_label("Filter value").fill(value)
    page.get_by_role("button", name="Apply filter").click()


def test_sort_and_filter_a_1m_row_result(page, tmp_path):
    n = np.arange(1_000_000, dtype=np.int64)
    ordered = np.sort(scores(n))
    run_with_keyboard(page, MILLION)
    shown = page.get_by_label("Shown rows")
    shown.filter(has_text="1 – 1,000 of 1,000,000").wait_for(timeout=60_000)
    expect_cell(page, 1, 0, "0")                                  # stored order: n = 0, 1, 2...

    # A header click sorts the whole million ascending, then descending; paging follows the sort.
    click_header(page)
    expect(page.get_by_label("Sort", exact=True)).to_have_text("Sorted by score ascending", timeout=30_000)
    expect_cell(page, 0, 0, str(ordered[0]))
    expect_cell(page, 0, 1, str(ordered[1]))
    page.get_by_role("button", name="Next page").click()
    shown.filter(has_text="1,001 – 2,000 of 1,000,000").wait_for(timeout=30_000)
    expect_cell(page, 0, 0, str(ordered[1000]))
    click_header(page)
    expect(page.get_by_label("Sort", exact=True)).to_have_text("Sorted by score descending", timeout=30_000)
    shown.filter(has_text="1 – 1,000 of 1,000,000").wait_for(timeout=30_000)
    expect_cell(page, 0, 0, str(ordered[-1]))
    expect_cell(page, 0, 1, str(ordered[-2]))
    shot(page, "result-sorted-1m.png")

    # The filter row narrows the whole result; the count and paging follow, the sort stays.
    add_filter(page, "label", "contains", "ITEM 42")
    matching = n[np.isin(n % 1000, [42, *range(420, 430)])]
    expect(page.get_by_label("Filtered rows")).to_have_text(f"{len(matching):,} matching of 1,000,000 rows",
                                                            timeout=30_000)
    shown.filter(has_text=f"1 – 1,000 of {len(matching):,}").wait_for()
    expect_cell(page, 0, 0, str(scores(matching).max()))
    expect(page.locator("[data-filter]")).to_have_text(["label contains 'ITEM 42'"])

    add_filter(page, "bucket", "is null")
    both = matching[matching % 10 == 0]
    shown.filter(has_text=f"1 – {len(both):,} of {len(both):,}").wait_for(timeout=30_000)
    expect_cell(page, 0, 0, str(scores(both).max()))
    expect_cell(page, 3, 0, "")                                   # a null number is an empty cell
    shot(page, "result-filtered-1m.png")

    # Taking a filter off widens the result again.
    page.get_by_role("button", name="Remove filter bucket is null").click()
    shown.filter(has_text=f"1 – 1,000 of {len(matching):,}").wait_for(timeout=30_000)

    # A value that is not of the column's type is refused with the server's reason, and changes nothing.
    add_filter(page, "n", ">", "many")
    expect(page.get_by_label("Result message")).to_contain_text("not a valid BIGINT", timeout=30_000)
    expect(page.locator("[data-filter]")).to_have_count(1)
    shown.filter(has_text=f"1 – 1,000 of {len(matching):,}").wait_for()

    # The export is the whole view: sorted, filtered, every row (not the page).
    with page.expect_download() as download:
        page.get_by_label("Download CSV").click()
    target = tmp_path / "view.csv"
    download.value.save_as(target)
    with target.open() as f:
        exported = [int(row["score"]) for row in csv.DictReader(f)]
    assert exported == sorted(scores(matching).tolist(), reverse=True)

    # The page still answers after the download (the file came through a hidden frame, not a navigation).
    page.get_by_role("button", name="Next page").click()
    shown.filter(has_text=f"1,001 – 2,000 of {len(matching):,}").wait_for(timeout=30_000)
    expect_cell(page, 0, 0, str(np.sort(scores(matching))[::-1][1000]))
    assert page.errors == []


def test_clear_restores_the_stored_order(page):
    run_with_keyboard(page, "SELECT (range * 3 + 1) % 10 AS k, range AS n FROM range(10)")
    shown = page.get_by_label("Shown rows")
    shown.filter(has_text="1 – 10 of 10").wait_for(timeout=30_000)
    click_header(page)
    expect_cell(page, 0, 0, "0")
    add_filter(page, "n", "≥", "5")
    shown.filter(has_text="1 – 5 of 5").wait_for(timeout=30_000)
    expect(page.get_by_label("Filtered rows")).to_have_text("5 matching of 10 rows")
    page.get_by_role("button", name="Clear sort and filters").click()
    shown.filter(has_text="1 – 10 of 10").wait_for(timeout=30_000)
    expect_cell(page, 0, 0, "1")
    expect(page.get_by_label("Sort", exact=True)).to_have_count(0)
    expect(page.locator("[data-filter]")).to_have_count(0)
    assert page.errors == []


def test_a_third_header_click_restores_the_stored_order(page):
    run_with_keyboard(page, "SELECT (range * 3 + 1) % 10 AS k, range AS n FROM range(10)")
    expect_cell(page, 0, 0, "1")
    for expected in ("0", "9", "1"):     # ascending, descending, then the stored order again
        click_header(page)
        expect_cell(page, 0, 0, expected)
    expect(page.get_by_label("Sort", exact=True)).to_have_count(0)
    expect_cell(page, 1, 0, "0")
    assert page.errors == []
