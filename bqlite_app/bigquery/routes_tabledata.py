"""tabledata.insertAll and tabledata.list: streaming inserts and row reads.

insertAll answers per-row ``insertErrors`` as BigQuery does and is all or nothing per request unless
``skipInvalidRows``. tabledata.list pages are stable: DuckDB scans a table in insertion order
(``preserve_insertion_order``), so LIMIT/OFFSET over it is the same rows every time; a ClickHouse MergeTree is read
ordered by each row's position (``_part_starting_offset + _part_offset``), which merges keep, so a page token always
means the same rows while the table only grows. Grants: ``reader`` to read rows, ``writer`` to insert them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

import pyarrow as pa
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from bqlite_app.access.principal import Principal
from bqlite_app.bigquery import catalog as cat
from bqlite_app.bigquery.auth import CoreDep, UserDep
from bqlite_app.bigquery.errors import invalid
from bqlite_app.bigquery.json_rows import json_rows_to_arrow
from bqlite_app.bigquery.paging import DEFAULT_PAGE_ROWS, MAX_PAGE_ROWS, decode_page_token, encode_page_token
from bqlite_app.bigquery.request import int_param, json_body
from bqlite_app.bigquery.resources import etag
from bqlite_app.bigquery.responses import GoogleJSON
from bqlite_app.bigquery.rows import arrow_to_rows
from bqlite_app.bigquery.schema_arrow import arrow_to_fields, fields_to_arrow
from bqlite_app.bigquery.tables import FoundTable, TableRef, check_anon_table, find_table, flag, refuse_default
from bqlite_app.core import Core
from bqlite_app.datasets import engine_database

router = APIRouter()

# One page's Arrow data at most this large (its JSON is a few times more); BigQuery caps a page near 10 MB too.
MAX_PAGE_BYTES = 16 * 1024**2
MAX_INSERT_ROWS = 50_000
# insertAll's insertIds are remembered this long (BigQuery de-duplicates for about a minute, best effort), so the
# client's retry of a request whose answer was lost does not add the rows twice.
INSERT_ID_TTL_S = 60.0
MAX_INSERT_IDS = 200_000
_POSITION = "__bqlite_position"


# ---------------------------------------------------------------------------------------------------- routes

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


# ---------------------------------------------------------------------------------------------------- tabledata

_seen_ids: OrderedDict[tuple[str, str, str], float] = OrderedDict()
_seen_lock = threading.Lock()


def _insert_all(core: Core, user: Principal, ref: TableRef, body: dict[str, Any]) -> dict[str, Any]:
    cat.check_dataset_id(ref.dataset)
    refuse_default(ref.dataset, "insert rows into")
    if body.get("templateSuffix"):
        raise invalid("templateSuffix: not supported by BigQuery-Lite", location="templateSuffix")
    rows = body.get("rows")
    if not isinstance(rows, list):
        raise invalid("rows: required, a list of {\"json\": {...}} objects", location="rows")
    if len(rows) > MAX_INSERT_ROWS:
        raise invalid(f"rows: at most {MAX_INSERT_ROWS:,} rows per request, got {len(rows):,}", location="rows")
    skip_invalid = flag(body, "skipInvalidRows")
    ignore_unknown = flag(body, "ignoreUnknownValues")
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
    check_anon_table(core, user, ref)
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
