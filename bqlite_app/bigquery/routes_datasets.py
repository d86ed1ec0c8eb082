"""datasets.insert, get, list, patch, update and delete (Google's REST v2 shapes).

A dataset is a database name on both engines (``core.datasets`` creates and drops them); its BigQuery metadata lives
in ``catalog``. Who may do what follows docs/api.md: creating and deleting a dataset is the admin's (``CREATE``/``DROP
SCHEMA``) and makes the creator its owner, changing its metadata needs ``owner``, reading it ``reader``; listing
shows only what the caller can read. The dataset ``default`` (the sample) is listed and readable but cannot be
changed or deleted here; ``_query_results`` (each query's anonymous result table) is not a dataset one can create,
list or get.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from bqlite_app.access.principal import Principal
from bqlite_app.bigquery import catalog as cat
from bqlite_app.bigquery.auth import CoreDep, UserDep
from bqlite_app.bigquery.errors import BigQueryError, duplicate, invalid, not_found
from bqlite_app.bigquery.paging import decode_page_token, encode_page_token
from bqlite_app.bigquery.request import base_url, bounded_text, int_param, json_body
from bqlite_app.bigquery.resources import display_fields, etag
from bqlite_app.bigquery.responses import GoogleJSON
from bqlite_app.core import Core
from bqlite_app.datasets import ANON_DATASET, SAMPLE_DATASET, DatasetExists, is_reserved
from bqlite_app.jobs.labels import LabelError, check_labels

router = APIRouter()

# Settings BigQuery keeps on a dataset that change nothing here; stored and echoed as given.
PASSTHROUGH = ("defaultTableExpirationMs", "defaultPartitionExpirationMs", "defaultCollation", "maxTimeTravelHours",
               "storageBillingModel", "defaultRoundingMode")
# Features this server does not have: asking for one is a 400 naming it, not a silent no.
UNSUPPORTED = ("defaultEncryptionConfiguration", "externalDatasetReference", "linkedDatasetSource",
               "externalCatalogDatasetOptions", "resourceTags")
READ_ONLY = ("kind", "etag", "id", "selfLink", "creationTime", "lastModifiedTime", "type", "datasetReference",
             "location", "access", "satisfiesPzs", "satisfiesPzi")
MAX_DESCRIPTION_CHARS = 16_384
MAX_FRIENDLY_NAME_CHARS = 1_024
DEFAULT_PAGE = 1_000
_ROLE_NAMES = {"owner": "OWNER", "writer": "WRITER", "reader": "READER"}
_FILTER_TERM = re.compile(r"labels\.([a-z][a-z0-9_-]{0,62})(?::(\S*))?")
# One dataset created or deleted at a time through this face: the catalog's row and checks go with the engines' DDL.
_CHANGE_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------------------- routes

@router.post("/projects/{project}/datasets")
async def insert_dataset(project: str, request: Request, core: CoreDep, user: UserDep) -> GoogleJSON:
    body = await json_body(request)
    resource = await run_in_threadpool(_insert, core, user, project, body, base_url(request))
    return GoogleJSON(resource)


@router.get("/projects/{project}/datasets")
async def list_datasets(project: str, request: Request, core: CoreDep, user: UserDep) -> GoogleJSON:
    params = request.query_params
    include_all = params.get("all", "false").lower() == "true"
    max_results = int_param(params.get("maxResults"), "maxResults", default=DEFAULT_PAGE, low=0, high=None)
    offset = decode_page_token(params["pageToken"]) if params.get("pageToken") else 0
    wanted = _label_filter(params.get("filter"))
    answer = await run_in_threadpool(_list, core, user, project, include_all, wanted, offset, max_results)
    return GoogleJSON(answer)


@router.get("/projects/{project}/datasets/{dataset}")
async def get_dataset(project: str, dataset: str, request: Request, core: CoreDep, user: UserDep) -> GoogleJSON:
    return GoogleJSON(await run_in_threadpool(_get, core, user, project, dataset, base_url(request)))


@router.api_route("/projects/{project}/datasets/{dataset}", methods=["PATCH", "PUT"])
async def change_dataset(project: str, dataset: str, request: Request, core: CoreDep, user: UserDep) -> GoogleJSON:
    """datasets.patch (PATCH) merges the body into the dataset; datasets.update (PUT) replaces what it can hold."""
    body = await json_body(request)
    if_match = request.headers.get("if-match")
    return GoogleJSON(await run_in_threadpool(_change, core, user, project, dataset, body, if_match,
                                              base_url(request), request.method == "PUT"))


@router.delete("/projects/{project}/datasets/{dataset}")
async def delete_dataset(project: str, dataset: str, request: Request, core: CoreDep, user: UserDep) -> Response:
    delete_contents = request.query_params.get("deleteContents", "false").lower() == "true"
    await run_in_threadpool(_delete, core, user, project, dataset, delete_contents)
    return Response(status_code=204)


# ---------------------------------------------------------------------------------------------------- work

def _insert(core: Core, user: Principal, project: str, body: dict[str, Any], base: str) -> dict[str, Any]:
    reference = body.get("datasetReference")
    if not isinstance(reference, dict) or not reference.get("datasetId"):
        raise invalid("datasetReference.datasetId: required", location="datasetReference.datasetId")
    dataset = reference["datasetId"]
    if not isinstance(dataset, str):
        raise invalid("datasetReference.datasetId: must be a string", location="datasetReference.datasetId")
    # The sample is answered as taken (below), as BigQuery answers for any dataset that exists.
    if is_reserved(dataset) and dataset.lower() != SAMPLE_DATASET:
        raise invalid(f"The dataset name {dataset} is reserved", location="datasetReference.datasetId")
    cat.check_dataset_id(dataset, creating=dataset != SAMPLE_DATASET)
    _refuse_unsupported(body)
    if body.get("access"):
        raise invalid("access: dataset access is managed with BigQuery-Lite's grants "
                      "(PUT /datasets/{dataset}/grants/{username}), not access entries", location="access")
    core.grants.require_admin(user, "create a dataset", target=dataset, action="dataset.create")
    row = cat.BigQueryDataset(dataset_id=dataset, location=cat.check_location(body.get("location")))
    _apply_metadata(row, body, replace=True)
    if dataset.lower() == SAMPLE_DATASET:
        raise duplicate(f"Dataset {project}:{SAMPLE_DATASET}")
    catalog = cat.catalog_for(core)
    with _CHANGE_LOCK:
        try:
            with cat.engine_errors():
                core.datasets.create(dataset, user=user, detail={"face": "bigquery"})
        except DatasetExists as exc:    # ignoring case: DuckDB's ``Sales`` and ``sales`` would be one schema
            raise duplicate(f"Dataset {project}:{exc.name}") from exc
        row.created_ms = row.modified_ms = cat.now_ms()
        catalog.put_dataset(row)     # replaces a row left by a dataset of that name dropped through SQL
    return dataset_resource(core, project, row, base)


def _get(core: Core, user: Principal, project: str, dataset: str, base: str) -> dict[str, Any]:
    row = _existing(core, user, project, dataset, "reader")
    return dataset_resource(core, project, row, base)


def _list(core: Core, user: Principal, project: str, include_all: bool, wanted: list[tuple[str, str | None]],
          offset: int, max_results: int) -> dict[str, Any]:
    readable = core.grants.readable_datasets(user)
    names = sorted(name for name in core.datasets.names(tolerant=True)
                   if (readable is None or name in readable) and name != ANON_DATASET
                   and (include_all or not name.startswith("_")))
    catalog = cat.catalog_for(core)
    rows = catalog.datasets()
    items = []
    for name in names:
        row = rows.get(name) or catalog.dataset(name)
        assert row is not None
        if all(_label_matches(row.labels, key, value) for key, value in wanted):
            items.append(row)
    page = items[offset:offset + max_results]
    answer: dict[str, Any] = {
        "kind": "bigquery#datasetList",
        "etag": etag(project, tuple((row.dataset_id, row.modified_ms) for row in items)),
        "datasets": [_list_item(project, row) for row in page],
    }
    if offset + len(page) < len(items) and max_results > 0:
        answer["nextPageToken"] = encode_page_token(offset + len(page))
    return answer


def _change(core: Core, user: Principal, project: str, dataset: str, body: dict[str, Any], if_match: str | None,
            base: str, replace: bool) -> dict[str, Any]:
    cat.check_dataset_id(dataset)
    action = "dataset.update"
    if dataset == SAMPLE_DATASET:
        raise invalid("The dataset default (the sample data) is reserved: it cannot be changed")
    row = _existing(core, user, project, dataset, "owner", action=action)
    if if_match and if_match != "*" and if_match != dataset_resource(core, project, row, base)["etag"]:
        raise BigQueryError(412, "conditionNotMet", f"Precondition check failed: dataset {project}:{dataset} was "
                                                    "changed since its etag was read")
    reference = body.get("datasetReference")
    if isinstance(reference, dict) and reference.get("datasetId") not in (None, dataset):
        raise invalid("datasetReference.datasetId: does not match the dataset in the URL",
                      location="datasetReference.datasetId")
    location = body.get("location")
    if location is not None and str(location).lower() != row.location.lower():
        raise invalid(f"Cannot change the location of dataset {project}:{dataset} ({row.location})",
                      location="location")
    _refuse_unsupported(body)
    if "access" in body and _access_key(body.get("access") or []) != _access_key(_access(core, dataset)):
        raise invalid("access: dataset access is managed with BigQuery-Lite's grants "
                      "(PUT /datasets/{dataset}/grants/{username}), not access entries", location="access")
    _apply_metadata(row, body, replace=replace)
    row.modified_ms = max(cat.now_ms(), row.modified_ms + 1)
    row = cat.catalog_for(core).put_dataset(row)
    core.audit.record(user, action, target=dataset, detail={"face": "bigquery",
                                                            "fields": sorted(k for k in body if k not in READ_ONLY)})
    return dataset_resource(core, project, row, base)


def _delete(core: Core, user: Principal, project: str, dataset: str, delete_contents: bool) -> None:
    cat.check_dataset_id(dataset)
    if dataset == SAMPLE_DATASET:
        raise invalid("The dataset default (the sample data) is reserved: it cannot be deleted")
    if dataset == ANON_DATASET:
        raise not_found(f"Dataset {project}:{dataset}")
    core.grants.require_admin(user, "delete a dataset", target=dataset, action="dataset.delete")
    catalog = cat.catalog_for(core)
    with _CHANGE_LOCK:
        if not _exists(core, dataset):
            raise not_found(f"Dataset {project}:{dataset}")
        schemas = core.schemas.ids_in(dataset)
        if schemas:
            raise BigQueryError(400, "resourceInUse",
                                f"Dataset {project}:{dataset} holds tables of registered schemas "
                                f"({', '.join(sorted(schemas)[:5])}); delete them first with DELETE /schemas/{{id}}")
        tables = cat.dataset_tables(core, dataset)
        if tables and not delete_contents:
            raise BigQueryError(400, "resourceInUse", f"Dataset {project}:{dataset} is still in use")
        with cat.engine_errors():
            core.datasets.drop(dataset, user=user, detail={"face": "bigquery", "tables_dropped": sorted(tables)[:100]})
        catalog.forget_dataset(dataset)


# ---------------------------------------------------------------------------------------------------- helpers

def require_dataset(core: Core, user: Principal, project: str, dataset: str, role: str, *,
                    action: str = "") -> None:
    """The caller holds ``role`` on ``dataset`` (403 otherwise, recorded) and it exists (404 otherwise)."""
    cat.check_dataset_id(dataset)
    if dataset == ANON_DATASET:
        raise not_found(f"Dataset {project}:{dataset}")
    core.grants.require(user, dataset, role, action=action)  # type: ignore[arg-type]
    if not _exists(core, dataset):
        raise not_found(f"Dataset {project}:{dataset}")


def _exists(core: Core, dataset: str) -> bool:
    with cat.engine_errors():
        return core.datasets.exists(dataset)


def _existing(core: Core, user: Principal, project: str, dataset: str, role: str, *,
              action: str = "dataset.read") -> cat.BigQueryDataset:
    require_dataset(core, user, project, dataset, role, action=action)
    row = cat.catalog_for(core).dataset(dataset)
    assert row is not None
    return row


def dataset_resource(core: Core, project: str, row: cat.BigQueryDataset, base: str) -> dict[str, Any]:
    access = _access(core, row.dataset_id)
    resource: dict[str, Any] = {
        "kind": "bigquery#dataset",
        "id": f"{project}:{row.dataset_id}",
        "selfLink": f"{base}/projects/{project}/datasets/{row.dataset_id}",
        "datasetReference": {"projectId": project, "datasetId": row.dataset_id},
        "location": row.location,
        "creationTime": str(row.created_ms),
        "lastModifiedTime": str(row.modified_ms),
        "type": "DEFAULT",
        "access": access,
    }
    if row.labels:
        resource["labels"] = dict(row.labels)
    if row.description is not None:
        resource["description"] = row.description
    if row.friendly_name is not None:
        resource["friendlyName"] = row.friendly_name
    resource.update({key: value for key, value in row.extra.items() if key in PASSTHROUGH})
    resource["etag"] = etag(row.dataset_id, row.modified_ms, _access_key(access))
    return resource


def _list_item(project: str, row: cat.BigQueryDataset) -> dict[str, Any]:
    return {
        "kind": "bigquery#dataset",
        "id": f"{project}:{row.dataset_id}",
        "datasetReference": {"projectId": project, "datasetId": row.dataset_id},
        "location": row.location,
        **display_fields(row.labels, row.friendly_name),
    }


def _access(core: Core, dataset: str) -> list[dict[str, str]]:
    """The dataset's grants as BigQuery access entries (``userByEmail`` carries our username)."""
    grants = core.grants.list_grants(dataset)["grants"]
    return [{"role": _ROLE_NAMES.get(g["role"], g["role"].upper()), "userByEmail": g["username"]} for g in grants]


