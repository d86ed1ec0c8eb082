"""tables.insert, get, list, patch, update and delete; tabledata.insertAll and tabledata.list.

A table lives on one engine: tables.insert creates it on ``BQLITE_BIGQUERY_ENGINE``; reads find it there first and
then on the other engine (a table made by SQL or the schema registry may be on either). Its BigQuery schema is the
declared one kept in ``catalog`` (modes, descriptions, JSON/GEOGRAPHY) for the columns the engine still has, the
registry's for a table made from a .proto, else the engine's columns read back through Arrow.

Grants (API.md): ``reader`` to get, list and read rows, ``writer`` to create a table and insert rows, ``owner`` to
change or drop one. The dataset ``default`` (the sample) is read-only here. ``_query_results.<job_id>`` is a query's
anonymous result table, readable (tables.get, tabledata.list) by the job's owner only.

tabledata.list pages are stable: DuckDB scans a table in insertion order (``preserve_insertion_order``), so
LIMIT/OFFSET over it is the same rows every time; a ClickHouse MergeTree is read ordered by each row's position
(``_part_starting_offset + _part_offset``), which merges keep, so a page token always means the same rows while the
table only grows.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from bqlite_app.access.principal import Principal
from bqlite_app.bigquery import catalog as cat
from bqlite_app.bigquery.auth import CoreDep, UserDep
from bqlite_app.bigquery.errors import BigQueryError, duplicate, invalid, not_found
from bqlite_app.bigquery.paging import decode_page_token, encode_page_token
from bqlite_app.bigquery.request import base_url, int_param, json_body
from bqlite_app.bigquery.resources import epoch_ms, etag
from bqlite_app.bigquery.responses import GoogleJSON
from bqlite_app.bigquery.routes_datasets import merge_labels, require_dataset
from bqlite_app.bigquery.rows import arrow_to_rows, json_rows_to_arrow
from bqlite_app.bigquery.schema import (
    arrow_to_fields,
    fields_to_arrow,
    fields_to_columns,
    normalize_fields,
)
from bqlite_app.core import Core
from bqlite_app.datasets import SAMPLE_DATASET, engine_database

router = APIRouter()

DEFAULT_PAGE_ROWS = 20_000
MAX_PAGE_ROWS = 100_000
# One page's Arrow data at most this large (its JSON is a few times more); BigQuery caps a page near 10 MB too.
MAX_PAGE_BYTES = 16 * 1024**2
DEFAULT_TABLE_PAGE = 1_000
MAX_INSERT_ROWS = 50_000
# insertAll's insertIds are remembered this long (BigQuery de-duplicates for about a minute, best effort), so the
# client's retry of a request whose answer was lost does not add the rows twice.
INSERT_ID_TTL_S = 60.0
MAX_INSERT_IDS = 200_000
# Settings BigQuery keeps on a table that change nothing here (layout hints); stored and echoed as given.
PASSTHROUGH = ("timePartitioning", "rangePartitioning", "clustering", "requirePartitionFilter", "maxStaleness")
UNSUPPORTED = ("view", "materializedView", "externalDataConfiguration", "snapshotDefinition", "cloneDefinition",
               "encryptionConfiguration", "biglakeConfiguration", "tableConstraints", "resourceTags",
               "externalCatalogTableOptions")
READ_ONLY = ("kind", "etag", "id", "selfLink", "tableReference", "schema", "numRows", "numBytes", "numLongTermBytes",
             "creationTime", "lastModifiedTime", "type", "location", "streamingBuffer", "numActiveLogicalBytes",
             "numTotalLogicalBytes", "numLongTermLogicalBytes", "numPhysicalBytes")
_CHANGE_LOCK = threading.Lock()
_POSITION = "__bqlite_position"


@dataclass
class TableRef:
    project: str
    dataset: str
    table: str

    @property
    def full(self) -> str:
        return f"{self.project}:{self.dataset}.{self.table}"


@dataclass
class FoundTable:
    ref: TableRef
    engine: str
    row: cat.BigQueryTable
    fields: list[dict[str, Any]]
    view_sql: str | None
    schema_id: str | None       # registered from a .proto


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


@router.patch("/projects/{project}/datasets/{dataset}/tables/{table}")
async def patch_table(project: str, dataset: str, table: str, request: Request, core: CoreDep,
                      user: UserDep) -> GoogleJSON:
    body = await json_body(request)
    return GoogleJSON(await run_in_threadpool(_change, core, user, TableRef(project, dataset, table), body,
                                              request.headers.get("if-match"), base_url(request), False))


@router.put("/projects/{project}/datasets/{dataset}/tables/{table}")
async def update_table(project: str, dataset: str, table: str, request: Request, core: CoreDep,
                       user: UserDep) -> GoogleJSON:
    body = await json_body(request)
    return GoogleJSON(await run_in_threadpool(_change, core, user, TableRef(project, dataset, table), body,
                                              request.headers.get("if-match"), base_url(request), True))


@router.delete("/projects/{project}/datasets/{dataset}/tables/{table}")
async def delete_table(project: str, dataset: str, table: str, core: CoreDep, user: UserDep) -> Response:
    await run_in_threadpool(_delete, core, user, TableRef(project, dataset, table))
    return Response(status_code=204)


@router.post("/projects/{project}/datasets/{dataset}/tables/{table}/insertAll")
async def insert_all(project: str, dataset: str, table: str, request: Request, core: CoreDep,
                     user: UserDep) -> GoogleJSON:
    core.limiter.hit_rate(user, "ingest")
    body = await json_body(request)
    return GoogleJSON(await run_in_threadpool(_insert_all, core, user, TableRef(project, dataset, table), body))


@router.get("/projects/{project}/datasets/{dataset}/tables/{table}/data")
async def list_rows(project: str, dataset: str, table: str, request: Request, core: CoreDep,
                    user: UserDep) -> GoogleJSON:
    params = request.query_params
    max_results = int_param(params.get("maxResults"), "maxResults", default=DEFAULT_PAGE_ROWS, low=0, high=None)
    start = int_param(params.get("startIndex"), "startIndex", default=0, low=0, high=2**62)
    offset = decode_page_token(params["pageToken"]) if params.get("pageToken") else start
    selected = [name.strip() for name in params.get("selectedFields", "").split(",") if name.strip()]
    int64 = params.get("formatOptions.useInt64Timestamp", "false").lower() == "true"
    return GoogleJSON(await run_in_threadpool(_list_rows, core, user, TableRef(project, dataset, table), offset,
                                              min(max_results, MAX_PAGE_ROWS), selected, int64))


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
    _refuse_default(dataset, "create tables in")
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
        row = _row_for(catalog, rows.get(name), dataset, name, engine)
        is_view = (entry.database, name) in views.get(engine, {})
        item: dict[str, Any] = {
            "kind": "bigquery#table",
            "id": f"{project}:{dataset}.{name}",
            "tableReference": {"projectId": project, "datasetId": dataset, "tableId": name},
            "type": "VIEW" if is_view else "TABLE",
            "creationTime": str(row.created_ms),
        }
        if row.labels:
            item["labels"] = dict(row.labels)
        if row.friendly_name is not None:
            item["friendlyName"] = row.friendly_name
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
    _refuse_default(ref.dataset, "change tables of")
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
    _refuse_default(ref.dataset, "drop tables of")
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


# ---------------------------------------------------------------------------------------------------- tabledata

_seen_ids: OrderedDict[tuple[str, str, str], float] = OrderedDict()
_seen_lock = threading.Lock()


def _insert_all(core: Core, user: Principal, ref: TableRef, body: dict[str, Any]) -> dict[str, Any]:
    cat.check_dataset_id(ref.dataset)
    _refuse_default(ref.dataset, "insert rows into")
    if body.get("templateSuffix"):
        raise invalid("templateSuffix: not supported by BigQuery-Lite", location="templateSuffix")
    rows = body.get("rows")
    if not isinstance(rows, list):
        raise invalid("rows: required, a list of {\"json\": {...}} objects", location="rows")
    if len(rows) > MAX_INSERT_ROWS:
        raise invalid(f"rows: at most {MAX_INSERT_ROWS:,} rows per request, got {len(rows):,}", location="rows")
    skip_invalid = _flag(body, "skipInvalidRows")
    ignore_unknown = _flag(body, "ignoreUnknownValues")
    found = find_table(core, user, ref, "writer", action="ingest")
    if found.view_sql is not None:
        raise invalid(f"Cannot insert rows into view {ref.full}")
    json_rows: list[Any] = []
    insert_ids: list[str | None] = []
    for index, item in enumerate(rows):
        if not isinstance(item, dict):
            raise invalid(f"rows[{index}]: must be an object with a \"json\" member", location=f"rows[{index}]")
        json_rows.append(item.get("json"))
        insert_id = item.get("insertId")
        insert_ids.append(str(insert_id)[:128] if insert_id not in (None, "") else None)
    fresh = [i for i, insert_id in enumerate(insert_ids) if not _seen(ref, insert_id)]
    schema = fields_to_arrow(found.fields, engine=found.engine)
    data, problems = json_rows_to_arrow([json_rows[i] for i in fresh], schema, ignore_unknown_values=ignore_unknown)
    errors: dict[int, list[dict[str, str]]] = {}
    for position, reason, message in problems:
        errors.setdefault(fresh[position], []).append(
            {"reason": reason, "location": _location_of(message), "debugInfo": "", "message": message})
    answer: dict[str, Any] = {"kind": "bigquery#tableDataInsertAllResponse"}
    if errors and not skip_invalid:
        # All or nothing: the valid rows are reported "stopped", as BigQuery reports them.
        for index in fresh:
            errors.setdefault(index, [{"reason": "stopped", "location": "", "debugInfo": "", "message": ""}])
        answer["insertErrors"] = [{"index": index, "errors": errors[index]} for index in sorted(errors)]
        return answer
    if data.num_rows:
        with cat.engine_errors():
            core.engines[found.engine].insert_arrow(engine_database(found.engine, ref.dataset), ref.table, data)
    _remember(ref, [insert_ids[i] for i in fresh if i not in errors])
    core.audit.record(user, "ingest", target=f"{ref.dataset}.{ref.table}",
                      detail={"face": "bigquery", "rows": data.num_rows, "rejected": len(errors)})
    if errors:
        answer["insertErrors"] = [{"index": index, "errors": errors[index]} for index in sorted(errors)]
    return answer


def _list_rows(core: Core, user: Principal, ref: TableRef, offset: int, limit: int, selected: list[str],
               int64_timestamps: bool) -> dict[str, Any]:
    if ref.dataset == cat.ANON_DATASET:
        fields, total, data, next_offset = _anon_page(core, user, ref, offset, limit)
        names = _selected_names(fields, selected, ref)
        index = {f["name"]: i for i, f in enumerate(fields)}
        data = data.select([index[name] for name in names])
        fields = [fields[index[name]] for name in names]
    else:
        found = find_table(core, user, ref, "reader", action="table.read")
        if found.view_sql is not None:
            raise invalid(f"Cannot list a table of type VIEW ({ref.full}); query it instead")
        names = _selected_names(found.fields, selected, ref)
        by_name = {f["name"]: f for f in found.fields}
        fields = [by_name[name] for name in names]
        data, next_offset, total = _read_page(core, found, names, offset, limit)
    answer: dict[str, Any] = {
        "kind": "bigquery#tableDataList",
        "etag": etag(ref.dataset, ref.table, total, offset),
        "totalRows": str(total),
        "rows": arrow_to_rows(data, int64_timestamps=int64_timestamps, fields=fields),
    }
    if next_offset is not None:
        answer["pageToken"] = encode_page_token(next_offset)
    return answer


def _read_page(core: Core, found: FoundTable, names: list[str], offset: int,
               limit: int) -> tuple[pa.Table, int | None, int]:
    """Rows ``[offset, offset + limit)`` of the table (positions for a ClickHouse MergeTree), the next offset
    (None at the end) and the total row count."""
    engine = found.engine
    name = cat.qualified(engine, found.ref.dataset, found.ref.table)
    hexed = _hexed_bytes(found, names)
    columns = ", ".join(_select_item(engine, column, hexed) for column in names) or "1"
    count = cat.run_select(core.engines[engine], f"SELECT count(*) AS n FROM {name}")
    total = int(count.column(0)[0].as_py() or 0)
    if limit == 0:
        return _empty(found.fields, names), (offset if offset < total else None), total
    positioned = engine == "clickhouse" and "MergeTree" in cat.clickhouse_table_info(
        core, found.ref.dataset, found.ref.table)[0]
    if positioned:
        # Each row's position survives merges; reading from a position needs no sort of the rows before it.
        position = "(_part_starting_offset + _part_offset)"
        sql = (f"SELECT {columns}, {position} AS {_POSITION} FROM {name} WHERE {position} >= {int(offset)} "
               f"ORDER BY {_POSITION} LIMIT {int(limit) + 1}")
    else:
        sql = f"SELECT {columns} FROM {name} LIMIT {int(limit) + 1} OFFSET {int(offset)}"
    data = cat.run_select(core.engines[engine], sql)
    positions = data.column(_POSITION).to_pylist() if positioned else None
    if positioned:
        data = data.drop_columns([_POSITION])
    if not names:
        data = pa.table({})
    for column, repeated in hexed.items():
        index = data.schema.get_field_index(column)
        data = data.set_column(index, column, _unhex(data.column(index), repeated))
    keep = min(limit, data.num_rows)
    keep = _fit(data, keep)
    more = data.num_rows > keep
    next_offset = None
    if more:
        next_offset = int(positions[keep]) if positions is not None else offset + keep
    return data.slice(0, keep), next_offset, total


def _hexed_bytes(found: FoundTable, names: list[str]) -> dict[str, bool]:
    """ClickHouse keeps BYTES in String, and its reader shows a value that is not UTF-8 as hex digits, which cannot
    be told from text: top-level BYTES columns (scalar or REPEATED) are read as ``hex()`` and decoded here, so every
    value comes back exactly. Column name -> whether it is REPEATED. (BYTES inside a RECORD are not covered.)"""
    if found.engine != "clickhouse":
        return {}
    wanted = set(names)
    return {f["name"]: f.get("mode") == "REPEATED" for f in found.fields
            if f["name"] in wanted and f.get("type") == "BYTES"}


def _select_item(engine: str, column: str, hexed: dict[str, bool]) -> str:
    quoted = cat.quote(engine, column)
    if column not in hexed:
        return quoted
    return f"arrayMap(x -> hex(x), {quoted}) AS {quoted}" if hexed[column] else f"hex({quoted}) AS {quoted}"


def _unhex(column: pa.ChunkedArray, repeated: bool) -> pa.Array:
    def decode(value: str | None) -> bytes | None:
        return None if value is None else bytes.fromhex(value)

    values = column.to_pylist()
    if repeated:
        return pa.array([None if v is None else [decode(x) for x in v] for v in values], pa.list_(pa.binary()))
    return pa.array([decode(v) for v in values], pa.binary())


def _anon_page(core: Core, user: Principal, ref: TableRef, offset: int,
               limit: int) -> tuple[list[dict[str, Any]], int, pa.Table, int | None]:
    _anon_job(core, user, ref)
    assert core.results is not None
    info = core.results.info(ref.table)
    fields = arrow_to_fields(info.schema)
    data = core.results.page(ref.table, offset, limit)
    keep = _fit(data, data.num_rows)
    data = data.slice(0, keep)
    next_offset = offset + keep if offset + keep < info.rows and limit > 0 else None
    return fields, info.rows, data, next_offset


def _fit(data: pa.Table, rows: int) -> int:
    """How many of the first ``rows`` rows fit one page's byte budget (at least one)."""
    if rows <= 1 or data.num_rows == 0:
        return rows
    size = data.slice(0, rows).nbytes
    if size <= MAX_PAGE_BYTES:
        return rows
    return max(1, int(rows * MAX_PAGE_BYTES / size))


