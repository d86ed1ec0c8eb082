"""datasets/tables .patch and .update share one route: PATCH merges the body into the resource, PUT replaces what
the body can hold (what it leaves out is cleared)."""

from __future__ import annotations

import httpx
from google.cloud import bigquery

from tests.bigquery.conftest import PROJECT


def _change(url: str, method: str, body: dict) -> dict:
    answer = httpx.request(method, url, json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_dataset_patch_merges_and_put_replaces(bq: bigquery.Client, bq_url: str, dataset_id: str) -> None:
    url = f"{bq_url}/bigquery/v2/projects/{PROJECT}/datasets/{dataset_id}"
    patched = _change(url, "PATCH", {"description": "kept", "labels": {"team": "a"}})
    patched = _change(url, "PATCH", {"friendlyName": "Named"})
    assert (patched["description"], patched["friendlyName"], patched["labels"]) == ("kept", "Named", {"team": "a"})
    replaced = _change(url, "PUT", {"friendlyName": "Only"})
    assert replaced["friendlyName"] == "Only"
    assert "description" not in replaced and "labels" not in replaced


def test_table_patch_merges_and_put_replaces(bq: bigquery.Client, bq_url: str, dataset_id: str) -> None:
    bq.create_table(bigquery.Table(f"{PROJECT}.{dataset_id}.t", schema=[bigquery.SchemaField("x", "INTEGER")]))
    url = f"{bq_url}/bigquery/v2/projects/{PROJECT}/datasets/{dataset_id}/tables/t"
    _change(url, "PATCH", {"description": "kept"})
    patched = _change(url, "PATCH", {"friendlyName": "Named"})
    assert (patched["description"], patched["friendlyName"]) == ("kept", "Named")
    replaced = _change(url, "PUT", {"friendlyName": "Only"})
    assert replaced["friendlyName"] == "Only" and "description" not in replaced
    assert [f["name"] for f in replaced["schema"]["fields"]] == ["x"]