def _access_key(entries: Any) -> list[tuple[str, ...]]:
    if not isinstance(entries, list):
        raise invalid("access: must be a list", location="access")
    return sorted(tuple(sorted((str(k), str(v)) for k, v in entry.items())) if isinstance(entry, dict) else ("?",)
                  for entry in entries)  # type: ignore[misc]


def _refuse_unsupported(body: dict[str, Any]) -> None:
    for key in UNSUPPORTED:
        if body.get(key):
            raise invalid(f"{key}: not supported by BigQuery-Lite", location=key)


def _apply_metadata(row: cat.BigQueryDataset, body: dict[str, Any], *, replace: bool) -> None:
    """description, friendlyName, labels and the pass-through settings. ``replace`` (insert, PUT): what the body
    leaves out is cleared; otherwise (PATCH) only what it names changes, a null removes it, and labels merge
    (a null label value removes that label)."""
    if replace or "description" in body:
        row.description = bounded_text(body.get("description"), "description", MAX_DESCRIPTION_CHARS)
    if replace or "friendlyName" in body:
        row.friendly_name = bounded_text(body.get("friendlyName"), "friendlyName", MAX_FRIENDLY_NAME_CHARS)
    if replace or "labels" in body:
        row.labels = merge_labels({} if replace else dict(row.labels), body.get("labels"))
    extra = {} if replace else dict(row.extra)
    for key in PASSTHROUGH:
        if key in body:
            value = body[key]
            if value is None:
                extra.pop(key, None)
            elif isinstance(value, (str, int, float, bool)):
                extra[key] = value
            else:
                raise invalid(f"{key}: must be a string or number", location=key)
    row.extra = extra


def merge_labels(current: dict[str, str], given: Any) -> dict[str, str]:
    if given is None:
        return current
    if not isinstance(given, dict):
        raise invalid("labels: must be an object of string keys to string values", location="labels")
    for key, value in given.items():
        if value is None:
            current.pop(key, None)
        else:
            current[key] = value
    try:
        return check_labels(current)
    except LabelError as exc:
        raise invalid(f"labels: {exc}", location="labels") from None


def _label_filter(text: str | None) -> list[tuple[str, str | None]]:
    """datasets.list's ``filter``: ``labels.KEY`` or ``labels.KEY:VALUE`` terms, all of which must match."""
    if not text:
        return []
    terms = []
    for term in text.split():
        match = _FILTER_TERM.fullmatch(term)
        if match is None:
            raise invalid(f"filter: expected labels.KEY or labels.KEY:VALUE terms, got {term[:80]!r}",
                          location="filter")
        terms.append((match.group(1), match.group(2)))
    return terms


def _label_matches(labels: dict[str, str], key: str, value: str | None) -> bool:
    return key in labels and (value is None or labels[key] == value)
