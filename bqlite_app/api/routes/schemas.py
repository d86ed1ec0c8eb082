"""Protobuf schemas: register, inspect, create tables, ingest binary data, delete."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from bqlite_app.api.deps import CoreDep, CurrentUser
from bqlite_app.api.models import (
    ERROR_RESPONSES,
    EngineRows,
    IngestAnswer,
    MessageAnswer,
    SchemaDiffPublic,
    SchemaList,
    SchemaRegistered,
    TablesCreate,
    TablesCreated,
)
from bqlite_app.db import iso_utc
from bqlite_app.errors import PayloadTooLarge, TableNotFound, ValidationFailed
from bqlite_app.schemas.compiler import ProtoFile
from bqlite_app.schemas.models import SchemaDetailPublic
from bqlite_app.schemas.registry import DEFAULT_DATABASE
from bqlite_app.schemas.spool import spool_body, spool_path
from bqlite_app.schemas.uploads import MAX_IMPORTS, MAX_TOTAL_BYTES

router = APIRouter(tags=["schemas"], responses=ERROR_RESPONSES)


@router.post("/schemas/register", status_code=201, response_model=SchemaRegistered, responses={
    200: {"model": SchemaRegistered, "description": "The content is unchanged: the existing version."}})
async def register_schema(
    core: CoreDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description=".proto text, or a binary FileDescriptorSet")],
    table_name: Annotated[str, Form()],
    imports: Annotated[list[UploadFile] | None, File(description="Files the main file imports")] = None,
    database_name: Annotated[str, Form()] = DEFAULT_DATABASE,
    description: Annotated[str, Form()] = "",
    message_type: Annotated[str | None, Form()] = None,
    shard_key: Annotated[str | None, Form(description="A top-level scalar field that places rows on a "
                                                      "ClickHouse cluster's shards")] = None,
) -> JSONResponse:
    """Register (or re-register) a message as `database_name.table_name`. Same content answers the same version.

    Needs `owner` on the dataset `database_name`, unless nobody has it yet: then the caller creates it and owns it.
    `shard_key` (optional) names a top-level scalar field of the message: tables created from the schema in a
    ClickHouse cluster are sharded by it. Without it a re-registration keeps the schema's key.
    """
    main, extra = await _read_uploads(file, imports, core.settings.max_proto_bytes)
    registration = await run_in_threadpool(
        core.schemas.register, main, extra, user=user, table_name=table_name, database_name=database_name,
        description=description, message_type=message_type or None, shard_key=shard_key or None,
    )
    record, version = registration.record, registration.version
    message = (f"Registered {record.database_name}.{record.table_name} version {version.version}"
               if registration.new_version else f"Unchanged: version {version.version} already has this content")
    answer = SchemaRegistered(
        schema_id=record.schema_id, message=message, table_name=record.table_name,
        database_name=record.database_name, field_count=registration.field_count, version=version.version,
        fingerprint=version.fingerprint, created_at=iso_utc(version.created_at), shard_key=record.shard_key)
    # A response of its own: the status says whether a version was created, and response_model cannot vary it.
    return JSONResponse(answer.model_dump(mode="json"), status_code=201 if registration.new_version else 200)


@router.post("/schemas/{schema_id}/diff")
async def diff_schema(
    schema_id: str,
    core: CoreDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description=".proto text, or a binary FileDescriptorSet")],
    imports: Annotated[list[UploadFile] | None, File(description="Files the main file imports")] = None,
    message_type: Annotated[str | None, Form()] = None,
) -> SchemaDiffPublic:
    """What registering this content over the schema would change, and whether it would break. Changes nothing."""
    main, extra = await _read_uploads(file, imports, core.settings.max_proto_bytes)
    diff = await run_in_threadpool(core.schemas.diff, schema_id, main, extra, user=user,
                                  message_type=message_type or None)
    return SchemaDiffPublic(
        schema_id=schema_id, message_type=diff.message_type, current_version=diff.current_version,
        next_version=diff.next_version, unchanged=diff.unchanged, compatible=diff.comparison.compatible,
        breaking=diff.comparison.breaking, changes=diff.comparison.changes,
        columns_added=diff.columns_added, columns_changed=diff.columns_changed)


@router.get("/schemas")
async def list_schemas(core: CoreDep, user: CurrentUser) -> SchemaList:
    """The schemas in datasets the caller can read."""
    schemas = await run_in_threadpool(lambda: core.schemas.summaries(user=user))
    return SchemaList(schemas=schemas, total=len(schemas))


@router.get("/schemas/{schema_id}")
async def get_schema(schema_id: str, core: CoreDep, user: CurrentUser) -> SchemaDetailPublic:
    return await run_in_threadpool(lambda: core.schemas.detail(schema_id, user=user))


@router.post("/schemas/{schema_id}/tables/create")
async def create_tables(schema_id: str, core: CoreDep, user: CurrentUser,
                        body: TablesCreate | None = None) -> TablesCreated:
    """Needs `writer` on the schema's dataset."""
    body = body or TablesCreate()
    results = await run_in_threadpool(
        lambda: core.schemas.create_tables(schema_id, body.engines, user=user, if_not_exists=body.if_not_exists,
                                           replace=body.replace))
    return TablesCreated(schema_id=schema_id, results=results)


