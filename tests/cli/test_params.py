"""`bqlite query --param name:TYPE:value`: typed values for @name, bound by the engine on the server."""

from __future__ import annotations

import csv
import io
import json

import pytest
import typer

from bqlite_app.cli.commands.query import parse_params
from tests.cli.conftest import Bqlite


def test_param_specs_split_at_the_first_two_colons():
    assert parse_params(["n:INT64:5", "@t:TIMESTAMP:2024-01-02 03:04:05", "s::a:b", "x:DATE:NULL",
                         "xs:ARRAY<INT64>:[1, 2]"]) == [
        {"name": "n", "type": "INT64", "value": "5"},
        {"name": "t", "type": "TIMESTAMP", "value": "2024-01-02 03:04:05"},
        {"name": "s", "type": "STRING", "value": "a:b"},
        {"name": "x", "type": "DATE", "value": None},
        {"name": "xs", "type": "ARRAY<INT64>", "value": [1, 2]}]
    with pytest.raises(typer.BadParameter):
        parse_params(["n=5"])


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_query_binds_params_on_both_engines(bqlite: Bqlite, api, engine):
    result = bqlite("query", "-e", engine, "SELECT @n + 1 AS n, @who AS who, @day AS day",
                    "--param", "n:INT64:41", "--param", "who:STRING:it's me", "--param", "day:DATE:2024-02-29",
                    "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [{"n": 42, "who": "it's me", "day": "2024-02-29"}]
    job = api.get("/jobs", params={"limit": 1}).json()["jobs"][0]
    assert job["sql"].startswith("SELECT @n + 1") and job["parameters"][0] == {"name": "n", "type": "INT64",
                                                                               "value": "41"}
    shown = bqlite("jobs", "show", job["job_id"])
    assert shown.exit_code == 0, shown.stderr
    assert '@n INT64 = "41"' in shown.stdout and "@who STRING = \"it's me\"" in shown.stdout


def test_params_filter_the_sample_table(bqlite: Bqlite):
    result = bqlite("query", "SELECT count(*) AS trips FROM nyc_taxi WHERE payment_type = @kind",
                    "--param", "kind:INT64:1")
    assert result.exit_code == 0, result.stderr
    trips = int(list(csv.reader(io.StringIO(result.stdout)))[1][0])
    assert 0 < trips < 5000


def test_a_missing_or_bad_param_is_an_error_and_no_job(bqlite: Bqlite, api):
    before = api.get("/jobs").json()["total"]
    missing = bqlite("query", "SELECT @n")
    assert missing.exit_code != 0 and "Query parameter 'n' not found" in missing.stderr
    bad = bqlite("query", "SELECT @n", "--param", "n:INT64:abc")
    assert bad.exit_code != 0 and "not an INT64" in bad.stderr
    malformed = bqlite("query", "SELECT @n", "--param", "n")
    assert malformed.exit_code != 0 and "NAME:TYPE:VALUE" in malformed.stderr
    assert api.get("/jobs").json()["total"] == before


def test_dry_run_with_params(bqlite: Bqlite):
    result = bqlite("query", "SELECT * FROM nyc_taxi WHERE fare_amount > @min", "--param", "min:FLOAT64:10",
                    "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "Valid." in result.stdout
