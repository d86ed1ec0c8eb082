"""What the google-cloud-bigquery client does shows in the UI: its jobs in the history, its datasets in the
explorer."""

from __future__ import annotations

import re
import uuid

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_jobs_pages import open_page

pytestmark = pytest.mark.e2e


def test_client_jobs_and_datasets_show_in_the_ui(live_app, browser):
    client = bigquery.Client(project="e2e", credentials=AnonymousCredentials(),
                             client_options=ClientOptions(api_endpoint=live_app.api_url))
    dataset = f"e2e_bq_{uuid.uuid4().hex[:8]}"
    client.create_dataset(dataset)                 # empty: no table yet
    job = client.query("SELECT COUNT(*) AS trips FROM nyc_taxi")
    assert next(iter(job.result()))["trips"] > 0

    page, errors = open_page(browser, f"{live_app.ui_url}/jobs")
    row = page.get_by_role("row", name=f"Job {job.job_id}")
    expect(row).to_contain_text("completed", timeout=15000)
    expect(row).to_contain_text("COUNT(*)")

    page.goto(f"{live_app.ui_url}/")
    expect(page.get_by_role("button", name=re.compile(f"^(Collapse|Expand) {dataset}$")).first) \
        .to_be_visible(timeout=30000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "bigquery-client-dataset.png"))
    assert errors == []
