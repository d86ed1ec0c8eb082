"""`bqlite login|logout|whoami|password`, `users`, `grants`, `tokens`, `audit`: the CLI's side of auth.

Against a small fake of the contract's identity routes (tests/cli/fake_api.py): what is tested here is the CLI's
own behaviour (the credentials file and its mode, token precedence, prompts with no echo, exit codes and hints,
what is sent where), not the server's logic.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import signal
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.cli.conftest import BQLITE
from tests.cli.fake_api import FakeApi, serve

ALICE_PASSWORD = "alice-password-1"

Run = Callable[..., Result]


@pytest.fixture
def fake() -> Iterator[FakeApi]:
    with serve(FakeApi()) as api:
        yield api


@pytest.fixture
def config_home(tmp_path: Path) -> Path:
    return tmp_path / "config"


@pytest.fixture
def run(fake: FakeApi, config_home: Path) -> Run:
    """`bqlite ARGS...` in-process against the fake, with its own config dir and no inherited token."""
    from bqlite_app.cli.main import app

    def invoke(*args: str, input: str | None = None, env: dict[str, str | None] | None = None) -> Result:
        base: dict[str, str | None] = {"BQLITE_API_URL": fake.url, "XDG_CONFIG_HOME": str(config_home),
                                       "BQLITE_TOKEN": None}
        return CliRunner().invoke(app, list(args), input=input, env={**base, **(env or {})}, catch_exceptions=False)

    return invoke


def credentials_file(config_home: Path) -> Path:
    return config_home / "bqlite" / "credentials.json"


def login(run: Run, user: str = "alice", password: str = ALICE_PASSWORD, *extra: str) -> Result:
    return run("login", "--username", user, "--password-stdin", *extra, input=password + "\n")


def test_login_stores_a_0600_file_keyed_by_url_and_later_commands_send_the_token(
        run: Run, fake: FakeApi, config_home: Path):
    result = login(run)
    assert result.exit_code == 0, result.stderr
    assert f"Logged in to {fake.url} as alice (member)" in result.stdout
    path = credentials_file(config_home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())
    entry = stored[fake.url]
    assert entry.keys() == {"url", "username", "access_token", "expires_at"}
    assert entry["username"] == "alice" and entry["access_token"] in fake.tokens
    assert fake.last("/auth/token").body == {"username": "alice", "password": ALICE_PASSWORD}
    # Neither the password nor the token is ever printed.
    assert ALICE_PASSWORD not in result.output and entry["access_token"] not in result.output

    whoami = run("whoami")
    assert whoami.exit_code == 0, whoami.stderr
    assert fake.last("/auth/me").authorization == f"Bearer {entry['access_token']}"
    for text in ("alice", "member", "default", "reader", "sales", "writer", str(path)):
        assert text in whoami.stdout
    assert entry["access_token"] not in whoami.output
    assert json.loads(run("whoami", "--json").stdout)["grants"][1] == {"dataset": "sales", "role": "writer"}

    again = login(run, "alice", ALICE_PASSWORD, "--json")
    answer = json.loads(again.stdout)
    assert answer["username"] == "alice" and answer["role"] == "member" and answer["credentials"] == str(path)
    assert "access_token" not in answer and "jwt." not in again.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # rewritten, still private


def test_logins_to_several_servers_live_side_by_side(run: Run, fake: FakeApi, config_home: Path):
    with serve(FakeApi()) as other:
        assert login(run).exit_code == 0
        assert login(run, "root", "root-password-1", "--url", other.url).exit_code == 0
        stored = json.loads(credentials_file(config_home).read_text())
        assert {stored[fake.url]["username"], stored[other.url]["username"]} == {"alice", "root"}
        assert "root" in run("whoami", "--url", other.url + "/").stdout  # a trailing slash is the same server

        assert run("logout").stdout.startswith(f"Logged out of {fake.url}")
        assert list(json.loads(credentials_file(config_home).read_text())) == [other.url]
        assert "Not logged in" in run("logout").stdout
        assert run("logout", "--url", other.url).exit_code == 0
        assert not credentials_file(config_home).exists()


def test_token_option_and_env_take_precedence_over_the_stored_login(run: Run, fake: FakeApi):
    assert login(run).exit_code == 0
    fake.tokens.update({"env-token": "root", "option-token": "root"})

    assert run("whoami", env={"BQLITE_TOKEN": "env-token"}).exit_code == 0
    assert fake.last("/auth/me").authorization == "Bearer env-token"
    result = run("whoami", "--token", "option-token", env={"BQLITE_TOKEN": "env-token"})
    assert fake.last("/auth/me").authorization == "Bearer option-token"
    assert "--token" in result.stdout and "option-token" not in result.output
    assert "BQLITE_TOKEN" in run("whoami", env={"BQLITE_TOKEN": "env-token"}).stdout
    assert run("whoami").exit_code == 0
    assert fake.last("/auth/me").authorization.startswith("Bearer jwt.alice.")


def test_401_exits_4_with_the_detail_and_a_login_hint(run: Run, fake: FakeApi, config_home: Path):
    result = run("whoami")
    assert result.exit_code == 4 and result.stdout == ""
    assert "Not authenticated (AUTH_REQUIRED, HTTP 401)" in result.stderr
    assert "run `bqlite login`" in result.stderr and "Traceback" not in result.stderr
    assert fake.last("/auth/me").authorization is None

    refused = run("users", "list", "--token", "not-a-token")
    assert refused.exit_code == 4 and "--token" in refused.stderr and "run `bqlite login`" in refused.stderr
    assert "not-a-token" not in refused.output

    # An expired stored login is not even sent.
    assert login(run).exit_code == 0
    path = credentials_file(config_home)
    stored = json.loads(path.read_text())
    stored[fake.url]["expires_at"] = "2020-01-01T00:00:00+00:00"
    path.write_text(json.dumps(stored))
    expired = run("whoami")
    assert expired.exit_code == 4 and "expired" in expired.stderr and "run `bqlite login`" in expired.stderr
    assert fake.last("/auth/me").authorization is None


def test_403_exits_4_with_the_servers_message(run: Run, fake: FakeApi):
    assert login(run).exit_code == 0
    for args in (["users", "list"], ["audit"], ["grants", "set", "sales", "bob", "reader"]):
        result = run(*args)
        assert result.exit_code == 4, args
        assert "Access denied: " in result.stderr and "(ACCESS_DENIED, HTTP 403)" in result.stderr
        assert "bqlite login" not in result.stderr
    assert "you need the role owner on dataset 'sales'" in result.stderr


def test_wrong_password_exits_4_and_stores_nothing(run: Run, config_home: Path):
    result = login(run, "alice", "wrong-password-123")
    assert result.exit_code == 4
    assert "Incorrect username or password" in result.stderr and "Check the username and password" in result.stderr
    assert "wrong-password-123" not in result.output
    assert not credentials_file(config_home).exists()


def test_the_login_limiter_says_when_to_try_again(run: Run, config_home: Path):
    result = login(run, "locked", "any-password-123")
    assert result.exit_code == 4 and "(RATE_LIMITED, HTTP 429)" in result.stderr
    assert "Try again in 30 s." in result.stderr
    assert not credentials_file(config_home).exists()


def test_login_without_a_terminal_needs_password_stdin_and_a_username(run: Run, fake: FakeApi):
    no_stdin_flag = run("login", "--username", "alice", input="")
    assert no_stdin_flag.exit_code == 2 and "--password-stdin" in no_stdin_flag.stderr
    no_user = run("login", "--password-stdin", input=ALICE_PASSWORD + "\n")
    assert no_user.exit_code == 2 and "--username" in no_user.stderr
    assert not any(request.path == "/auth/token" for request in fake.requests)


def test_login_with_auth_off_says_there_is_nothing_to_do(run: Run, fake: FakeApi, config_home: Path):
    fake.auth_off = True
    result = run("login")
    assert result.exit_code == 0 and "Auth is off" in result.stderr
    assert not credentials_file(config_home).exists()
    assert "local" in run("whoami").stdout


def test_login_on_a_terminal_does_not_echo_the_password(fake: FakeApi, config_home: Path):
    screen, code = _on_terminal(["login"], fake.url, config_home, [(b"Username", b"alice\n"),
                                                                    (b"Password for alice", ALICE_PASSWORD.encode()
                                                                     + b"\n")])
    assert code == 0, screen
    assert b"Username: alice\r\n" in screen  # the terminal echoes what is typed, but not the password
    assert f"Logged in to {fake.url} as alice (member)".encode() in screen
    assert ALICE_PASSWORD.encode() not in screen
    path = credentials_file(config_home)
    # The child ran with umask 0: the file's mode does not depend on it.
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text())[fake.url]["username"] == "alice"
    assert ALICE_PASSWORD not in path.read_text()


def test_users_create_asks_twice_on_a_terminal(fake: FakeApi, config_home: Path, run: Run):
    assert login(run, "root", "root-password-1").exit_code == 0
    new_password = b"bob-password-12"
    screen, code = _on_terminal(["users", "create", "bob"], fake.url, config_home,
                                [(b"Password for bob:", new_password + b"\n"), (b"(again)", new_password + b"\n")])
    assert code == 0, screen
    assert new_password not in screen and b"Created user bob: member, active" in screen
    assert fake.last("/users").body == {"username": "bob", "password": new_password.decode(), "role": "member"}


def _on_terminal(args: list[str], url: str, config_home: Path, dialogue: list[tuple[bytes, bytes]],
                 ) -> tuple[bytes, int]:
    """Run the installed `bqlite ARGS` on a pseudo-terminal, answering each prompt; the screen and exit code."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: as from an interactive shell
        os.umask(0)
        os.environ.update({"BQLITE_API_URL": url, "XDG_CONFIG_HOME": str(config_home), "COLUMNS": "200"})
        os.environ.pop("BQLITE_TOKEN", None)
        os.execv(str(BQLITE), [str(BQLITE), *args])
    screen = b""
    try:
        for prompt, answer in dialogue:
            screen += _read_until(terminal, prompt)
            time.sleep(0.2)  # let getpass turn echo off before typing, as a person would
            os.write(terminal, answer)
        screen += _drain(terminal)
        _, status = os.waitpid(pid, 0)
        return re.sub(rb"\x1b\[[0-9;]*m", b"", screen), os.waitstatus_to_exitcode(status)
    finally:
        os.close(terminal)
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _drain(terminal: int, timeout_s: float = 30) -> bytes:
    """Everything the child writes until it closes the terminal."""
    seen = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # the child exited
            break
        if not chunk:
            break
        seen += chunk
    return seen


