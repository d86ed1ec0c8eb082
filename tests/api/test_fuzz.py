"""Schemathesis over /openapi.json, in process: whatever a client sends, the API never answers 5xx and every answer
matches the schema it publishes (status codes, content types, bodies).

One test per operation, each with a fixed seed (derandomized) and both valid and invalid inputs. Random text rarely
gets past validation, so part of the cases carry real values instead: job and schema ids that exist (jobs in every
final state, a schema with tables and rows), engine names, SQL, .proto files and encoded messages. That is what
makes the fuzz reach the core (results, plans, cancels, registrations, ingests) rather than stop at 404 and 422.
Every distinct failure of an operation is collected and reported together, each with a curl command to replay it.

It runs on its own core (own SQLite, results and registry) over the session's engines, so the jobs and schemas it
creates never show up in other tests' listings.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bqlite_app.api import create_api
from bqlite_app.core import Core
from bqlite_app.settings import Settings
from tests.api.test_schemas import TRIP_V1, TRIP_V2_BREAKING, TRIP_V2_COMPATIBLE, trips_body

pytestmark = [pytest.mark.fuzz, pytest.mark.slow]

# Per operation; the whole file takes well under two minutes on two idle cores.
MAX_EXAMPLES = 100
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# The fuzz looks for crashes, not slow queries: long polls are cut short and generated SQL is kept short, so a
# failure report (and the job history) never carries pages of random text.
MAX_WAIT_MS = 50
MAX_SQL_CHARS = 300
ENGINES = ["duckdb", "clickhouse"]

# Real values, by field name, swapped into about half of the generated bodies and query strings.
REAL_BODY_VALUES: dict[str, list[Any]] = {
    "engine": ENGINES,
    "sql": ["SELECT 1", "SELECT count(*) AS n, avg(fare_amount) FROM nyc_taxi", "SELECT * FROM nyc_taxi LIMIT 3",
            "SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM file('/etc/passwd', LineAsString)",
            "SELEC 1", "SELECT 1; SELECT 2", "SELECT [1, 2] AS l, {'a': 1} AS s, NULL AS n, 2::HUGEINT ** 70"],
    "file": [TRIP_V1.decode(), TRIP_V2_COMPATIBLE.decode(), TRIP_V2_BREAKING.decode(), 'syntax = "proto3";'],
    "message_type": ["trips.v1.Trip", "trips.v1.Place", "trips.v1.Nope"],
    "table_name": ["fuzz_trips", "fuzz_places"],
    "database_name": ["fuzz"],
    "engines": [ENGINES, ["duckdb"], ["clickhouse"], []],
    "labels": [{"team": "fuzz"}, {"a" * 63: "b" * 1024}],
}
REAL_QUERY_VALUES: dict[str, list[Any]] = {
    "engine": ENGINES,
    "status": ["queued", "running", "completed", "failed", "cancelled"],
    "engines": ["duckdb", "clickhouse", "duckdb,clickhouse"],
    "search": ["SELECT", "nyc_taxi"],
}


def _operations() -> list[tuple[str, str]]:
    # The spec needs no started core, so the operations are known at collection time: one test each.
    spec = create_api(Core(Settings(), engines={})).openapi()
    return [(method.upper(), path) for path, ops in spec["paths"].items() for method in ops]


@pytest.fixture(scope="module", autouse=True)
def _hypothesis_as_it_was() -> Iterator[None]:
    """Schemathesis patches Hypothesis for the whole process on first use (among others, a printer that prints
    nothing and bigger buffers). Put it back, so the property tests that run later still show their examples."""
    from hypothesis import core as hypothesis_core
    from hypothesis.internal import entropy
    from hypothesis.internal.conjecture import engine
    from hypothesis.strategies._internal import collections, core
    from schemathesis.generation import hypothesis as schemathesis_hypothesis

    patched = [(hypothesis_core, "RepresentationPrinter"), (hypothesis_core, "BUFFER_SIZE"), (engine, "BUFFER_SIZE"),
               (collections, "BUFFER_SIZE"), (core, "is_first_param_referenced_in_function"),
               (entropy, "register_random")]
    saved = [(module, name, getattr(module, name)) for module, name in patched]
    yield
    for module, name, value in saved:
        setattr(module, name, value)
    schemathesis_hypothesis.setup._is_patched = False  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def fuzz_core(settings: Settings, duckdb_engine, clickhouse_engine, tmp_path_factory) -> Iterator[Core]:
    own = settings.model_copy(update={"data_dir": Path(tmp_path_factory.mktemp("fuzz"))})
    core = Core(own, engines={"duckdb": duckdb_engine, "clickhouse": clickhouse_engine})
    core.start()
    yield core
    core.stop()


@pytest.fixture(scope="module")
def api_schema(fuzz_core: Core):
    return schemathesis.openapi.from_asgi("/openapi.json", create_api(fuzz_core))


@pytest.fixture
def real_ids(fuzz_core: Core) -> dict[str, list[str]]:
    """Ids that exist, by path parameter. Made again for each operation: a fuzzed DELETE may have removed them."""
    from fastapi.testclient import TestClient

    with TestClient(create_api(fuzz_core), raise_server_exceptions=False) as client:

        def finished_job(sql: str, engine: str = "duckdb") -> str:
            answer = client.post("/queries", json={"sql": sql, "engine": engine})
            assert answer.status_code == 200, answer.text
            job_id = answer.json()["job_id"]
            client.get(f"/jobs/{job_id}/result", params={"timeout_ms": 60_000, "limit": 1})
            return job_id

        cancelled = client.post("/queries", json={"sql": "SELECT sum(hash(i)) FROM range(100000000000) t(i)"})
        client.delete(f"/jobs/{cancelled.json()['job_id']}")
        jobs = [finished_job("SELECT i, 'x' || i AS s FROM range(50) t(i)"), finished_job("SELEC broken"),
                finished_job("SELECT number, toString(number) FROM numbers(20)", engine="clickhouse"),
                cancelled.json()["job_id"]]
        schemas = [_schema(client, "events", tables=True), _schema(client, "no_tables", tables=False)]
        saved = client.post("/saved-queries", json={"name": f"fuzz {uuid.uuid4().hex[:8]}", "sql": "SELECT 1"})
        assert saved.status_code == 201, saved.text
    return {"job_id": jobs, "schema_id": schemas, "saved_id": [saved.json()["id"]]}


def _schema(client, table: str, *, tables: bool) -> str:
    # A dataset of its own: the fuzz registers into "fuzz", and a breaking change there must not block this one.
    answer = client.post("/schemas/register", files={"file": ("trip.proto", TRIP_V1, "text/plain")},
                         data={"table_name": table, "database_name": "fuzz_fixture", "message_type": "trips.v1.Trip"})
    assert answer.status_code in (200, 201), answer.text
    schema_id = answer.json()["schema_id"]
    if tables:
        created = client.post(f"/schemas/{schema_id}/tables/create", json={"engines": ENGINES})
        assert created.status_code == 200, created.text
        ingested = client.post(f"/schemas/{schema_id}/ingest", content=trips_body(5),
                               headers={"content-type": "application/octet-stream"})
        assert ingested.status_code == 200, ingested.text
    return schema_id


def _realistic(case: Any, rnd: random.Random) -> Any:
    """Swap real values into about half of the fields that have them, then tame what could be slow or huge."""
    if isinstance(case.body, dict):
        for name, values in REAL_BODY_VALUES.items():
            if name in case.body and rnd.random() < 0.5:
                case.body[name] = rnd.choice(values)
        if isinstance(case.body.get("wait_ms"), int):
            case.body["wait_ms"] = min(case.body["wait_ms"], MAX_WAIT_MS)
        if isinstance(case.body.get("sql"), str):
            case.body["sql"] = case.body["sql"][:MAX_SQL_CHARS]
    elif case.media_type == "application/octet-stream" and rnd.random() < 0.5:
        case.body = trips_body(rnd.randrange(4))  # well-formed messages for the ingest route
    if isinstance(case.query, dict):
        for name, values in REAL_QUERY_VALUES.items():
            if name in case.query and rnd.random() < 0.5:
                case.query[name] = rnd.choice(values)
        if isinstance(case.query.get("timeout_ms"), int):
            case.query["timeout_ms"] = min(case.query["timeout_ms"], MAX_WAIT_MS)
    return case


def _strategy(operation: Any, real_ids: dict[str, list[str]]) -> st.SearchStrategy:
    variants = [operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
                operation.as_strategy(schemathesis.GenerationMode.NEGATIVE)]
    for name in re.findall(r"\{([^}]+)\}", operation.path):
        variants += [operation.as_strategy(path_parameters={name: value}) for value in real_ids.get(name, [])]
    # Hypothesis draws the Random too, so the swaps are as reproducible as the rest of the case.
    return st.tuples(st.one_of(variants), st.randoms(use_true_random=False)).map(lambda pair: _realistic(*pair))


def _describe(case: Any, failure: Failure, response: Any) -> str:
    try:
        replay = case.as_curl_command()
    except Exception:  # a case that cannot be rendered as curl is still worth reporting
        replay = repr(case)
    # repr: exports are binary (parquet, arrow) and could garble the report.
    return (f"{failure.title}: {failure.message.strip()[:800]}\n    answer: {response.status_code} "
            f"{response.content[:300]!r}\n"
            f"    replay: {replay[:1500]}")


@pytest.mark.parametrize(("method", "path"), _operations())
def test_the_api_never_fails_and_always_answers_as_documented(api_schema, real_ids, method: str, path: str):
    operation = api_schema[path][method]
    found: dict[tuple[str, str], str] = {}

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
              verbosity=Verbosity.quiet)
    @given(case=_strategy(operation, real_ids))
    def run(case: Any) -> None:
        response = case.call()
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            failures = list(group.exceptions)
        except Failure as failure:
            failures = [failure]
        else:
            return
        for failure in failures:
            # One report per kind of failure: the first case that shows it.
            first_line = next(iter(failure.message.strip().splitlines()), "")
            found.setdefault((failure.title, first_line[:120]), _describe(case, failure, response))

    run()
    assert not found, f"{len(found)} distinct failure(s) on {method} {path}:\n\n" + "\n\n".join(found.values())
