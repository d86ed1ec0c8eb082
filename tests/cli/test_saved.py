"""`bqlite saved`: save, list, show, run and delete against the real backend; with BQLITE_AUTH=on, sharing."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest
from typer.testing import CliRunner, Result

from tests.cli.conftest import ADMIN_PASSWORD, Bqlite

MEMBER_PASSWORD = "saved-cli-password-1"


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_save_list_show_run_update_delete(bqlite: Bqlite, api: httpx.Client, tmp_path):
    sql_file = tmp_path / "hourly.sql"
    sql_file.write_text("SELECT i, i * 10 AS tens FROM range(3) t(i) ORDER BY i\n")
    saved = bqlite("saved", "save", "Tens by i", "-f", str(sql_file), "-d", "a small table")
    assert saved.exit_code == 0, saved.stderr
    assert saved.stdout.startswith("Saved Tens by i (sq_") and "private" in saved.stdout

    listed = bqlite("saved", "list", "--search", "small", env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "Tens by i" in listed.stdout and "a small table" in listed.stdout
    shown = bqlite("saved", "show", "Tens by i")
    assert shown.exit_code == 0 and "range(3)" in shown.stdout and "local" in shown.stdout

    run = bqlite("saved", "run", "Tens by i")
    assert run.exit_code == 0, run.stderr
    assert csv_rows(run.stdout) == [["i", "tens"], ["0", "0"], ["1", "10"], ["2", "20"]]
    job = api.get("/jobs", params={"limit": 1}).json()["jobs"][0]
    assert job["labels"]["saved_query"].startswith("sq_")
    as_json = bqlite("saved", "run", "Tens by i", "--format", "json")
    assert json.loads(as_json.stdout) == [{"i": 0, "tens": 0}, {"i": 1, "tens": 10}, {"i": 2, "tens": 20}]

    # Saving the same name again updates it, from stdin this time.
    again = bqlite("saved", "save", "Tens by i", "--everyone", input="SELECT 7 AS seven")
    assert again.exit_code == 0 and again.stdout.startswith("Updated Tens by i") and "everyone" in again.stdout
    assert csv_rows(bqlite("saved", "run", "Tens by i").stdout) == [["seven"], ["7"]]
    on_clickhouse = bqlite("saved", "run", "Tens by i", "--engine", "clickhouse", "--format", "json")
    assert json.loads(on_clickhouse.stdout) == [{"seven": 7}] and "on clickhouse" in on_clickhouse.stderr
    saved_id = json.loads(bqlite("saved", "show", "Tens by i", "--json").stdout)["id"]
    assert json.loads(bqlite("saved", "show", saved_id, "--json").stdout)["sql"] == "SELECT 7 AS seven"

    deleted = bqlite("saved", "delete", "Tens by i", "--yes")
    assert deleted.exit_code == 0 and "Deleted Tens by i" in deleted.stdout
    missing = bqlite("saved", "show", "Tens by i")
    assert missing.exit_code == 4 and "No saved query named 'Tens by i'" in missing.stderr


def test_errors_exit_with_the_api_code(bqlite: Bqlite, tmp_path):
    sql_file = tmp_path / "q.sql"
    sql_file.write_text("SELECT 1")
    bad_name = bqlite("saved", "save", "a/b", "-f", str(sql_file))
    assert bad_name.exit_code == 4 and "VALIDATION_FAILED" in bad_name.stderr
    bad_engine = bqlite("saved", "save", "eng", "-f", str(sql_file), "--engine", "oracle")
    assert bad_engine.exit_code == 4 and "ENGINE_NOT_AVAILABLE" in bad_engine.stderr
    assert bqlite("saved", "show", "sq_0000000000000000").exit_code == 4
    empty = bqlite("saved", "save", "empty", input="   ")
    assert empty.exit_code == 2
    both = bqlite("saved", "save", "x", "-f", str(sql_file), "--everyone", "--private")
    assert both.exit_code == 2


def test_a_saved_query_with_parameters(bqlite: Bqlite):
    assert bqlite("saved", "save", "doubled", input="SELECT @n * 2 AS doubled").exit_code == 0
    run = bqlite("saved", "run", "doubled", "--param", "n:INT64:21", "--format", "json")
    assert run.exit_code == 0, run.stderr
    assert json.loads(run.stdout) == [{"doubled": 42}]
    bqlite("saved", "delete", "doubled", "--yes")


def test_a_failing_saved_query_exits_with_1(bqlite: Bqlite):
    assert bqlite("saved", "save", "broken", input="SELECT * FROM no_such_table").exit_code == 0
    run = bqlite("saved", "run", "broken")
    assert run.exit_code == 1 and "no_such_table" in run.stderr
    bqlite("saved", "delete", "broken", "--yes")


# -- auth on ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokens(auth_api_url: str) -> dict[str, str]:
    with httpx.Client(base_url=auth_api_url, timeout=60) as http:
        def token(user: str, password: str) -> str:
            answer = http.post("/auth/token", data={"username": user, "password": password})
            assert answer.status_code == 200, answer.text
            return answer.json()["access_token"]

        admin = token("admin", ADMIN_PASSWORD)
        for name in ("sam", "tia", "uma"):
            created = http.post("/users", json={"username": name, "password": MEMBER_PASSWORD},
                                headers={"Authorization": f"Bearer {admin}"})
            assert created.status_code in (201, 409), created.text
        return {name: token(name, MEMBER_PASSWORD) for name in ("sam", "tia", "uma")}


def as_user(auth_api_url: str, tokens: dict[str, str], tmp_path, user: str, *args: str,
            input: str | None = None) -> Result:
    from bqlite_app.cli.main import app

    env = {"BQLITE_API_URL": auth_api_url, "BQLITE_TOKEN": tokens[user], "XDG_CONFIG_HOME": str(tmp_path),
           "COLUMNS": "200"}
    return CliRunner().invoke(app, list(args), input=input, env=env, catch_exceptions=False)


def test_sharing_from_the_command_line(auth_api_url: str, tokens: dict[str, str], tmp_path):
    def run(user: str, *args: str, input: str | None = None) -> Result:
        return as_user(auth_api_url, tokens, tmp_path, user, *args, input=input)

    shared = run("sam", "saved", "save", "Weekly", "--share-with", "tia", input="SELECT 'sam' AS who")
    assert shared.exit_code == 0 and "users: tia" in shared.stdout, shared.stderr
    assert run("uma", "saved", "save", "Weekly", "--everyone", input="SELECT 'uma' AS who").exit_code == 0
    # tia sees two "Weekly"s: ambiguous by name, fine as OWNER/NAME.
    ambiguous = run("tia", "saved", "run", "Weekly")
    assert ambiguous.exit_code == 4 and "sam/Weekly" in ambiguous.stderr and "uma/Weekly" in ambiguous.stderr
    assert csv_rows(run("tia", "saved", "run", "sam/Weekly").stdout) == [["who"], ["sam"]]
    listed = run("tia", "saved", "list", "--shared")
    assert "sam" in listed.stdout and "uma" in listed.stdout
    # Read-only for tia: updating someone else's is refused; her own "Weekly" is a new query.
    refused = run("tia", "saved", "delete", "sam/Weekly", "--yes")
    assert refused.exit_code == 4 and "ACCESS_DENIED" in refused.stderr
    own = run("tia", "saved", "save", "Weekly", input="SELECT 'tia' AS who")
    assert own.stdout.startswith("Saved Weekly")
    assert csv_rows(run("tia", "saved", "run", "Weekly").stdout) == [["who"], ["tia"]]   # her own comes first
    # uma does not see sam's query at all.
    hidden = run("uma", "saved", "show", "sam/Weekly")
    assert hidden.exit_code == 4 and "No saved query named" in hidden.stderr
