"""The workspace's Load data dialog in a real browser against the real app: a CSV into a new dataset, its inferred
schema, the load job's progress, the table in the explorer and in a query; a bad file and a bad name as errors."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from bqlite_app.state.load_form import UPLOAD_ID
from tests.e2e.conftest import ARTIFACTS

ROWS = 25


@pytest.fixture
def page(live_app, browser) -> Iterator[Page]:
    """A fresh browser context on the workspace, collecting page errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.errors.append(str(e)))  # type: ignore[attr-defined]
    page.goto(live_app.ui_url, wait_until="networkidle")
    page.get_by_role("textbox", name="SQL editor").wait_for()
    yield page
    context.close()


def write_csv(folder: Path) -> Path:
    path = folder / "trips.csv"
    lines = ["id,city,fare,day"] + [f"{i},city_{i % 4},{2.5 * i},2024-01-{1 + i % 28:02d}" for i in range(ROWS)]
    path.write_text("\n".join(lines) + "\n")
    return path


def open_dialog(page: Page):
    page.get_by_role("button", name="Load data").click()
    dialog = page.get_by_role("dialog", name="Load data")
    expect(dialog).to_be_visible()
    return dialog


def choose_file(page: Page, path: Path) -> None:
    page.locator(f"#{UPLOAD_ID}-zone input[type=file]").set_input_files(str(path))


def choose(page: Page, dialog, select: str, option: str) -> None:
    dialog.get_by_role("combobox", name=select).click()
    page.get_by_role("option", name=option, exact=True).click()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def test_load_a_csv_into_a_new_dataset_then_query_it(page, live_app, tmp_path):
    dataset, table = f"e2e_load_{uuid.uuid4().hex[:6]}", "trips"
    dialog = open_dialog(page)
    choose_file(page, write_csv(tmp_path))

    # The file uploads at once; its format is guessed from the name and the schema inferred before any load.
    expect(dialog.get_by_label("Chosen file")).to_contain_text("trips.csv")
    expect(dialog.get_by_role("combobox", name="Format")).to_have_text("CSV")
    schema = dialog.get_by_role("region", name="Inferred schema")
    expect(schema.get_by_role("row")).to_have_count(5, timeout=30_000)    # the header and 4 columns
    expect(schema.get_by_role("row").filter(has_text="fare")).to_contain_text("FLOAT")
    expect(schema.get_by_role("row").filter(has_text="id")).to_contain_text("INTEGER")
    expect(schema.get_by_role("row").filter(has_text="day")).to_contain_text("DATE")
    expect(schema.get_by_role("row").filter(has_text="city")).to_contain_text("NULLABLE")
    expect(dialog.get_by_role("region", name="Sample rows")).to_contain_text("city_1")
    expect(dialog.get_by_text("The first row is read as the header.")).to_be_visible()
    expect(dialog.get_by_role("textbox", name="Table name")).to_have_value("trips")   # from the file name

    choose(page, dialog, "Dataset", "New dataset…")
    dialog.get_by_role("textbox", name="New dataset name").fill(dataset)
    dialog.get_by_role("textbox", name="Table name").fill(table)
    load = dialog.get_by_role("button", name="Load", exact=True)
    expect(load).to_be_enabled()
    load.click()

    # The job is followed to its end; the dialog then says what was loaded.
    expect(dialog.get_by_role("status", name="Load status")).to_have_text("Loaded", timeout=60_000)
    expect(dialog.get_by_label("Load result")).to_contain_text(f"Loaded {ROWS} rows into {dataset}.{table}")
    expect(dialog.get_by_role("progressbar", name="Load progress")).to_be_visible()
    shot(page, "load-dialog.png")

    # The load is a job of kind "load" in the history.
    with httpx.Client(base_url=live_app.api_url, timeout=30) as http:
        jobs = http.get("/jobs", params={"limit": 50}).json()["jobs"]
    loads = [j for j in jobs if j["kind"] == "load" and f"{dataset}.{table}" in j["sql"]]
    assert len(loads) == 1 and loads[0]["status"] == "completed", loads
    assert loads[0]["rows_returned"] == ROWS

    # Query this table: the SQL opens in a new tab; the explorer shows the new table.
    dialog.get_by_role("button", name="Query this table").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name=f"Insert {dataset}.{table}")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("tab", name=f"{dataset}.{table}")).to_be_visible()
    expect(page.get_by_role("textbox", name="SQL editor")).to_contain_text(f"FROM {dataset}.{table}")
    page.get_by_role("button", name="Run query").click()
    expect(page.get_by_label("Shown rows")).to_have_text(f"1 – {ROWS} of {ROWS}", timeout=30_000)
    expect(page.get_by_label("Job status").first).to_have_text("completed")

    # The Jobs history lists the load beside the queries.
    page.get_by_role("link", name="Jobs").first.click()
    row = page.get_by_role("row", name=f"Job {loads[0]['job_id']}")
    expect(row).to_contain_text(f"LOAD DATA INTO {dataset}.{table}", timeout=30_000)
    expect(row.get_by_text("load", exact=True)).to_be_visible()     # its kind, as a badge
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_bad_file_and_a_bad_name_are_shown_in_the_dialog(page, tmp_path):
    dialog = open_dialog(page)

    # Text that claims to be Parquet: a readable error, no schema, nothing to load.
    broken = tmp_path / "broken.parquet"
    broken.write_text("id,name\n1,not parquet at all\n")
    choose_file(page, broken)
    alert = dialog.get_by_role("alert")
    expect(alert).to_contain_text("The file could not be read as Parquet", timeout=30_000)
    expect(alert).to_contain_text(re.compile("not a parquet file", re.IGNORECASE))
    expect(alert).not_to_contain_text("Traceback")
    expect(dialog.get_by_role("combobox", name="Format")).to_have_text("Parquet")
    expect(dialog.get_by_role("region", name="Inferred schema")).to_have_count(0)
    expect(dialog.get_by_role("button", name="Load", exact=True)).to_be_disabled()
    shot(page, "load-dialog-error.png")

    # The same bytes read as CSV (the format can be changed) preview fine; a table name that is not one is refused
    # when loading, in the dialog, and no job is created.
    choose(page, dialog, "Format", "CSV")
    expect(dialog.get_by_role("region", name="Inferred schema")).to_contain_text("name", timeout=30_000)
    expect(alert).to_have_count(0)
    # A new dataset: the sample is no load target, so a fresh app may offer no dataset at all.
    choose(page, dialog, "Dataset", "New dataset…")
    dialog.get_by_role("textbox", name="New dataset name").fill(f"e2e_bad_{uuid.uuid4().hex[:6]}")
    dialog.get_by_role("textbox", name="Table name").fill("bad name!")
    dialog.get_by_role("button", name="Load", exact=True).click()
    expect(alert).to_contain_text("Invalid input", timeout=30_000)
    expect(alert).to_contain_text("table: 'bad name!'")
    expect(dialog.get_by_role("status", name="Load status")).to_have_count(0)
    assert page.errors == []  # type: ignore[attr-defined]
