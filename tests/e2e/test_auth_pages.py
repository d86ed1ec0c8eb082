"""Auth on, in a real browser against the real app: sign in, a member refused a dataset until an admin grants it,
an API token created, used and revoked, and all of it in the audit log. Screenshots go to test-artifacts/auth/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN_PASSWORD, ARTIFACTS

MEMBER, MEMBER_PASSWORD = "carol", "carol-password-123"
FORBIDDEN_SQL = "SELECT count(*) AS n FROM sales.orders"


def shot(page: Page, name: str) -> None:
    (ARTIFACTS / "auth").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "auth" / name))


def token_for(app, username: str, password: str) -> str:
    answer = httpx.post(f"{app.api_url}/auth/token", data={"username": username, "password": password}, timeout=30)
    answer.raise_for_status()
    return answer.json()["access_token"]


def run_sql(app, token: str, sql: str) -> dict:
    """Run a statement through the REST API as the token's user and wait for it."""
    with httpx.Client(base_url=app.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        job = http.post("/queries", json={"sql": sql, "engine": "duckdb"})
        job.raise_for_status()
        return http.get(f"/jobs/{job.json()['job_id']}/result", params={"timeout_ms": 30000}).json()


@pytest.fixture(scope="module")
def app(auth_app):
    """The auth-on app with a dataset ``sales`` that only its creator (the admin) may read."""
    admin = token_for(auth_app, "admin", ADMIN_PASSWORD)
    run_sql(auth_app, admin, "CREATE SCHEMA sales")
    run_sql(auth_app, admin, "CREATE TABLE sales.orders AS SELECT 1 AS id, 9.5 AS amount")
    return auth_app


@pytest.fixture(scope="module")
def admin_page(app, browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 860})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="module")
def member_page(app, browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 860}, accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Page, app, username: str, password: str, *, path: str = "/") -> None:
    page.goto(app.ui_url + path, wait_until="networkidle")
    expect(page).to_have_url(re.compile(r"/login"), timeout=30_000)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def choose(page: Page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()


def run_in_editor(page: Page, sql: str) -> None:
    editor = page.get_by_role("textbox", name="SQL editor")
    editor.click(position={"x": 4, "y": 4})
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(sql)
    page.get_by_role("button", name="Run query").click()


def test_admin_signs_in_and_creates_a_member(app, admin_page):
    page = admin_page
    sign_in(page, app, "admin", "not-the-password", path="/jobs")
    expect(page.get_by_role("alert")).to_contain_text("username or password", ignore_case=True, timeout=30_000)
    shot(page, "login-refused.png")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/jobs/?$"), timeout=30_000)       # back where the login started
    expect(page.get_by_role("button", name="User menu")).to_contain_text("admin (admin)")
    # The token survives a reload.
    page.reload(wait_until="networkidle")
    expect(page).to_have_url(re.compile(r"/jobs/?$"))
    expect(page.get_by_role("button", name="User menu")).to_contain_text("admin (admin)", timeout=30_000)

    page.goto(app.ui_url + "/admin/users", wait_until="networkidle")
    page.get_by_label("New username").fill(MEMBER)
    page.get_by_label("New user's password").fill(MEMBER_PASSWORD)
    page.get_by_role("button", name="Create user").click()
    row = page.get_by_role("row", name=f"User {MEMBER}")
    expect(row).to_contain_text("active", timeout=30_000)
    expect(page.get_by_role("combobox", name=f"Role of {MEMBER}")).to_have_text("member")
    shot(page, "admin-users.png")


def test_member_is_refused_a_dataset_until_an_admin_grants_it(app, admin_page, member_page):
    page = member_page
    sign_in(page, app, MEMBER, MEMBER_PASSWORD)
    page.get_by_role("textbox", name="SQL editor").wait_for(timeout=30_000)
    expect(page.get_by_role("button", name="User menu")).to_contain_text(f"{MEMBER} (member)")
    # Members have no admin pages, and the explorer shows only what they may read.
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    expect(page.get_by_label("Insert main.nyc_taxi")).to_be_visible(timeout=30_000)
    expect(page.get_by_label("Insert sales.orders")).to_have_count(0)

    run_in_editor(page, FORBIDDEN_SQL)
    refusal = page.get_by_role("alert", name="Query error")
    expect(refusal).to_contain_text("needs reader on dataset sales", timeout=30_000)
    shot(page, "member-refused.png")

    admin = admin_page
    admin.goto(app.ui_url + "/admin/datasets", wait_until="networkidle")
    expect(admin.get_by_role("row", name="Dataset sales")).to_be_visible(timeout=30_000)
    choose(admin, "Dataset", "sales")
    choose(admin, "User", MEMBER)
    choose(admin, "Dataset role", "reader")
    admin.get_by_role("button", name="Grant access").click()
    expect(admin.get_by_role("row", name=f"Grant sales {MEMBER}")).to_contain_text("reader", timeout=30_000)
    shot(admin, "admin-grants.png")

    page.get_by_role("button", name="Run query").click()
    expect(page.get_by_test_id("glide-cell-1-0")).to_have_text("1", timeout=30_000)
    expect(page.get_by_label("Job status").first).to_have_text("completed")
    shot(page, "member-granted.png")

    # A download is a one-minute link to the API's streamed export: a plain link could not carry the token.
    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name="Download CSV").click()
    assert Path(download.value.path()).read_text().splitlines() == ['"n"', "1"]

    # The member's history holds only the member's jobs.
    page.goto(app.ui_url + "/jobs", wait_until="networkidle")
    expect(page.get_by_role("row", name=re.compile(r"^Job "))).to_have_count(1, timeout=30_000)


