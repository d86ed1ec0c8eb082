"""The schema list (/schemas) and its Register form. Calls the registry in process.

Files are uploaded as soon as they are chosen (``on_drop``) and kept in the tab's backend state until Register, so a
main file and its imports can come from two drop zones and the form can suggest the message types it defines.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re

import reflex as rx

from bqlite_app.core import app_core
from bqlite_app.errors import BqliteError
from bqlite_app.humanize import human_bytes, local_time
from bqlite_app.schemas.compiler import ProtoFile, compile_schema
from bqlite_app.schemas.models import SchemaPublic
from bqlite_app.schemas.registry import DEFAULT_DATABASE, SchemaDiff
from bqlite_app.state.auth import AuthState, acting
from bqlite_app.state.display import error_lines

ENGINE_LABELS = {"duckdb": "DuckDB", "clickhouse": "ClickHouse"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@dataclasses.dataclass(frozen=True)
class SchemaRow:
    schema_id: str = ""
    name: str = ""
    description: str = ""
    version: int = 0
    field_count: int = 0
    engines: list[str] = dataclasses.field(default_factory=list)
    updated: str = ""


@dataclasses.dataclass(frozen=True)
class ChangeRow:
    text: str = ""
    breaking: bool = False


@dataclasses.dataclass(frozen=True)
class ChangePreview:
    """What registering the staged files over an existing table would do (``SchemaRegistry.diff``)."""

    verdict: str = ""
    tone: str = "gray"   # the callout's color: green compatible, red breaking, gray unchanged
    changes: list[ChangeRow] = dataclasses.field(default_factory=list)


def change_preview(diff: SchemaDiff) -> ChangePreview:
    if diff.unchanged:
        return ChangePreview(f"No changes: version {diff.current_version} already has this content.")
    breaking = set(diff.comparison.breaking)
    changes = [ChangeRow(change, change in breaking) for change in diff.comparison.changes]
    if breaking:
        return ChangePreview(f"Breaking: {len(breaking)} change(s) against version {diff.current_version}; "
                             "registering would be refused.", "red", changes)
    added = f" New columns: {', '.join(diff.columns_added)}." if diff.columns_added else ""
    return ChangePreview(f"Compatible: registering makes version {diff.next_version}.{added}", "green",
                         changes or [ChangeRow("No field changes (comments, options or layout differ).")])


def schema_row(summary: SchemaPublic) -> SchemaRow:
    return SchemaRow(
        schema_id=summary.schema_id, name=f"{summary.database_name}.{summary.table_name}",
        description=summary.description, version=summary.version, field_count=summary.field_count,
        engines=[ENGINE_LABELS.get(t.engine, t.engine) for t in summary.tables],
        updated=local_time(summary.updated_at),
    )


def upload_name(file: rx.UploadFile) -> str:
    """The name imports refer to: the relative path when a folder was dropped, else the file name."""
    if file.path is not None:
        return file.path.as_posix().lstrip("./") or "schema.proto"
    return file.name or "schema.proto"


def default_table_name(message: str) -> str:
    return _CAMEL.sub("_", message.rsplit(".", 1)[-1]).lower()


async def read_uploads(files: list[rx.UploadFile]) -> list[ProtoFile]:
    out = []
    for file in files:
        limit = app_core().settings.max_proto_bytes
        content = await file.read(limit + 1)
        if len(content) > limit:
            raise ValueError(f"{upload_name(file)} is over {human_bytes(limit)}")
        out.append(ProtoFile(upload_name(file), content))
    return out


class SchemasState(AuthState):
    """Registered schemas and the Register form."""

    schemas: list[SchemaRow] = []
    load_error: str = ""

    table_name: str = ""
    database_name: str = DEFAULT_DATABASE
    message_type: str = ""
    description: str = ""
    shard_key: str = ""
    main_label: str = ""
    import_labels: list[str] = []
    message_choices: list[str] = []
    registering: bool = False
    checking: bool = False
    preview: ChangePreview = ChangePreview()
    error_title: str = ""
    error_detail: list[str] = []
    _main: ProtoFile | None = None
    _imports: list[ProtoFile] = []

    @rx.var
    def can_register(self) -> bool:
        return self.main_label != "" and self.table_name.strip() != "" and not self.registering

    @rx.var
    def existing_schema_id(self) -> str:
        """The schema already registered as the form's database.table: registering would make a new version."""
        name = f"{self.database_name or DEFAULT_DATABASE}.{self.table_name}"
        return next((row.schema_id for row in self.schemas if row.name == name), "")

    @rx.event
    async def load(self) -> None:
        try:
            # Only schemas in datasets the caller can read. Who the caller is, is asked in the worker thread too:
            # with auth on that reads the user's role from SQLite.
            summaries = await asyncio.to_thread(acting, self._credentials(), app_core().schemas.summaries)
            self.schemas, self.load_error = [schema_row(s) for s in summaries], ""
        except BqliteError as exc:
            self.load_error = exc.detail

    @rx.event
    def set_table_name(self, value: str) -> None:
        self.table_name = value.strip()
        self.preview = ChangePreview()

    @rx.event
    def set_database_name(self, value: str) -> None:
        self.database_name = value.strip()
        self.preview = ChangePreview()

    @rx.event
    def set_message_type(self, value: str) -> None:
        self.message_type = value.strip()
        self.preview = ChangePreview()

    @rx.event
    def set_description(self, value: str) -> None:
        self.description = value

    @rx.event
    def set_shard_key(self, value: str) -> None:
        self.shard_key = value.strip()

    @rx.event
    def choose_message(self, name: str) -> None:
        self.message_type = name
        if not self.table_name:
            self.table_name = default_table_name(name)

    @rx.event
    async def stage_main(self, files: list[rx.UploadFile]):
        try:
            staged = await read_uploads(files[:1])
        except ValueError as exc:
            self.error_title, self.error_detail = "File too large", [str(exc)]
            return
        if not staged:
            return
        self._main, self.preview = staged[0], ChangePreview()
        self.main_label = f"{staged[0].name} ({human_bytes(len(staged[0].content))})"
        self.error_title, self.error_detail = "", []
        await self._suggest_messages()

    @rx.event
    async def stage_imports(self, files: list[rx.UploadFile]):
        try:
            staged = await read_uploads(files)
        except ValueError as exc:
            self.error_title, self.error_detail = "File too large", [str(exc)]
            return
        by_name = {f.name: f for f in self._imports}
        by_name.update({f.name: f for f in staged})
        self._imports, self.preview = list(by_name.values()), ChangePreview()
        self.import_labels = [f"{f.name} ({human_bytes(len(f.content))})" for f in self._imports]
        await self._suggest_messages()

    @rx.event
    def clear_files(self) -> None:
        self._main, self._imports, self.preview = None, [], ChangePreview()
        self.main_label, self.import_labels, self.message_choices = "", [], []

    async def _suggest_messages(self) -> None:
        """List the main file's messages once it compiles; compile errors wait for Register to be shown."""
        if self._main is None:
            return
        main, imports = self._main, self._imports
        try:
            compiled = await asyncio.to_thread(compile_schema, main, imports)
        except BqliteError:
            self.message_choices = []
            return
        self.message_choices = compiled.message_names()
        if len(self.message_choices) == 1 and not self.message_type:
            self.choose_message(self.message_choices[0])

    @rx.event
    async def check_changes(self):
        """Preview a re-registration of the existing table: every change, and whether it would break."""
        if self._main is None or not self.existing_schema_id:
            return
        self.checking, self.error_title, self.error_detail = True, "", []
        yield
        main, schema_id, message = self._main, self.existing_schema_id, self.message_type or None
        imports = self._imports
        try:
            diff = await asyncio.to_thread(acting, self._credentials(), app_core().schemas.diff, schema_id, main,
                                           imports, message_type=message)
            self.preview = change_preview(diff)
        except BqliteError as exc:
            self.error_title, self.error_detail = error_lines(exc)
        finally:
            self.checking = False

    @rx.event
    async def register(self):
        if self._main is None:
            self.error_title, self.error_detail = "Choose a .proto file", ["The main .proto file is missing."]
            return
        self.registering = True
        self.error_title, self.error_detail = "", []
        yield
        main = self._main
        options = {"table_name": self.table_name, "database_name": self.database_name or DEFAULT_DATABASE,
                   "description": self.description.strip(), "message_type": self.message_type or None,
                   "shard_key": self.shard_key or None}
        imports = self._imports
        try:
            registration = await asyncio.to_thread(acting, self._credentials(), app_core().schemas.register, main,
                                                   imports, **options)
        except BqliteError as exc:
            self.error_title, self.error_detail = error_lines(exc)
            return
        finally:
            self.registering = False
        record, version = registration.record, registration.version
        name = f"{record.database_name}.{record.table_name}"
        message = (f"Registered {name} version {version.version} ({registration.field_count} fields)"
                   if registration.new_version else f"{name} is unchanged: version {version.version} has this content")
        self.clear_files()
        self.table_name, self.message_type, self.description, self.shard_key = "", "", "", ""
        yield rx.toast.success(message)
        yield rx.redirect(f"/schemas/{record.schema_id}")
