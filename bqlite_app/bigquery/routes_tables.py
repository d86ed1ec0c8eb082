"""tables.insert, get, list, patch, update and delete.

tables.insert creates a table on ``BQLITE_BIGQUERY_ENGINE`` (``tables.find_table`` finds one). Grants (docs/api.md):
``reader`` to get and list, ``writer`` to create a table, ``owner`` to change or drop one. The dataset ``default``
(the sample) is read-only here. ``_query_results.<job_id>`` is a query's anonymous result table, readable by the
job's owner only.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from bqlite_app.access.principal import Principal
from bqlite_app.bigquery import catalog as cat
from bqlite_app.bigquery.auth import CoreDep, UserDep
from bqlite_app.bigquery.errors import BigQueryError, duplicate, invalid
from bqlite_app.bigquery.paging import decode_page_token, encode_page_token
from bqlite_app.bigquery.request import base_url, bounded_text, int_param, json_body
from bqlite_app.bigquery.resources import display_fields, epoch_ms, etag
from bqlite_app.bigquery.responses import GoogleJSON
from bqlite_app.bigquery.routes_datasets import merge_labels, require_dataset
from bqlite_app.bigquery.schema import fields_to_columns, normalize_fields
from bqlite_app.bigquery.schema_arrow import arrow_to_fields
from bqlite_app.bigquery.tables import (
    FoundTable,
    TableRef,
    catalog_row,
    check_anon_table,
    find_table,
    refuse_default,
)
from bqlite_app.core import Core
from bqlite_app.datasets import engine_database

router = APIRouter()

DEFAULT_TABLE_PAGE = 1_000
# Settings BigQuery keeps on a table that change nothing here (layout hints); stored and echoed as given.
PASSTHROUGH = ("timePartitioning", "rangePartitioning", "clustering", "requirePartitionFilter", "maxStaleness")
UNSUPPORTED = ("view", "materializedView", "externalDataConfiguration", "snapshotDefinition", "cloneDefinition",
               "encryptionConfiguration", "biglakeConfiguration", "tableConstraints", "resourceTags",
               "externalCatalogTableOptions")
READ_ONLY = ("kind", "etag", "id", "selfLink", "tableReference", "schema", "numRows", "numBytes", "numLongTermBytes",
             "creationTime", "lastModifiedTime", "type", "location", "streamingBuffer", "numActiveLogicalBytes",
             "numTotalLogicalBytes", "numLongTermLogicalBytes", "numPhysicalBytes")
_CHANGE_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------------------- routes

@router.post("/projects/{project}/datasets/{dataset}/tables")
async def insert_table(project: str, dataset: str, request: Request, core: CoreDep, user: UserDep) -> GoogleJSON:
    body = await json_body(request)
    return GoogleJSON(await run_in_threadpool(_insert, core, user, project, dataset, body, base_url(request)))


@router.get("/projects/{project}/datasets/{dataset}/tables")
async def list_tables(project: str, dataset: str, request: Request, core: CoreDep, user: UserDep) -> GoogleJSON:
    params = request.query_params
    max_results = int_param(params.get("maxResults"), "maxResults", default=DEFAULT_TABLE_PAGE, low=0, high=None)
    offset = decode_page_token(params["pageToken"]) if params.get("pageToken") else 0
    return GoogleJSON(await run_in_threadpool(_list, core, user, project, dataset, offset, max_results))


@router.get("/projects/{project}/datasets/{dataset}/tables/{table}")
async def get_table(project: str, dataset: str, table: str, request: Request, core: CoreDep,
                    user: UserDep) -> GoogleJSON:
    return GoogleJSON(await run_in_threadpool(_get, core, user, TableRef(project, dataset, table), base_url(request)))


@router.api_route("/projects/{project}/datasets/{dataset}/tables/{table}", methods=["PATCH", "PUT"])
async def change_table(project: str, dataset: str, table: str, request: Request, core: CoreDep,
                       user: UserDep) -> GoogleJSON:
    """tables.patch (PATCH) merges the body into the table; tables.update (PUT) replaces what it can hold."""
    body = await json_body(request)
    return GoogleJSON(await run_in_threadpool(_change, core, user, TableRef(project, dataset, table), body,
                                              request.headers.get("if-match"), base_url(request),
                                              request.method == "PUT"))


@router.delete("/projects/{project}/datasets/{dataset}/tables/{table}")
async def delete_table(project: str, dataset: str, table: str, core: CoreDep, user: UserDep) -> Response:
    await run_in_threadpool(_delete, core, user, TableRef(project, dataset, table))
    return Response(status_code=204)


# ---------------------------------------------------------------------------------------------------- tables

def _insert(core: Core, user: Principal, project: str, dataset: str, body: dict[str, Any],
            base: str) -> dict[str, Any]:
    reference = body.get("tableReference")
    if not isinstance(reference, dict) or not reference.get("tableId"):
        raise invalid("tableReference.tableId: required", location="tableReference.tableId")
    if reference.get("datasetId") not in (None, dataset):
        raise invalid("tableReference.datasetId: does not match the dataset in the URL",
                      location="tableReference.datasetId")
    table = cat.check_table_id(reference["tableId"], creating=True)
    ref = TableRef(project, dataset, table)
    cat.check_dataset_id(dataset)
    refuse_default(dataset, "create tables in")
    _refuse_unsupported(body)
    fields = _schema_fields(body)
    if not fields:
        raise invalid(f"Table {ref.full} needs a schema: BigQuery-Lite's engines cannot hold a table without columns",
                      location="schema")
    fields = normalize_fields(fields)          # ValidationFailed -> 400 invalid naming the field
    columns = fields_to_columns(fields)
    require_dataset(core, user, project, dataset, "writer", action="table.create")
    engine = core.settings.bigquery_engine
    row = cat.BigQueryTable(dataset_id=dataset, table_id=table, engine=engine, fields=fields)
    _apply_metadata(row, body, replace=True)
    with _CHANGE_LOCK:
        taken = next((name for name in cat.dataset_tables(core, dataset) if name.lower() == table.lower()), None)
        if taken is not None:
            raise duplicate(f"Table {project}:{dataset}.{taken}")
        with cat.engine_errors():
            core.engines[engine].create_table(engine_database(engine, dataset), table, columns, if_not_exists=False)
        row.created_ms = row.modified_ms = cat.now_ms()
        row = cat.catalog_for(core).put_table(row)
    core.audit.record(user, "table.create", target=f"{dataset}.{table}", detail={"face": "bigquery",
                                                                                  "engine": engine})
    found = FoundTable(ref, engine, row, fields, None, None)
    return table_resource(core, found, base, num_rows=0)


def _get(core: Core, user: Principal, ref: TableRef, base: str) -> dict[str, Any]:
    if ref.dataset == cat.ANON_DATASET:
        return _anon_resource(core, user, ref, base)
    found = find_table(core, user, ref, "reader", action="table.read")
    return table_resource(core, found, base)


def _list(core: Core, user: Principal, project: str, dataset: str, offset: int, max_results: int) -> dict[str, Any]:
    require_dataset(core, user, project, dataset, "reader", action="table.list")
    catalog = cat.catalog_for(core)
    rows = catalog.tables(dataset)
    tables = cat.dataset_tables(core, dataset)
    names = sorted(tables)
    page = names[offset:offset + max_results]
    views = {name: core.engines[name].views() for name in {engine for engine, _ in tables.values()}}
    items = []
    for name in page:
        engine, entry = tables[name]
        row = catalog_row(catalog, rows.get(name), dataset, name, engine)
        is_view = (entry.database, name) in views.get(engine, {})
        item: dict[str, Any] = {
            "kind": "bigquery#table",
            "id": f"{project}:{dataset}.{name}",
            "tableReference": {"projectId": project, "datasetId": dataset, "tableId": name},
            "type": "VIEW" if is_view else "TABLE",
            "creationTime": str(row.created_ms),
            **display_fields(row.labels, row.friendly_name),
        }
        if row.expiration_ms is not None:
            item["expirationTime"] = row.expiration_ms
        if is_view:
            item["view"] = {"useLegacySql": False}
        items.append(item)
    answer: dict[str, Any] = {"kind": "bigquery#tableList", "etag": etag(dataset, tuple(names)),
                              "tables": items, "totalItems": len(names)}
    if offset + len(page) < len(names) and max_results > 0:
        answer["nextPageToken"] = encode_page_token(offset + len(page))
    return answer


def _change(core: Core, user: Principal, ref: TableRef, body: dict[str, Any], if_match: str | None, base: str,
            replace: bool) -> dict[str, Any]:
    cat.check_dataset_id(ref.dataset)
    refuse_default(ref.dataset, "change tables of")
    found = find_table(core, user, ref, "owner", action="table.update")
    if if_match and if_match != "*" and if_match != table_resource(core, found, base, num_rows=0)["etag"]:
        raise BigQueryError(412, "conditionNotMet", f"Precondition check failed: table {ref.full} was changed "
                                                    "since its etag was read")
    reference = body.get("tableReference")
    if isinstance(reference, dict) and reference.get("tableId") not in (None, ref.table):
        raise invalid("tableReference.tableId: does not match the table in the URL", location="tableReference")
    for key in UNSUPPORTED:
        if key == "view" and found.view_sql is not None and isinstance(body.get("view"), dict) \
                and body["view"].get("query") in (None, found.view_sql):
            continue        # a view resource sent back unchanged
        if body.get(key):
            raise invalid(f"{key}: not supported by BigQuery-Lite", location=key)
    row = found.row
    new_fields = _schema_fields(body) if "schema" in body else None
    if new_fields:
        if found.view_sql is not None:
            raise invalid(f"Cannot change the schema of view {ref.full}", location="schema")
        merged, added = merge_schema(found.fields, normalize_fields(new_fields), ref)
        if added:
            if found.schema_id is not None:
                raise invalid(f"Table {ref.full} was made from the registered schema {found.schema_id}: change "
                              "its columns by registering a new version of the .proto", location="schema")
            columns = fields_to_columns(added)
            with cat.engine_errors():
                core.engines[found.engine].add_columns(engine_database(found.engine, ref.dataset), ref.table, columns)
        row.fields = merged
    _apply_metadata(row, body, replace=replace)
    row.modified_ms = max(cat.now_ms(), row.modified_ms + 1)
    row = cat.catalog_for(core).put_table(row)
    core.audit.record(user, "table.update", target=f"{ref.dataset}.{ref.table}",
                      detail={"face": "bigquery", "fields": sorted(k for k in body if k not in READ_ONLY or
                                                                   k == "schema")})
    return table_resource(core, find_table(core, user, ref, "reader"), base)


def _delete(core: Core, user: Principal, ref: TableRef) -> None:
    cat.check_dataset_id(ref.dataset)
    refuse_default(ref.dataset, "drop tables of")
    found = find_table(core, user, ref, "owner", action="table.delete")
    if found.schema_id is not None:
        raise invalid(f"Table {ref.full} belongs to the registered schema {found.schema_id}; delete it with "
                      f"DELETE /schemas/{found.schema_id}?drop_tables=true")
    with _CHANGE_LOCK:
        for engine in cat.table_engines(core, ref.dataset, ref.table):
            if cat.is_view(core, engine, ref.dataset, ref.table) is not None:
                cat.run_statement(core.engines[engine],
                                  f"DROP VIEW IF EXISTS {cat.qualified(engine, ref.dataset, ref.table)}")
            else:
                with cat.engine_errors():
                    core.engines[engine].drop_table(engine_database(engine, ref.dataset), ref.table)
        cat.catalog_for(core).forget_table(ref.dataset, ref.table)
    core.audit.record(user, "table.delete", target=f"{ref.dataset}.{ref.table}", detail={"face": "bigquery"})


# ---------------------------------------------------------------------------------------------------- resources

def _anon_resource(core: Core, user: Principal, ref: TableRef, base: str) -> dict[str, Any]:
    check_anon_table(core, user, ref)
    assert core.results is not None
    info = core.results.info(ref.table)
    job = core.queries.get(ref.table, user=user)
    created = epoch_ms(job.completed_at or job.created_at) or "0"
    return {
        "kind": "bigquery#table",
        "etag": etag(ref.dataset, ref.table, info.rows),
        "id": ref.full,
        "selfLink": f"{base}/projects/{ref.project}/datasets/{ref.dataset}/tables/{ref.table}",
        "tableReference": {"projectId": ref.project, "datasetId": ref.dataset, "tableId": ref.table},
        "schema": {"fields": arrow_to_fields(info.schema)},
        "numRows": str(info.rows),
        "numBytes": str(info.bytes),
        "creationTime": created,
        "lastModifiedTime": created,
        "type": "TABLE",
        "location": cat.DEFAULT_LOCATION,
    }


def table_resource(core: Core, found: FoundTable, base: str, *, num_rows: int | None = None) -> dict[str, Any]:
    ref, row = found.ref, found.row
    resource: dict[str, Any] = {
        "kind": "bigquery#table",
        "id": ref.full,
        "selfLink": f"{base}/projects/{ref.project}/datasets/{ref.dataset}/tables/{ref.table}",
        "tableReference": {"projectId": ref.project, "datasetId": ref.dataset, "tableId": ref.table},
        "schema": {"fields": found.fields},
        "creationTime": str(row.created_ms),
        "lastModifiedTime": str(row.modified_ms),
        "type": "VIEW" if found.view_sql is not None else "TABLE",
        "location": _location(core, ref.dataset),
    }
    if found.view_sql is not None:
        resource["view"] = {"query": found.view_sql, "useLegacySql": False}
    else:
        rows, size = (num_rows, None) if num_rows is not None else _size(core, found)
        resource["numRows"] = str(rows)
        if size is not None:
            resource["numBytes"] = str(size)
    if row.description is not None:
        resource["description"] = row.description
    if row.friendly_name is not None:
        resource["friendlyName"] = row.friendly_name
    if row.labels:
        resource["labels"] = dict(row.labels)
    if row.expiration_ms is not None:
        resource["expirationTime"] = row.expiration_ms
    resource.update({key: value for key, value in row.extra.items() if key in PASSTHROUGH})
    resource["etag"] = etag(ref.dataset, ref.table, row.modified_ms, repr(found.fields))
    return resource


def _size(core: Core, found: FoundTable) -> tuple[int, int | None]:
    """Row count, and bytes where the engine knows them cheaply (ClickHouse's parts)."""
    engine = found.engine
    if engine == "clickhouse":
        _, rows, size = cat.clickhouse_table_info(core, found.ref.dataset, found.ref.table)
        if rows is not None:
            return int(rows), int(size or 0)
    count = cat.run_select(core.engines[engine],
                           f"SELECT count(*) AS n FROM {cat.qualified(engine, found.ref.dataset, found.ref.table)}")
    return int(count.column(0)[0].as_py() or 0), None


def _location(core: Core, dataset: str) -> str:
    row = cat.catalog_for(core).dataset(dataset, adopt=False)
    return row.location if row is not None else cat.DEFAULT_LOCATION


# ---------------------------------------------------------------------------------------------------- schema changes

def merge_schema(current: list[dict[str, Any]], new: list[dict[str, Any]], ref: TableRef,
                 path: str = "") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """BigQuery's compatible schema changes: every field kept with its type and mode, descriptions changed, new
    NULLABLE or REPEATED fields appended at the top level. Returns (the merged fields, the added ones)."""
    mismatch = f"Provided Schema does not match Table {ref.full}."
    given = {f["name"].lower(): f for f in new}
    merged: list[dict[str, Any]] = []
    for old in current:
        where = f"{path}{old['name']}"
        field = given.pop(old["name"].lower(), None)
        if field is None:
            raise invalid(f"{mismatch} Field {where} is missing in new schema", location="schema")
        if field["type"] != old["type"]:
            raise invalid(f"{mismatch} Field {where} has changed type from {old['type']} to {field['type']}",
                          location="schema")
        if field.get("mode", "NULLABLE") != old.get("mode", "NULLABLE"):
            raise invalid(f"{mismatch} Field {where} has changed mode from {old.get('mode', 'NULLABLE')} to "
                          f"{field.get('mode', 'NULLABLE')}", location="schema")
        kept = {k: v for k, v in old.items() if k != "description"}
        if field.get("description"):
            kept["description"] = field["description"]
        if old["type"] == "RECORD":
            sub, added = merge_schema(old.get("fields", []), field.get("fields", []), ref, f"{where}.")
            if added:
                raise invalid(f"Field {where}.{added[0]['name']}: adding fields inside a RECORD is not supported by "
                              "BigQuery-Lite", location="schema")
            kept["fields"] = sub
        merged.append(kept)
    added = [f for f in new if f["name"].lower() in given]
    if added and path:
        return merged, added
    for field in added:
        if field.get("mode") == "REQUIRED":
            raise invalid(f"{mismatch} Cannot add required fields to an existing schema. (field: {field['name']})",
                          location="schema")
    return merged + added, added


# ---------------------------------------------------------------------------------------------------- helpers

def _schema_fields(body: dict[str, Any]) -> list[Any]:
    schema = body.get("schema")
    if schema is None:
        return []
    if not isinstance(schema, dict):
        raise invalid("schema: must be an object with \"fields\"", location="schema")
    fields = schema.get("fields")
    if fields is None:
        return []
    if not isinstance(fields, list):
        raise invalid("schema.fields: must be a list", location="schema.fields")
    return fields


def _refuse_unsupported(body: dict[str, Any]) -> None:
    for key in UNSUPPORTED:
        if body.get(key):
            hint = "; create views with CREATE VIEW in a query" if key in ("view", "materializedView") else ""
            raise invalid(f"{key}: not supported by BigQuery-Lite{hint}", location=key)


def _apply_metadata(row: cat.BigQueryTable, body: dict[str, Any], *, replace: bool) -> None:
    if replace or "description" in body:
        row.description = bounded_text(body.get("description"), "description", 16_384)
    if replace or "friendlyName" in body:
        row.friendly_name = bounded_text(body.get("friendlyName"), "friendlyName", 1_024)
    if replace or "labels" in body:
        row.labels = merge_labels({} if replace else dict(row.labels), body.get("labels"))
    if replace or "expirationTime" in body:
        value = body.get("expirationTime")
        row.expiration_ms = None if value is None else str(int_param(value, "expirationTime", default=0, low=0,
                                                                      high=2**62))
    extra = {} if replace else dict(row.extra)
    for key in PASSTHROUGH:
        if key in body:
            if body[key] is None:
                extra.pop(key, None)
            else:
                extra[key] = body[key]
    row.extra = extra