def _read_until(terminal: int, wanted: bytes, timeout_s: float = 30) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout_s
    while wanted not in seen:
        assert time.monotonic() < deadline, f"never saw {wanted!r} in {seen[-500:]!r}"
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    assert wanted in seen, seen[-500:]
    return seen


def test_tokens_create_prints_the_secret_once_alone_on_stdout(run: Run, fake: FakeApi):
    assert login(run).exit_code == 0
    created = run("tokens", "create", "ci", "--expires-in-days", "90")
    assert created.exit_code == 0 and created.stdout == "bql_s3cr3t-api-token\n"
    assert "not shown again" in created.stderr
    assert fake.last("/auth/api-tokens").body == {"name": "ci", "expires_in_days": 90}
    assert run("tokens", "create", "forever").exit_code == 0
    assert fake.last("/auth/api-tokens").body == {"name": "forever", "expires_in_days": None}

    listed = run("tokens", "list")
    assert listed.exit_code == 0 and "ci" in listed.stdout and "never" in listed.stdout
    assert "bql_" not in listed.output
    assert run("tokens", "revoke", "7").exit_code == 0
    assert fake.requests[-1].method == "DELETE" and fake.requests[-1].path == "/auth/api-tokens/7"


@pytest.mark.parametrize(("args", "method", "path", "body"), [
    (["users", "set-role", "alice", "admin"], "PATCH", "/users/alice", {"role": "admin"}),
    (["users", "deactivate", "alice"], "PATCH", "/users/alice", {"active": False}),
    (["users", "activate", "alice"], "PATCH", "/users/alice", {"active": True}),
    (["users", "delete", "alice", "--yes"], "DELETE", "/users/alice", None),
    (["users", "create", "bob", "--role", "admin", "--password-stdin"], "POST", "/users",
     {"username": "bob", "password": "bob-password-12", "role": "admin"}),
    (["grants", "list", "sales"], "GET", "/datasets/sales/grants", None),
    (["grants", "set", "sales", "alice", "writer"], "PUT", "/datasets/sales/grants/alice", {"role": "writer"}),
    (["grants", "revoke", "sales", "alice"], "DELETE", "/datasets/sales/grants/alice", None),
    (["password", "--password-stdin"], "POST", "/auth/password",
     {"current_password": "root-password-1", "new_password": "root-password-2"}),
])
def test_admin_commands_send_the_contracts_requests(run: Run, fake: FakeApi, args: list[str], method: str,
                                                    path: str, body: object):
    assert login(run, "root", "root-password-1").exit_code == 0
    stdin = {"/users": "bob-password-12\n", "/auth/password": "root-password-1\nroot-password-2\n"}.get(path)
    result = run(*args, input=stdin)
    assert result.exit_code == 0, result.stderr
    request = fake.requests[-1]
    assert (request.method, request.path, request.body) == (method, path, body)
    assert request.authorization.startswith("Bearer jwt.root.")
    assert "password-1" not in result.output and "password-12" not in result.output


