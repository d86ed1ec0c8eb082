"""The Schemas pages in a real browser: register a .proto (with an import), create tables, ingest, query, delete."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from google.protobuf.internal.encoder import _VarintBytes
from playwright.sync_api import Page, expect

from bqlite_app.schemas.compiler import ProtoFile, compile_schema
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_jobs_pages import open_page

pytestmark = pytest.mark.e2e

COMMON = b"""
syntax = "proto3";
package e2e.common;
message Place { int32 zone = 1; string borough = 2; }
"""

EVENT = b"""
syntax = "proto3";
package e2e.v1;
import "e2e/common.proto";
import "google/protobuf/timestamp.proto";

enum Kind { KIND_UNSPECIFIED = 0; PICKUP = 1; DROPOFF = 2; }

message Event {
  uint64 event_id = 1;
  double fare = 2;
  Kind kind = 3;
  e2e.common.Place place = 4;
  repeated string tags = 5;
  google.protobuf.Timestamp at = 6;
}
"""
BROKEN = EVENT.replace(b"double fare = 2;", b"double fare = 2")
BREAKING = EVENT.replace(b"double fare = 2;", b"string fare = 2;")
COMPATIBLE = EVENT.replace(b"google.protobuf.Timestamp at = 6;",
                           b"google.protobuf.Timestamp at = 6;\n  double tip = 7;")
ROWS = 750


def event_body(count: int) -> bytes:
    compiled = compile_schema(ProtoFile("event.proto", EVENT), [ProtoFile("e2e/common.proto", COMMON)])
    event_class = compiled.message_class("e2e.v1.Event")
    body = bytearray()
    for i in range(count):
        event = event_class(event_id=i, fare=2.5 * i, kind=1 + i % 2, tags=["x"] * (i % 3))
        event.place.zone, event.place.borough = i % 260, "Queens"
        event.at.seconds = 1_700_000_000 + i
        payload = event.SerializeToString()
        body += _VarintBytes(len(payload)) + payload
    return bytes(body)


def choose(page: Page, zone: str, name: str, content: bytes, mime: str = "text/plain") -> None:
    page.locator(f"#{zone}-zone input[type=file]").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": content}])


def count_rows(live_app, table: str, engine: str) -> int:
    with httpx.Client(base_url=live_app.api_url, timeout=60) as http:
        job = http.post("/queries", json={"sql": f"SELECT count(*) FROM {table}", "engine": engine}).json()
        result = http.get(f"/jobs/{job['job_id']}/result", params={"timeout_ms": 30000}).json()
    assert "rows" in result, result
    return int(result["rows"][0][0])


def test_register_create_ingest_query_and_delete(live_app, browser):
    table = f"events_{uuid.uuid4().hex[:6]}"
    qualified = f"bigquery_lite.{table}"
    page, errors = open_page(browser, f"{live_app.ui_url}/schemas")
    expect(page.get_by_role("heading", name="Register a schema")).to_be_visible()

    # A compiler error is shown with protoc's file:line:column.
    choose(page, "proto_imports", "common.proto", COMMON)
    choose(page, "proto_main", "event.proto", BROKEN)
    expect(page.get_by_text("Main: event.proto")).to_be_visible()
    page.get_by_role("textbox", name="Table name").fill(table)
    page.get_by_role("button", name="Register").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("did not compile")
    expect(alert).to_contain_text(re.compile(r"event\.proto:\d+:\d+"))
    alert.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "schemas-register-error.png"))

    # The fixed file: its one message is suggested, the import is matched to its import path.
    choose(page, "proto_main", "event.proto", EVENT)
    expect(page.get_by_role("textbox", name="Message type")).to_have_value("e2e.v1.Event", timeout=10000)
    page.get_by_role("textbox", name="Table name").fill(table)
    page.get_by_role("textbox", name="Description").fill("Events from the e2e test")
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(re.compile(r"/schemas/[^/]+$"), timeout=15000)
    schema_id = page.url.rsplit("/", 1)[-1]
    expect(page.get_by_role("heading", name=qualified)).to_be_visible()
    fields = page.get_by_role("tabpanel", name="Fields")
    expect(fields).to_contain_text("borough")          # nested message fields are in the tree
    expect(fields).to_contain_text("REPEATED")

    # Tables in both engines, then ingest a length-delimited file.
    page.get_by_role("button", name="Create tables in all engines").click()
    expect(page.get_by_text(f"Created {qualified}")).to_have_count(2, timeout=20000)
    choose(page, "ingest_file", "events.bin", event_body(ROWS), mime="application/octet-stream")
    page.get_by_role("button", name="Ingest", exact=True).click()
    expect(page.get_by_role("status", name="Ingest result")).to_contain_text(f"Ingested {ROWS} messages", timeout=30000)
    expect(page.get_by_label("DuckDB rows")).to_have_text(f"{ROWS} rows")
    expect(page.get_by_label("ClickHouse rows")).to_have_text(f"{ROWS} rows")
    link = page.get_by_role("link", name="Query DuckDB table in workspace")
    assert "LIMIT+100" in (link.get_attribute("href") or "") and table in (link.get_attribute("href") or "")
    page.screenshot(path=str(ARTIFACTS / "schema-detail.png"), full_page=True)

    assert count_rows(live_app, qualified, "duckdb") == ROWS
    assert count_rows(live_app, qualified, "clickhouse") == ROWS

    page.get_by_role("tab", name="DDL").click()
    expect(page.get_by_role("region", name="DDL").first).to_contain_text("CREATE TABLE")
    page.get_by_role("tab", name="Versions").click()
    expect(page.get_by_text("Initial version.")).to_be_visible()

    # The list shows the version and the engines with tables.
    page.get_by_role("link", name="Schemas").first.click()
    row = page.get_by_role("row").filter(has_text=qualified)
    expect(row).to_contain_text("DuckDB")
    expect(row).to_contain_text("ClickHouse")
    page.screenshot(path=str(ARTIFACTS / "schemas.png"), full_page=True)

    # Check changes previews a re-registration of the existing table and changes nothing.
    choose(page, "proto_imports", "common.proto", COMMON)
    choose(page, "proto_main", "event.proto", COMPATIBLE)
    expect(page.get_by_role("textbox", name="Message type")).to_have_value("e2e.v1.Event", timeout=10000)
    page.get_by_role("textbox", name="Table name").fill(table)
    page.get_by_role("button", name="Check changes").click()
    preview = page.get_by_role("status", name="Changes")
    expect(preview).to_contain_text("Compatible: registering makes version 2. New columns: tip")
    preview.evaluate("element => element.scrollIntoView({block: 'center'})")
    page.screenshot(path=str(ARTIFACTS / "schemas-check-changes.png"))

    # A breaking change: the preview marks it, and registering is refused with each breaking change listed.
    choose(page, "proto_main", "event.proto", BREAKING)
    expect(preview).to_have_count(0)                   # new files, so the old preview is gone
    page.get_by_role("button", name="Check changes").click()
    expect(preview).to_contain_text("Breaking: 1 change(s) against version 1")
    expect(preview).to_contain_text("fare")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("alert")).to_contain_text("Not compatible")
    expect(page.get_by_role("alert")).to_contain_text("fare")
    with httpx.Client(base_url=live_app.api_url, timeout=30) as http:
        assert http.get(f"/schemas/{schema_id}").json()["version"] == 1

    # Delete, dropping the tables.
    page.goto(f"{live_app.ui_url}/schemas/{schema_id}")
    page.get_by_role("button", name="Delete", exact=True).click()
    dialog = page.get_by_role("alertdialog")
    dialog.get_by_role("checkbox", name="Also drop the tables").click()
    expect(dialog.get_by_role("checkbox", name="Also drop the tables")).to_be_checked()
    page.screenshot(path=str(ARTIFACTS / "schema-delete-dialog.png"))
    dialog.get_by_role("button", name="Delete schema").click()
    page.wait_for_url(re.compile(r"/schemas$"), timeout=15000)
    expect(page.get_by_role("row").filter(has_text=qualified)).to_have_count(0)
    with httpx.Client(base_url=live_app.api_url, timeout=30) as http:
        assert http.get(f"/schemas/{schema_id}").status_code == 404
        for engine in ("duckdb", "clickhouse"):
            job = http.post("/queries", json={"sql": f"SELECT count(*) FROM {qualified}", "engine": engine}).json()
            result = http.get(f"/jobs/{job['job_id']}/result", params={"timeout_ms": 30000}).json()
            assert result["status"] == "failed", result     # the table was dropped
    assert errors == []
    page.close()
