"""The cell inspector and the whole-result chart in a real browser against the real app: inspect a nested cell and a
long text, chart a 1M-row result aggregated on the server (series, types, bins), and save the chart as PNG and SVG.
"""

from __future__ import annotations

import json
import re
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.workspace import run_with_keyboard, shot, status_badge, workspace_page

# Glide draws the grid on a canvas: a cell is clicked by position. One result row gets a 32 px row-number column
# (Glide's width for up to 100 rows); the header and the rows are as tall as components/result_grid.py sets them.
ROW_MARKER_PX, HEADER_PX, ROW_PX = 32, 32, 28
MILLION = "SELECT range % 7 AS weekday, range AS n, (range % 100)::DOUBLE AS v FROM range(1000000)"


@pytest.fixture
def page(live_app, browser) -> Iterator:
    with workspace_page(browser, live_app.ui_url, width=1400, height=900, clipboard=True) as page:
        yield page


def click_cell(page, x_in_row: int, row: int = 0) -> None:
    """Click the grid at ``x_in_row`` px right of the row numbers, in result row ``row`` of the page."""
    canvas = page.get_by_test_id("data-grid-canvas")
    canvas.wait_for()
    box = canvas.bounding_box()     # Glide's scroller lies over the canvas and takes the mouse: click the page
    page.mouse.click(box["x"] + ROW_MARKER_PX + x_in_row, box["y"] + HEADER_PX + ROW_PX * row + ROW_PX // 2)


def inspector(page):
    return page.get_by_role("complementary", name="Cell inspector")


def test_inspect_a_nested_cell(page):
    run_with_keyboard(page, "SELECT {'name': 'Ada', 'tags': ['math', 'engines'], 'home': {'city': 'London', "
                            "'zip': 'W1'}} AS person, 1 AS id, 'short' AS label")
    status_badge(page, "completed").wait_for()
    expect(page.get_by_test_id("glide-cell-1-0")).to_have_text(re.compile(r'^\{"name":"Ada"'), timeout=30_000)
    click_cell(page, 20)

    panel = inspector(page)
    expect(panel).to_be_visible()
    expect(panel.get_by_label("Inspected cell")).to_contain_text("person")
    expect(panel.get_by_label("Inspected cell")).to_contain_text("STRUCT")
    tree = panel.get_by_role("tree", name="Value tree")
    items = tree.get_by_role("treeitem")
    expect(items).to_have_count(8)       # the struct, name, tags, its 2 items, home, city, zip
    expect(tree).to_contain_text('name:"Ada"')
    expect(tree).to_contain_text('city:"London"')
    shot(page, "inspector-tree.png")

    # Branches fold and unfold.
    panel.get_by_role("button", name="Collapse home").click()
    expect(items).to_have_count(6)
    expect(tree).not_to_contain_text("London")
    panel.get_by_role("button", name="Expand home").click()
    expect(items).to_have_count(8)
    panel.get_by_role("button", name="Collapse all").click()
    expect(items).to_have_count(4)

    # The text view and the copy button hold the whole value as indented JSON.
    panel.get_by_role("radio", name="Text view").click()
    text = panel.get_by_label("Value text")
    expect(text).to_contain_text('"zip": "W1"')
    panel.get_by_role("button", name="Copy the value").click()
    page.get_by_text("Copied the value").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert json.loads(copied) == {"name": "Ada", "tags": ["math", "engines"], "home": {"city": "London", "zip": "W1"}}
    assert copied.startswith('{\n  "name": "Ada"')

    # A short plain value (the id, just right of the 420 px person column) leaves the panel as it is.
    click_cell(page, 420 + 12)
    expect(panel.get_by_label("Inspected cell")).to_contain_text("person")
    panel.get_by_role("button", name="Close the inspector").click()
    expect(panel).to_have_count(0)
    assert page.errors == []


def test_inspect_a_long_text_and_json_held_as_text(page):
    long_text = "A long line of text that does not fit in its cell. " * 6
    run_with_keyboard(page, f"SELECT '{long_text}' AS story, '{{\"k\": [1, 2, 3]}}'::JSON AS doc")
    status_badge(page, "completed").wait_for()
    expect(page.get_by_test_id("glide-cell-1-0")).to_have_text(long_text, timeout=30_000)
    click_cell(page, 20)
    panel = inspector(page)
    expect(panel.get_by_label("Value text")).to_have_text(long_text)
    expect(panel.get_by_role("radio", name="Tree view")).to_have_count(0)     # plain text has no tree

    # The story column is at its widest (420 px); the JSON column follows it.
    click_cell(page, 420 + 20)
    expect(panel.get_by_label("Inspected cell")).to_contain_text("doc")
    expect(panel.get_by_role("tree", name="Value tree").get_by_role("treeitem")).to_have_count(5)
    shot(page, "inspector-json-text.png")
    assert page.errors == []


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_chart_a_1m_row_result_aggregated_on_the_server(page):
    run_with_keyboard(page, MILLION)
    page.get_by_label("Shown rows").filter(has_text="1 – 1,000 of 1,000,000").wait_for(timeout=60_000)
    page.get_by_role("tab", name="Chart").click()

    # Bigger than the page: grouped by x over the whole result on the server, summing the first number column.
    source = page.get_by_label("Chart source")
    expect(source).to_have_text("Sum by weekday over all 1,000,000 rows, on the server · 7 groups", timeout=30_000)
    bars = page.locator("#result-chart .recharts-bar-rectangle")
    expect(bars).to_have_count(7)
    expect(page.get_by_role("combobox", name="Aggregate")).to_have_text("Sum")

    # The tooltip reads the server's sum: weekday 0 is 0 + 7 + ... + 999,999.
    bars.first.hover()
    tooltip = page.locator("#result-chart .recharts-tooltip-wrapper")
    expect(tooltip).to_contain_text(f"sum of n : {sum(range(0, 1_000_000, 7))}")

    # A second series, then the average.
    page.get_by_role("button", name="Y series").click()
    page.get_by_role("checkbox", name="v").click()
    page.keyboard.press("Escape")
    expect(bars).to_have_count(14)
    page.get_by_role("combobox", name="Aggregate").click()
    page.get_by_role("option", name="Average").click()
    expect(source).to_contain_text("Average by weekday over all 1,000,000 rows")
    expect(page.locator("#result-chart .recharts-legend-item-text")).to_have_text(["average of n", "average of v"])
    shot(page, "chart-bar-two-series.png")

    # Line, area and scatter draw the same groups.
    for kind, selector, count in (("Line chart", ".recharts-line-curve", 2), ("Area chart", ".recharts-area-area", 2),
                                  ("Scatter chart", ".recharts-scatter-symbol", 14)):
        page.get_by_role("radio", name=kind).click()
        expect(page.locator(f"#result-chart {selector}")).to_have_count(count)
    shot(page, "chart-scatter.png")
    page.get_by_role("radio", name="Line chart").click()

    # PNG and SVG are made in the browser from the drawn chart.
    with page.expect_download() as png:
        page.get_by_role("button", name="Download the chart as PNG").click()
    assert re.fullmatch(r"chart-job_\w+-line\.png", png.value.suggested_filename)
    png_path = ARTIFACTS / "chart-export.png"       # kept beside the screenshots
    png.value.save_as(png_path)
    width, height = _png_size(png_path.read_bytes())
    drawn = page.locator("#result-chart .recharts-wrapper > svg").bounding_box()
    assert width == round(drawn["width"] * 2) and height > drawn["height"] * 2

    with page.expect_download() as svg:
        page.get_by_role("button", name="Download the chart as SVG").click()
    svg_path = ARTIFACTS / "chart-export.svg"
    svg.value.save_as(svg_path)
    text = svg_path.read_text()
    root = ET.fromstring(text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    labels = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "average of n" in labels and "average of v" in labels      # the legend
    assert any(label and "over all 1,000,000 rows" in label for label in labels)   # the caption
    assert len(root.findall(".//{http://www.w3.org/2000/svg}path[@class='recharts-curve recharts-line-curve']")) == 2
    assert "var(--" not in text                  # colours resolved: the file draws the same outside the page

    # An x with a million distinct values is cut into 1,000 equal-width bins on the server.
    page.get_by_role("combobox", name="X axis").click()
    page.get_by_role("option", name="n", exact=True).click()
    expect(source).to_contain_text("in 1,000 equal-width bins", timeout=30_000)
    page.get_by_role("radio", name="Bar chart").click()
    expect(bars).to_have_count(2000)
    shot(page, "chart-binned.png")
    assert page.errors == []


def test_the_chart_follows_the_grid_filters(page):
    run_with_keyboard(page, MILLION)
    shown = page.get_by_label("Shown rows")
    shown.filter(has_text="1 – 1,000 of 1,000,000").wait_for(timeout=60_000)
    page.get_by_role("combobox", name="Filter column").click()
    page.get_by_role("option", name="weekday").click()
    page.get_by_role("combobox", name="Filter operator").click()
    page.get_by_role("option", name="=", exact=True).click()
    page.get_by_label("Filter value").fill("3")
    page.get_by_role("button", name="Apply filter").click()
    shown.filter(has_text="of 142,857").wait_for(timeout=30_000)
    page.get_by_role("tab", name="Chart").click()
    expect(page.get_by_label("Chart source")).to_have_text(
        "Sum by weekday over the 142,857 rows that pass the grid's filters, on the server · 1 group", timeout=30_000)
    expect(page.locator("#result-chart .recharts-bar-rectangle")).to_have_count(1)
    shot(page, "chart-filtered.png")
    assert page.errors == []


def test_a_small_result_is_charted_row_by_row(page, tmp_path):
    run_with_keyboard(page, "SELECT 'ab'[1 + range % 2] AS k, range + 1 AS n FROM range(12)")
    status_badge(page, "completed").wait_for()
    page.get_by_role("tab", name="Chart").click()
    expect(page.get_by_label("Chart source")).to_have_text("Every row of the result (12), not aggregated")
    expect(page.locator("#result-chart .recharts-bar-rectangle")).to_have_count(12)
    page.get_by_role("combobox", name="Aggregate").click()
    page.get_by_role("option", name="Count").click()
    expect(page.get_by_label("Chart source")).to_have_text("Count by k over all 12 rows, on the server · 2 groups")
    expect(page.locator("#result-chart .recharts-bar-rectangle")).to_have_count(2)

    # In the dark theme the saved chart keeps the page's dark background (and its light text).
    page.get_by_role("button", name="Toggle dark mode").click()
    page.wait_for_timeout(300)
    shot(page, "chart-dark.png")
    with page.expect_download() as svg:
        page.get_by_role("button", name="Download the chart as SVG").click()
    target = tmp_path / "dark.svg"
    svg.value.save_as(target)
    background = ET.parse(target).getroot().find("{http://www.w3.org/2000/svg}rect").get("fill")
    red, green, blue = (int(c) for c in re.findall(r"\d+", background)[:3])
    assert max(red, green, blue) < 80, background
    assert page.errors == []
