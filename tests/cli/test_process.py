"""The `bqlite` process itself: what it imports, its exit codes, Ctrl+C, completion, and global options."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import signal
import subprocess
import sys
import time

import httpx

from bqlite_app import __version__
from tests.cli.conftest import BQLITE, Bqlite

SLOW = "SELECT count(*) FROM range(100000000000) t(i) WHERE i % 7 = 3"


def test_help_imports_neither_reflex_nor_the_engines_nor_httpx():
    # What makes `bqlite --help` answer at once: only typer and rich load. (Timings belong in bench/, not here.)
    probe = ("import sys\nfrom bqlite_app.cli.main import app\n"
             "try:\n    app(['--help'], prog_name='bqlite')\nexcept SystemExit:\n    pass\n"
             "heavy = {'reflex', 'reflex_base', 'engines', 'duckdb', 'chdb', 'clickhouse_connect', 'pyarrow', "
             "'httpx', 'fastapi', 'sqlmodel', 'google'}\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & heavy), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "query" in result.stdout and "schemas" in result.stdout
    assert result.stderr.strip() == "[]"


def test_version_and_help_of_the_installed_script():
    version = subprocess.run([str(BQLITE), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout == f"bqlite {__version__}\n"
    no_args = subprocess.run([str(BQLITE)], capture_output=True, text=True)
    assert "Usage" in no_args.stdout + no_args.stderr and no_args.returncode in (0, 2)


def test_unreachable_server_exits_3_with_a_hint(bqlite: Bqlite):
    result = bqlite("status", env={"BQLITE_API_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 3 and result.stdout == ""
    assert "Cannot reach the BigQuery-Lite API at http://127.0.0.1:9" in result.stderr
    assert "make run" in result.stderr and "Traceback" not in result.stderr
    assert bqlite("--url", "http://127.0.0.1:9", "jobs", "list").exit_code == 3


def test_a_server_that_is_not_bqlite_is_an_api_error(bqlite: Bqlite, api_url: str):
    result = bqlite("status", env={"BQLITE_API_URL": f"{api_url}/not-here"})
    assert result.exit_code == 4 and "NOT_FOUND" in result.stderr


def test_global_options_work_before_and_after_the_command(bqlite: Bqlite, api_url: str):
    before = bqlite("--url", api_url, "--json", "status", env={"BQLITE_API_URL": "http://127.0.0.1:9"})
    after = bqlite("status", "--json", f"--url={api_url}", env={"BQLITE_API_URL": "http://127.0.0.1:9"})
    assert before.exit_code == after.exit_code == 0
    assert json.loads(before.stdout).keys() == json.loads(after.stdout).keys() >= {"total_slots", "engines"}


def test_status_and_examples(bqlite: Bqlite, api: httpx.Client):
    status = bqlite("status").stdout
    for text in ("Slots", "of 10 in use", "duckdb", "clickhouse", "embedded"):
        assert text in status
    examples = api.get("/examples").json()["examples"]
    listed = bqlite("examples").stdout
    assert all(example["title"] in listed for example in examples)
    only = json.loads(bqlite("examples", "--engine", "clickhouse", "--json").stdout)["examples"]
    assert only and {e["engine"] for e in only} == {"clickhouse"}


def test_shell_completion_offers_commands_and_engines():
    def complete(words: str) -> list[str]:
        env = {**os.environ, "_BQLITE_COMPLETE": "complete_bash", "COMP_WORDS": words,
               "COMP_CWORD": str(len(words.split()) - 1)}
        return subprocess.run([str(BQLITE)], env=env, capture_output=True, text=True).stdout.split()

    assert complete("bqlite sch") == ["schemas"]
    assert complete("bqlite query --engine cl") == ["clickhouse"]
    # The script is for the shell it runs in (typer asks the process tree), so run it from bash as a user would: a
    # test runner with no shell above it (CI, a background job) has none to detect. The trailing `exit` keeps bash
    # from replacing itself with the command, so bash stays its parent.
    assert "bqlite" in subprocess.run(["bash", "-c", f"'{BQLITE}' --show-completion; exit $?"],
                                      capture_output=True, text=True).stdout


def _running_job(api: httpx.Client, marker: str) -> str:
    """The id of the job whose SQL carries ``marker``, once the server runs it."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        jobs = api.get("/jobs", params={"search": marker, "status": "running"}).json()["jobs"]
        if jobs:
            return jobs[0]["job_id"]
        time.sleep(0.1)
    raise AssertionError(f"no running job with {marker}")


def test_ctrl_c_without_a_terminal_cancels_the_job(api: httpx.Client, api_url: str):
    marker = f"ctrl-c-{time.monotonic_ns()}"
    process = subprocess.Popen([str(BQLITE), "query", f"{SLOW} -- {marker}"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "BQLITE_API_URL": api_url})
    job_id = _running_job(api, marker)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130 and stdout == ""
    assert f"job {job_id} cancelled on the server" in stderr and "Traceback" not in stderr
    assert api.get(f"/jobs/{job_id}").json()["status"] == "cancelled"


def test_ctrl_c_on_a_terminal_asks_and_can_leave_the_job_running(api: httpx.Client, api_url: str):
    marker = f"ctrl-c-tty-{time.monotonic_ns()}"
    pid, terminal = pty.fork()
    if pid == 0:  # the child: bqlite on a pseudo-terminal, as in an interactive shell
        os.environ["BQLITE_API_URL"] = api_url
        os.execv(str(BQLITE), [str(BQLITE), "query", f"{SLOW} -- {marker}"])
    job_id = None
    try:
        job_id = _running_job(api, marker)
        os.kill(pid, signal.SIGINT)
        screen = _read_until(terminal, b"on the server?")
        assert job_id.encode() in screen
        os.write(terminal, b"n\n")
        screen += _read_until(terminal, b"keeps running")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 130
        assert api.get(f"/jobs/{job_id}").json()["status"] == "running"
    finally:
        os.close(terminal)
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        if job_id:
            api.delete(f"/jobs/{job_id}")


def _read_until(terminal: int, wanted: bytes, timeout_s: float = 30) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout_s
    while wanted not in seen:
        assert time.monotonic() < deadline, f"never saw {wanted!r} in {seen[-500:]!r}"
        try:
            seen += os.read(terminal, 4096)
        except OSError:  # the child closed the terminal
            break
    assert wanted in seen, seen[-500:]
    return seen