def test_an_api_token_is_created_used_revoked_and_audited(app, admin_page, member_page):
    page = member_page
    page.get_by_role("button", name="User menu").click()
    page.get_by_role("menuitem", name="API tokens").click()
    page.get_by_label("Token name").fill("nightly-export")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("New API token")
    expect(secret).to_contain_text("bql_", timeout=30_000)
    token = secret.inner_text().strip()
    shot(page, "api-token-created.png")
    me = httpx.get(f"{app.api_url}/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert me.status_code == 200 and me.json()["username"] == MEMBER

    page.get_by_role("button", name="Done, I copied it").click()
    expect(page.get_by_label("New API token")).to_have_count(0)
    page.get_by_role("button", name="Revoke nightly-export").click()
    expect(page.get_by_role("row", name="API token nightly-export")).to_have_count(0, timeout=30_000)
    me = httpx.get(f"{app.api_url}/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert me.status_code == 401
    page.keyboard.press("Escape")

    admin = admin_page
    admin.goto(app.ui_url + "/admin/audit", wait_until="networkidle")
    admin.get_by_label("Actor").fill(MEMBER)
    admin.get_by_role("button", name="Filter").click()
    events = admin.get_by_label("Audit events")
    for action in ("auth.login", "access.denied", "job.submit", "token.create", "token.revoke"):
        expect(events).to_contain_text(action, timeout=30_000)
    assert token not in events.inner_text()
    admin.get_by_label("Actor").fill("admin")
    admin.get_by_role("button", name="Filter").click()
    expect(events).to_contain_text("grant.set", timeout=30_000)
    expect(events).to_contain_text("user.create")
    admin.get_by_role("button", name="Verify chain").click()
    expect(admin.get_by_role("status", name="Chain verification")).to_contain_text("Chain intact", timeout=30_000)
    shot(admin, "audit-log.png")

    # A member asking for an admin page is told why it is empty.
    page.goto(app.ui_url + "/admin/audit", wait_until="networkidle")
    expect(page.get_by_role("alert")).to_contain_text("needs the admin role", timeout=30_000)
    shot(page, "member-admin-refused.png")

    # Signing out forgets the token: the next page asks for a login again.
    page.get_by_role("button", name="User menu").click()
    page.get_by_role("menuitem", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"), timeout=30_000)
    page.goto(app.ui_url + "/jobs", wait_until="networkidle")
    expect(page).to_have_url(re.compile(r"/login\?next="), timeout=30_000)
