"""The auth commands against a real backend with BQLITE_AUTH=on: the contract end to end, as a team would use it.

The fake in test_access.py covers the CLI's own behaviour in detail; this checks it speaks the real server's
language: login, whoami, users, grants, API tokens, refusals and the audit log.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.cli.conftest import ADMIN_PASSWORD, Bqlite

BOB_PASSWORD = "bob-password-1234"

As = Callable[..., Result]


@pytest.fixture
def as_user(auth_api_url: str, tmp_path: Path) -> As:
    """`bqlite ARGS...` as a given local user: each has their own config dir (their own stored login)."""
    from bqlite_app.cli.main import app

    outputs: list[str] = []

    def run(user: str, *args: str, input: str | None = None, env: dict[str, str | None] | None = None) -> Result:
        base: dict[str, str | None] = {"BQLITE_API_URL": auth_api_url, "BQLITE_TOKEN": None,
                                       "XDG_CONFIG_HOME": str(tmp_path / user), "COLUMNS": "200"}
        result = CliRunner().invoke(app, list(args), input=input, env={**base, **(env or {})},
                                    catch_exceptions=False)
        if args[:2] != ("tokens", "create"):
            outputs.append(result.output)
        return result

    run.outputs = outputs  # type: ignore[attr-defined]
    return run


def _login(as_user: As, user: str, password: str) -> None:
    result = as_user(user, "login", "-u", user, "--password-stdin", input=password + "\n")
    assert result.exit_code == 0, result.output


def test_login_whoami_users_and_api_tokens(as_user: As, tmp_path: Path):
    assert as_user("admin", "whoami").exit_code == 4  # not logged in yet
    _login(as_user, "admin", ADMIN_PASSWORD)
    path = tmp_path / "admin" / "bqlite" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    whoami = as_user("admin", "whoami")
    assert whoami.exit_code == 0 and "admin" in whoami.stdout

    created = as_user("admin", "users", "create", "carol", "--password-stdin", input="carol-password-1234\n")
    assert created.exit_code == 0, created.output
    assert "carol" in as_user("admin", "users", "list").stdout
    assert as_user("admin", "users", "create", "dave", "--password-stdin", input="short\n").exit_code == 4

    secret = as_user("admin", "tokens", "create", "ci", "--expires-in-days", "1").stdout.strip()
    assert secret.startswith("bql_")
    listed = json.loads(as_user("admin", "tokens", "list", "--json").stdout)["tokens"]
    token_id = next(token["id"] for token in listed if token["name"] == "ci")
    with_token = as_user("robot", "whoami", "--json", env={"BQLITE_TOKEN": secret})
    assert with_token.exit_code == 0 and json.loads(with_token.stdout)["username"] == "admin"
    assert as_user("admin", "tokens", "revoke", token_id).exit_code == 0
    refused = as_user("robot", "whoami", env={"BQLITE_TOKEN": secret})
    assert refused.exit_code == 4 and "AUTH_REQUIRED" in refused.stderr
    assert "BQLITE_TOKEN" in refused.stderr and "run `bqlite login`" in refused.stderr

    assert as_user("admin", "users", "deactivate", "carol").exit_code == 0
    assert as_user("carol", "login", "-u", "carol", "--password-stdin", input="carol-password-1234\n").exit_code == 4
    assert as_user("admin", "users", "delete", "carol", "--yes").exit_code == 0

    assert as_user("admin", "logout").exit_code == 0 and not path.exists()
    for output in as_user.outputs:  # type: ignore[attr-defined]
        for secret_text in (ADMIN_PASSWORD, "carol-password-1234", secret):
            assert secret_text not in output


def test_a_member_is_refused_until_granted_and_the_audit_log_shows_it(as_user: As):
    _login(as_user, "admin", ADMIN_PASSWORD)
    if as_user("admin", "users", "create", "bob", "--password-stdin", input=BOB_PASSWORD + "\n").exit_code != 0:
        assert as_user("admin", "users", "activate", "bob").exit_code == 0  # from an earlier run of the session
    for sql in ("CREATE SCHEMA IF NOT EXISTS vault", "CREATE OR REPLACE TABLE vault.answers AS SELECT 42 AS answer"):
        result = as_user("admin", "query", sql)
        assert result.exit_code == 0, result.output

    _login(as_user, "bob", BOB_PASSWORD)
    me = json.loads(as_user("bob", "whoami", "--json").stdout)
    assert me["role"] == "member" and {"dataset": "default", "role": "reader"} in me["grants"]
    admin_only = as_user("bob", "users", "list")
    assert admin_only.exit_code == 4 and "ACCESS_DENIED" in admin_only.stderr
    denied = as_user("bob", "query", "SELECT answer FROM vault.answers")
    assert denied.exit_code == 4 and "ACCESS_DENIED" in denied.stderr
    assert "vault" in denied.stderr and "reader" in denied.stderr

    assert as_user("admin", "grants", "set", "vault", "bob", "reader").exit_code == 0
    assert "bob" in as_user("admin", "grants", "list", "vault").stdout
    allowed = as_user("bob", "query", "SELECT answer FROM vault.answers", "--format", "csv")
    assert allowed.exit_code == 0 and allowed.stdout.splitlines()[-1] == "42"
    assert as_user("admin", "grants", "revoke", "vault", "bob").exit_code == 0
    assert as_user("bob", "query", "SELECT answer FROM vault.answers").exit_code == 4

    events = json.loads(as_user("admin", "audit", "--actor", "bob", "--outcome", "denied", "--since", "1h",
                                "--json").stdout)["events"]
    assert events and all(event["actor"] == "bob" and event["outcome"] == "denied" for event in events)
    table = as_user("admin", "audit", "--action", "grant.set")
    assert table.exit_code == 0 and "grant.set" in table.stdout and "vault" in table.stdout
    verified = as_user("admin", "audit", "--verify")
    assert verified.exit_code == 0 and "intact" in verified.stdout
    assert as_user("bob", "audit").exit_code == 4
    for output in as_user.outputs:  # type: ignore[attr-defined]
        assert ADMIN_PASSWORD not in output and BOB_PASSWORD not in output


def test_with_auth_off_nothing_asks_for_a_login(bqlite: Bqlite):
    me = bqlite("whoami", "--json")
    assert me.exit_code == 0 and json.loads(me.stdout)["username"] == "local"
    assert json.loads(me.stdout)["role"] == "admin"
    login = bqlite("login", "--json")
    assert login.exit_code == 0 and json.loads(login.stdout)["auth"] == "off"