def _empty(fields: list[dict[str, Any]], names: list[str]) -> pa.Table:
    schema = fields_to_arrow([f for f in fields if f["name"] in names])
    return schema.empty_table()


def _selected_names(fields: list[dict[str, Any]], selected: list[str], ref: TableRef) -> list[str]:
    """``selectedFields`` (top-level names, any case) -> the columns' names, in the order asked."""
    if not selected:
        return [f["name"] for f in fields]
    by_lower = {f["name"].lower(): f["name"] for f in fields}
    names = []
    for name in selected:
        if "." in name:
            raise invalid(f"selectedFields: nested field paths ({name[:100]}) are not supported; select the RECORD",
                          location="selectedFields")
        actual = by_lower.get(name.lower())
        if actual is None:
            raise invalid(f"selectedFields: no field {name[:100]!r} in table {ref.full}", location="selectedFields")
        if actual in names:
            raise invalid(f"selectedFields: {name[:100]!r} is named twice", location="selectedFields")
        names.append(actual)
    return names


def _seen(ref: TableRef, insert_id: str | None) -> bool:
    if insert_id is None:
        return False
    now = time.monotonic()
    with _seen_lock:
        expires = _seen_ids.get((ref.dataset, ref.table, insert_id))
        return expires is not None and expires > now