@router.post("/schemas/{schema_id}/ingest", openapi_extra={"requestBody": {
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def ingest(
    schema_id: str, request: Request, core: CoreDep, user: CurrentUser,
    format: Literal["delimited", "single", "jsonl"] = "delimited",
    engines: str | None = Query(None, description="Comma-separated; default: every engine with the table."),
) -> IngestAnswer:
    """Stream binary protobuf into the schema's tables. All or nothing per engine. Needs `writer` on the dataset."""
    targets = [name.strip() for name in engines.split(",") if name.strip()] if engines else None
    # 404 or 403 before reading a large body.
    await run_in_threadpool(lambda: core.schemas.get(schema_id, user=user, role="writer", action="ingest"))
    body = spool_path(core.settings.data_dir, schema_id)
    try:
        declared = int(request.headers.get("content-length") or 0)
        await spool_body(request.stream(), body, limit=core.settings.max_ingest_bytes, declared=declared)
        result = await run_in_threadpool(lambda: core.schemas.ingest(schema_id, body, format, targets, user=user))
    except TableNotFound as exc:    # the core says what to do; the REST face names the route that does it
        raise TableNotFound(f"{exc.detail} (POST /schemas/{schema_id}/tables/create)") from exc
    finally:
        body.unlink(missing_ok=True)
    return IngestAnswer(schema_id=schema_id, rows_ingested=result.rows, bytes=result.bytes,
                        duration_ms=result.duration_ms,
                        engines={name: EngineRows(rows=rows) for name, rows in result.engines.items()})


@router.delete("/schemas/{schema_id}")
async def delete_schema(schema_id: str, core: CoreDep, user: CurrentUser,
                        drop_tables: bool = False) -> MessageAnswer:
    """Needs `owner` on the schema's dataset."""
    message = await run_in_threadpool(lambda: core.schemas.delete(schema_id, user=user, drop_tables=drop_tables))
    return MessageAnswer(message=message)


async def _read_uploads(file: UploadFile, imports: list[UploadFile] | None,
                        max_file_bytes: int) -> tuple[ProtoFile, list[ProtoFile]]:
    """The uploads in memory, within the caps; the core checks the names before anything is written or run."""
    imports = imports or []
    if len(imports) > MAX_IMPORTS:   # before reading any of them
        raise ValidationFailed(f"imports: {len(imports)} files uploaded; at most {MAX_IMPORTS} are allowed")
    files, total = [], 0
    for upload in (file, *imports):
        content = await upload.read(max_file_bytes + 1)
        if len(content) > max_file_bytes:
            raise PayloadTooLarge(f"{upload.filename}: .proto uploads are limited to {max_file_bytes:,} bytes")
        total += len(content)
        if total > MAX_TOTAL_BYTES:
            raise PayloadTooLarge(f"The uploaded files total over {MAX_TOTAL_BYTES:,} bytes, the limit")
        if not upload.filename:
            raise ValidationFailed(f"{'file' if upload is file else 'imports'}: the upload has no file name")
        files.append(ProtoFile(name=upload.filename, content=content))
    return files[0], files[1:]
