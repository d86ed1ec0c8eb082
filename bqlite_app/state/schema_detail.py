"""One schema (/schemas/[schema_id]): fields, DDL, versions, tables per engine, ingest and delete.

Ingest streams the uploaded file to ``data_dir/ingest`` in a background event (``rx.upload_files_chunk``), then
runs the registry's ingest in a worker thread and mirrors its progress callback into a progress bar.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from bqlite_app.core import app_core
from bqlite_app.errors import BqliteError
from bqlite_app.humanize import human_bytes, human_count, human_duration_ms, local_time
from bqlite_app.schemas.models import SchemaFieldPublic
from bqlite_app.schemas.spool import spool_path
from bqlite_app.state.auth import AuthState, acting, authenticate
from bqlite_app.state.display import error_lines, route_tail
from bqlite_app.state.schemas import ENGINE_LABELS
from bqlite_app.state.uploads import spool_upload

FORMATS = ["delimited", "single", "jsonl"]
ALL_TABLES = "all"
INGEST_UPLOAD_ID = "ingest_file"
PROGRESS_EVERY_S = 0.25


@dataclasses.dataclass(frozen=True)
class FieldRow:
    name: str = ""
    number: int = 0
    type: str = ""
    mode: str = ""
    depth: int = 0


@dataclasses.dataclass(frozen=True)
class VersionRow:
    version: int = 0
    created: str = ""
    fingerprint: str = ""
    changes: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class EngineRow:
    engine: str = ""
    label: str = ""
    table: str = ""
    has_table: bool = False
    ddl: str = ""
    note: str = ""
    note_is_error: bool = False


@dataclasses.dataclass(frozen=True)
class IngestRow:
    engine: str = ""
    label: str = ""
    rows: str = ""
    query_url: str = ""


def flatten_fields(fields: list[SchemaFieldPublic], depth: int = 0) -> list[FieldRow]:
    """The field tree as indented rows, parents first."""
    rows: list[FieldRow] = []
    for node in fields:
        rows.append(FieldRow(name=node.name, number=node.number, type=node.proto_type, mode=node.mode, depth=depth))
        rows.extend(flatten_fields(node.fields, depth + 1))
    return rows


def workspace_url(sql: str, engine: str) -> str:
    return "/?" + urlencode({"sql": sql, "engine": engine})


class IngestCancelled(Exception):
    """Raised from the progress callback to stop a decode the user cancelled."""


class _Progress:
    """The ingest's latest (bytes, messages), written by the worker thread and read by the event loop."""

    def __init__(self) -> None:
        self.bytes = 0
        self.messages = 0
        self.cancel = threading.Event()

    def update(self, consumed: int, messages: int) -> None:
        self.bytes, self.messages = consumed, messages
        if self.cancel.is_set():
            raise IngestCancelled("cancelled")


_running: dict[str, _Progress] = {}   # client token -> the ingest it runs, so Cancel can reach it