def _remember(ref: TableRef, insert_ids: list[str | None]) -> None:
    expires = time.monotonic() + INSERT_ID_TTL_S
    with _seen_lock:
        for insert_id in insert_ids:
            if insert_id is not None:
                _seen_ids[(ref.dataset, ref.table, insert_id)] = expires
                _seen_ids.move_to_end((ref.dataset, ref.table, insert_id))
        now = time.monotonic()
        while _seen_ids and (len(_seen_ids) > MAX_INSERT_IDS or next(iter(_seen_ids.values())) <= now):
            _seen_ids.popitem(last=False)


def _location_of(message: str) -> str:
    """The field a row error names: ``no such field: a.b.`` or ``a.b: ...``."""
    if message.startswith("no such field: "):
        return message[len("no such field: "):].rstrip(".")
    head, sep, _ = message.partition(":")
    return head if sep and " " not in head else ""


# ---------------------------------------------------------------------------------------------------- finding

def find_table(core: Core, user: Principal, ref: TableRef, role: str, *, action: str = "") -> FoundTable:
    """The table, when the caller holds ``role`` on its dataset (403) and it exists (404)."""
    cat.check_table_id(ref.table)
    cat.check_dataset_id(ref.dataset)
    if ref.dataset == cat.ANON_DATASET:
        raise not_found(f"Table {ref.full}")
    core.grants.require(user, ref.dataset, role, action=action)  # type: ignore[arg-type]
    catalog = cat.catalog_for(core)
    row = catalog.table(ref.dataset, ref.table)
    engine = cat.locate_table(core, ref.dataset, ref.table, preferred=row.engine if row is not None else None)
    if engine is None:
        # Which one is missing, as BigQuery says it (the dataset is only looked for now: a found table has one).
        require_dataset(core, user, ref.project, ref.dataset, role, action=action)
        raise not_found(f"Table {ref.full}")
    row = _row_for(catalog, row, ref.dataset, ref.table, engine)
    view_sql = cat.is_view(core, engine, ref.dataset, ref.table)
    schema_id = core.schemas.find(ref.dataset, ref.table)
    fields = _effective_fields(core, row, engine, ref, schema_id)
    return FoundTable(ref, engine, row, fields, view_sql, schema_id)