def test_users_list_and_grants_list_show_tables(run: Run):
    assert login(run, "root", "root-password-1").exit_code == 0
    users = run("users", "list").stdout
    assert "USERNAME" in users and "alice" in users and "member" in users and "root" in users
    grants = run("grants", "list", "sales")
    assert "alice" in grants.stdout and "reader" in grants.stdout and "on sales" in grants.stderr
    assert json.loads(run("grants", "list", "sales", "--json").stdout)["dataset"] == "sales"


def test_audit_filters_and_verify(run: Run, fake: FakeApi):
    assert login(run, "root", "root-password-1").exit_code == 0
    listed = run("audit", "--actor", "alice", "--outcome", "denied", "--since", "2h", "--until",
                 "2026-01-26T12:00:00+01:00", "--limit", "5")
    assert listed.exit_code == 0, listed.stderr
    for text in ("access.denied", "auth.login", "denied", '{"needs":"reader"}'):
        assert text in listed.stdout
    query = fake.last("/audit").query
    assert query["actor"] == "alice" and query["outcome"] == "denied" and query["limit"] == "5"
    assert query["until"] == "2026-01-26T11:00:00+00:00" and query["since"].endswith("+00:00")
    assert run("audit", "--since", "yesterday").exit_code == 2

    intact = run("audit", "--verify")
    assert intact.exit_code == 0 and "intact" in intact.stdout
    fake.chain_ok = False
    broken = run("audit", "--verify")
    assert broken.exit_code == 1 and "broken at event 2" in broken.stderr
    assert json.loads(run("audit", "--verify", "--json").stdout)["first_bad_id"] == 2