class SchemaDetailState(AuthState):
    current_schema_id: str = ""
    not_found: str = ""
    name: str = ""
    database_name: str = ""
    table_name: str = ""
    description: str = ""
    message_type: str = ""
    shard_key: str = ""
    version: int = 0
    field_count: int = 0
    created: str = ""
    updated: str = ""
    fields: list[FieldRow] = []
    versions: list[VersionRow] = []
    engines: list[EngineRow] = []
    proto_source: str = ""
    action_error_title: str = ""
    action_error: list[str] = []
    creating: bool = False

    ingest_format: str = "delimited"
    ingest_target: str = ALL_TABLES
    ingesting: bool = False
    ingest_phase: str = ""
    ingest_percent: int = 0
    ingest_text: str = ""
    ingest_summary: str = ""
    ingest_rows: list[IngestRow] = []
    ingest_error_title: str = ""
    ingest_error: list[str] = []

    drop_tables: bool = False
    deleting: bool = False

    @rx.var
    def qualified(self) -> str:
        return f"{self.database_name}.{self.table_name}"

    @rx.var
    def target_choices(self) -> list[str]:
        return [ALL_TABLES, *(row.engine for row in self.engines if row.has_table)]

    @rx.var
    def has_tables(self) -> bool:
        return any(row.has_table for row in self.engines)

    @rx.var
    def table_list(self) -> str:
        return ", ".join(f"{row.label} {row.table}" for row in self.engines if row.has_table)

    # -- load --------------------------------------------------------------------------------------------------

    @rx.event
    async def load(self) -> None:
        schema_id = route_tail(self.router.url.path)
        if schema_id != self.current_schema_id:
            self._reset_for(schema_id)
        await self._reload()

    def _reset_for(self, schema_id: str) -> None:
        self.current_schema_id = schema_id
        self.name, self.description, self.fields, self.versions, self.engines = "", "", [], [], []
        self.action_error_title, self.action_error = "", []
        self.ingest_summary, self.ingest_rows, self.ingest_error_title, self.ingest_error = "", [], "", []
        self.ingest_phase, self.ingest_percent, self.ingest_text = "", 0, ""
        self.ingest_target, self.drop_tables = ALL_TABLES, False

    async def _reload(self, notes: dict[str, tuple[str, bool]] | None = None) -> None:
        try:
            # Who the caller is, is asked in the worker thread too: with auth on that reads SQLite.
            detail = await asyncio.to_thread(acting, self._credentials(), app_core().schemas.detail,
                                             self.current_schema_id)
        except BqliteError as exc:
            self.not_found = exc.detail
            return
        self.not_found = ""
        self.database_name, self.table_name = detail.database_name, detail.table_name
        self.name = f"{self.database_name}.{self.table_name}"
        self.description, self.message_type = detail.description, detail.message_type
        self.version, self.field_count = detail.version, detail.field_count
        self.shard_key = detail.shard_key or ""
        self.created, self.updated = local_time(detail.created_at), local_time(detail.updated_at)
        self.fields = flatten_fields(detail.fields)
        self.versions = [VersionRow(version=v.version, created=local_time(v.created_at),
                                    fingerprint=v.fingerprint[:12], changes=list(v.changes))
                         for v in reversed(detail.versions)]
        tables = {t.engine: t.table for t in detail.tables}
        previous = {row.engine: (row.note, row.note_is_error) for row in self.engines}
        notes = notes if notes is not None else previous
        self.engines = [
            EngineRow(engine=name, label=ENGINE_LABELS.get(name, name), table=tables.get(name, self.name),
                      has_table=name in tables, ddl=ddl, note=notes.get(name, ("", False))[0],
                      note_is_error=notes.get(name, ("", False))[1])
            for name, ddl in detail.ddl.items()
        ]
        self.proto_source = detail.proto_source
        if self.ingest_target not in self.target_choices:
            self.ingest_target = ALL_TABLES

    # -- tables ------------------------------------------------------------------------------------------------

    @rx.event
    async def create_tables(self, engine: str):
        names = [row.engine for row in self.engines] if engine == ALL_TABLES else [engine]
        self.creating, self.action_error_title, self.action_error = True, "", []
        yield
        try:
            results = await asyncio.to_thread(acting, self._credentials(), app_core().schemas.create_tables,
                                              self.current_schema_id, names)
        except BqliteError as exc:
            self.action_error_title, self.action_error = error_lines(exc)
            return
        finally:
            self.creating = False
        notes = {row.engine: (row.note, row.note_is_error) for row in self.engines}
        for name, result in results.items():
            if result.error:
                notes[name] = (result.error, True)
            else:
                notes[name] = (f"Created {result.table}" if result.created else f"{result.table} already exists",
                               False)
        await self._reload(notes)

    # -- ingest ------------------------------------------------------------------------------------------------

    @rx.event
    def set_ingest_format(self, value: str) -> None:
        self.ingest_format = value

    @rx.event
    def set_ingest_target(self, value: str) -> None:
        self.ingest_target = value

    @rx.event
    def upload_progress(self, progress: dict[str, Any]) -> None:
        if self.ingest_phase == "Uploading":
            self.ingest_percent = round(100 * float(progress.get("progress") or 0))
            self.ingest_text = f"{human_bytes(int(progress.get('loaded') or 0))} of " \
                               f"{human_bytes(int(progress.get('total') or 0))} sent"

    @rx.event
    def cancel_ingest(self) -> None:
        running = _running.get(self.router.session.client_token)
        if running is not None:
            running.cancel.set()
            self.ingest_text = "Cancelling…"

    @rx.event(background=True)
    async def ingest_upload(self, chunks: rx.UploadChunkIterator):
        async with self:
            busy = self.ingesting
            if not busy:
                self.ingesting, self.ingest_phase, self.ingest_percent = True, "Uploading", 0
                self.ingest_text, self.ingest_summary, self.ingest_rows = "", "", []
                self.ingest_error_title, self.ingest_error = "", []
            schema_id, fmt, target = self.current_schema_id, self.ingest_format, self.ingest_target
            token = self.router.session.client_token
            credentials = self._credentials()
        if busy:  # one ingest per tab; the upload must still be read to its end
            async for _ in chunks:
                pass
            return
        spool = spool_path(app_core().settings.data_dir, schema_id, prefix="ui-")
        progress = _Progress()
        _running[token] = progress
        try:
            size, _name = await spool_upload(chunks, spool, what="ingest")
            if progress.cancel.is_set():
                raise IngestCancelled("cancelled")
            async with self:
                self.ingest_phase, self.ingest_percent = "Ingesting", 0
                self.ingest_text = f"Decoding {human_bytes(size)}…"
            engines = None if target == ALL_TABLES else [target]
            user = await asyncio.to_thread(authenticate, *credentials)
            work = asyncio.ensure_future(asyncio.to_thread(
                lambda: app_core().schemas.ingest(schema_id, spool, fmt, engines, progress.update,  # type: ignore[arg-type]
                                            user=user)))
            while not work.done():
                await asyncio.wait({work}, timeout=PROGRESS_EVERY_S)
                async with self:
                    self.ingest_percent = min(100, round(100 * progress.bytes / max(size, 1)))
                    if not progress.cancel.is_set():
                        self.ingest_text = (f"{human_bytes(progress.bytes)} of {human_bytes(size)}, "
                                            f"{human_count(progress.messages)} messages")
            result = work.result()
            async with self:
                self.ingest_percent = 100
                self.ingest_summary = (f"Ingested {human_count(result.rows)} messages "
                                       f"({human_bytes(result.bytes)}) in {human_duration_ms(result.duration_ms)}")
                sql = f"SELECT * FROM {self.qualified} LIMIT 100"
                self.ingest_rows = [IngestRow(engine=name, label=ENGINE_LABELS.get(name, name),
                                              rows=human_count(rows), query_url=workspace_url(sql, name))
                                    for name, rows in result.engines.items()]
        except IngestCancelled:
            async with self:
                self.ingest_error_title, self.ingest_error = "Ingest cancelled", ["Nothing was written."]
        except BqliteError as exc:
            async with self:
                self.ingest_error_title, self.ingest_error = error_lines(exc)
        except ValueError as exc:
            async with self:
                self.ingest_error_title, self.ingest_error = "Upload refused", [str(exc)]
        except Exception as exc:
            async with self:
                self.ingest_error_title, self.ingest_error = error_lines(exc)
        finally:
            _running.pop(token, None)
            spool.unlink(missing_ok=True)
            async with self:
                self.ingesting, self.ingest_phase = False, ""
        # Forget the chosen file, in React and in the <input>, so the same file can be chosen again.
        yield rx.clear_selected_files(INGEST_UPLOAD_ID)
        yield rx.call_script(f"document.querySelectorAll('#{INGEST_UPLOAD_ID} input[type=file]')"
                             ".forEach((input) => {{ input.value = ''; }})")

    # -- delete ------------------------------------------------------------------------------------------------

    @rx.event
    def set_drop_tables(self, value: bool) -> None:
        self.drop_tables = bool(value)

    @rx.event
    async def delete(self):
        self.deleting = True
        yield
        schema_id, drop_tables = self.current_schema_id, self.drop_tables
        try:
            message = await asyncio.to_thread(acting, self._credentials(), app_core().schemas.delete, schema_id,
                                              drop_tables=drop_tables)
        except BqliteError as exc:
            self.action_error_title, self.action_error = error_lines(exc)
            return
        finally:
            self.deleting = False
        self.current_schema_id = ""
        yield rx.toast.success(message)
        yield rx.redirect("/schemas")