def _row_for(catalog: cat.BigQueryCatalog, row: cat.BigQueryTable | None, dataset: str, table: str,
             engine: str) -> cat.BigQueryTable:
    """The table's catalog row; a table seen for the first time (or again on another engine) gets a fresh one."""
    if row is not None and row.engine == engine:
        return row
    return catalog.put_table(cat.BigQueryTable(dataset_id=dataset, table_id=table, engine=engine))


def _effective_fields(core: Core, row: cat.BigQueryTable, engine: str, ref: TableRef,
                      schema_id: str | None) -> list[dict[str, Any]]:
    """The declared fields for the columns the engine has, the engine's (or the registry's) for the others."""
    data = cat.run_select(core.engines[engine], f"SELECT * FROM {cat.qualified(engine, ref.dataset, ref.table)} "
                                                "LIMIT 0")
    engine_fields = arrow_to_fields(data.schema)
    if schema_id is not None:
        proto = cat.catalog_for(core).proto_fields(core.schemas, schema_id, core.settings.proto_max_depth)
        registered = {f["name"]: f for f in proto}
        engine_fields = [registered.get(f["name"], f) for f in engine_fields]
    declared = {f["name"]: f for f in row.fields}
    return [declared.get(f["name"], f) for f in engine_fields]


def _anon_job(core: Core, user: Principal, ref: TableRef) -> None:
    if not all(c.isalnum() or c in "_-" for c in ref.table) or not 0 < len(ref.table) <= 1024:
        raise not_found(f"Table {ref.full}")
    core.queries.get(ref.table, user=user)      # someone else's job answers 404, as a missing one
    assert core.results is not None
    if not core.results.exists(ref.table):
        raise not_found(f"Table {ref.full}")


def _anon_resource(core: Core, user: Principal, ref: TableRef, base: str) -> dict[str, Any]:
    _anon_job(core, user, ref)
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


def _refuse_default(dataset: str, what: str) -> None:
    if dataset == SAMPLE_DATASET:
        raise invalid(f"The dataset default (the sample data) is reserved: this API cannot {what} it; "
                      "create a dataset of your own")


def _refuse_unsupported(body: dict[str, Any]) -> None:
    for key in UNSUPPORTED:
        if body.get(key):
            hint = "; create views with CREATE VIEW in a query" if key in ("view", "materializedView") else ""
            raise invalid(f"{key}: not supported by BigQuery-Lite{hint}", location=key)


def _apply_metadata(row: cat.BigQueryTable, body: dict[str, Any], *, replace: bool) -> None:
    if replace or "description" in body:
        row.description = _text(body.get("description"), "description", 16_384)
    if replace or "friendlyName" in body:
        row.friendly_name = _text(body.get("friendlyName"), "friendlyName", 1_024)
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


def _text(value: Any, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"{name}: must be a string", location=name)
    if len(value) > limit:
        raise invalid(f"{name}: at most {limit:,} characters", location=name)
    return value


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise invalid(f"{key}: must be true or false", location=key)
    return value
