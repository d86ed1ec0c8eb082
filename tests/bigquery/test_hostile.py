"""Hostile input on every BigQuery route: wrong types, odd names, garbage bodies and parameters. A user's mistake
is a 4xx in Google's envelope, never a 5xx (the client would retry it for ten minutes) and never a stored change."""

from __future__ import annotations

import itertools

import httpx
import pytest

V2 = "/bigquery/v2/projects/p"
# Values that break naive code: wrong JSON types, huge and negative numbers, quotes, paths, NUL, very long text.
ODD = [None, True, -1, 2**70, 1.5, "", "'; DROP TABLE nyc_taxi; --", "../../etc/passwd", "a\x00b", "é" * 2000,
       [], {}, ["x"], {"a": {"b": []}}]
ODD_IDS = ["x'y", "a.b", "a%2Fb", "..", "é", "A" * 2000, "nyc_taxi; DROP", "_query_results", "default"]

ROUTES_WITH_BODIES = [
    ("POST", f"{V2}/jobs", ["configuration", "jobReference"]),
    ("POST", f"{V2}/queries", ["query", "timeoutMs", "maxResults", "queryParameters", "parameterMode",
                               "defaultDataset", "labels", "dryRun", "formatOptions"]),
    ("POST", f"{V2}/datasets", ["datasetReference", "labels", "description", "location", "access"]),
    ("POST", f"{V2}/datasets/default/tables", ["tableReference", "schema", "description", "labels"]),
    ("POST", f"{V2}/datasets/default/tables/nyc_taxi/insertAll", ["rows", "skipInvalidRows",
                                                                  "ignoreUnknownValues"]),
]


def _check(answer: httpx.Response) -> None:
    assert answer.status_code < 500, (answer.request.method, answer.request.url, answer.text[:300])
    if answer.status_code >= 400:
        error = answer.json()["error"]
        assert error["code"] == answer.status_code and error["errors"][0]["reason"]
        assert error["errors"][0]["reason"] not in ("backendError", "internalError")


@pytest.fixture(scope="module")
def http(bq_url: str):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=bq_url, timeout=60) as client:
        yield client


@pytest.mark.parametrize(("method", "path", "fields"), ROUTES_WITH_BODIES)
def test_odd_field_values_are_client_errors(http: httpx.Client, method: str, path: str, fields: list[str]) -> None:
    for field, value in itertools.product(fields, ODD):
        _check(http.request(method, path, json={field: value}))
    for raw in (b"[]", b"null", b'"x"', b"{", b"\xff\xfe"):
        _check(http.request(method, path, content=raw, headers={"content-type": "application/json"}))


def test_odd_nested_values_in_a_query_job(http: httpx.Client) -> None:
    for key, value in itertools.product(["query", "queryParameters", "destinationTable", "defaultDataset",
                                         "useLegacySql", "priority", "writeDisposition"], ODD):
        _check(http.post(f"{V2}/jobs", json={"configuration": {"query": {"query": "SELECT 1", key: value}}}))
    parameter_shapes = [{"name": "x"}, {"parameterType": {"type": "ARRAY"}}, {"parameterType": {"type": "INT64"},
                        "parameterValue": {"value": "12abc"}}, {"parameterType": {"type": "STRUCT", "structTypes": 5}}]
    for shape in parameter_shapes:
        _check(http.post(f"{V2}/queries", json={"query": "SELECT @x", "queryParameters": [shape]}))


def test_odd_ids_in_paths_and_parameters(http: httpx.Client) -> None:
    for name in ODD_IDS:
        quoted = httpx.URL(f"/{name}").raw_path.decode()[1:]
        for path in (f"{V2}/datasets/{quoted}", f"{V2}/datasets/{quoted}/tables",
                     f"{V2}/datasets/default/tables/{quoted}", f"{V2}/datasets/default/tables/{quoted}/data",
                     f"{V2}/jobs/{quoted}", f"{V2}/queries/{quoted}"):
            _check(http.get(path))
        _check(http.delete(f"{V2}/datasets/{quoted}"))
        _check(http.post(f"{V2}/jobs/{quoted}/cancel"))
    for params in ({"maxResults": "-5"}, {"maxResults": "x"}, {"pageToken": "!!"}, {"startIndex": "1e99"},
                   {"stateFilter": "sideways"}, {"timeoutMs": "-1"}):
        _check(http.get(f"{V2}/jobs", params=params))
        _check(http.get(f"{V2}/datasets/default/tables/nyc_taxi/data", params=params))


def test_the_sample_is_untouched(http: httpx.Client) -> None:
    rows = http.post(f"{V2}/queries", json={"query": "SELECT COUNT(*) FROM nyc_taxi"}).json()["rows"]
    assert int(rows[0]["f"][0]["v"]) > 0
