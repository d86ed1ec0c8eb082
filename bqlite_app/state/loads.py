"""The workspace's "Load data" dialog: a CSV, JSON lines, Parquet or Avro file into a table, as a load job.

The file is streamed to ``data_dir/ui-loads`` as soon as it is chosen (a background upload event), under a name we
generate; the client's file name is only shown and used to guess the format, never a path. The inferred schema and
the first rows come from ``app_core().loads.preview`` (it reads the start of the file and touches no engine). Load hands
the service a hard link of the spooled file (the service owns and deletes what it is given, even when it refuses),
so a refused load (a bad name, access denied) can be fixed and tried again without uploading again. The job is then
followed like the workspace follows a query: status, progress and elapsed time, until it has finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import reflex as rx

from bqlite_app.access.principal import Principal, role_at_least
from bqlite_app.bigquery.schema import columns_to_fields
from bqlite_app.core import app_core
from bqlite_app.datasets import SAMPLE_DATASET, engine_database, is_reserved, refuse_reserved
from bqlite_app.errors import BqliteError
from bqlite_app.humanize import human_bytes, human_count, human_duration_ms
from bqlite_app.jobs.jsonify import column_values
from bqlite_app.jobs.models import Job, JobStatus
from bqlite_app.loads.spec import LoadSpec, validate
from bqlite_app.state.auth import AuthState, acting, authenticate
from bqlite_app.state.catalog import CatalogState, quote_name
from bqlite_app.state.display import error_lines, seconds_between
from bqlite_app.state.results import grid_cells
from bqlite_app.state.status import StatusState
from bqlite_app.state.uploads import spool_upload
from bqlite_app.state.workspace import ENGINES, WorkspaceState

UPLOAD_ID = "load_data_file"
SPOOL_DIR = "ui-loads"
# A spooled file nobody loaded (the tab was closed) is removed by the next upload after this long.
STALE_SPOOL_S = 24 * 3600
PREVIEW_ROWS = 5
POLL_S = 0.25
FORMATS: list[tuple[str, str]] = [("CSV", "CSV"), ("NEWLINE_DELIMITED_JSON", "JSON lines"), ("PARQUET", "Parquet"),
                                  ("AVRO", "Avro")]
DISPOSITIONS: list[tuple[str, str]] = [("WRITE_APPEND", "Append to the table"),
                                       ("WRITE_TRUNCATE", "Replace the table"),
                                       ("WRITE_EMPTY", "Only if the table is empty")]
HEADERS: list[tuple[str, str]] = [("auto", "Detect a header row"), ("yes", "First row is a header"),
                                  ("no", "No header row")]
_SKIP_ROWS = {"auto": None, "yes": 1, "no": 0}
NEW_DATASET = "__new__"
_EXTENSIONS = {".csv": "CSV", ".json": "NEWLINE_DELIMITED_JSON", ".jsonl": "NEWLINE_DELIMITED_JSON",
               ".ndjson": "NEWLINE_DELIMITED_JSON", ".parquet": "PARQUET", ".pq": "PARQUET", ".avro": "AVRO"}
_SHOWN_NAME = re.compile(r"[^\w .@+()-]")


# -- rows the dialog shows ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SchemaRow:
    name: str = ""          # dotted for fields nested in a RECORD
    type: str = ""
    mode: str = ""
    depth: int = 0


@dataclasses.dataclass(frozen=True)
class PreviewData:
    fields: list[SchemaRow]
    headers: list[str]
    rows: list[list[str]]
    note: str


@dataclasses.dataclass(frozen=True)
class LoadForm:
    """What the dialog asks for, read under the state's lock and handed to a worker thread."""

    source_format: str
    engine: str
    dataset: str
    table: str
    write_disposition: str
    csv_header: str
    file_name: str

    def spec(self, *, dataset: str | None = None, table: str | None = None) -> LoadSpec:
        return LoadSpec(
            dataset=self.dataset if dataset is None else dataset, table=self.table if table is None else table,
            engine=self.engine, source_format=self.source_format,  # type: ignore[arg-type]  (validated by the spec)
            autodetect=True, write_disposition=self.write_disposition,  # type: ignore[arg-type]
            skip_leading_rows=_SKIP_ROWS.get(self.csv_header) if self.source_format == "CSV" else None,
        )


# -- worker-thread helpers --------------------------------------------------------------------------------------


def guess_format(file_name: str) -> str | None:
    return _EXTENSIONS.get(Path(file_name).suffix.lower())


def shown_name(file_name: str) -> str:
    """The client's file name as text to show (never a path): its last segment, odd characters replaced."""
    base = file_name.replace("\\", "/").rsplit("/", 1)[-1]
    return _SHOWN_NAME.sub("_", base)[:120] or "upload"


def spool_dir() -> Path:
    return app_core().settings.data_dir / SPOOL_DIR


def sweep_spools(folder: Path, older_than_s: float = STALE_SPOOL_S) -> None:
    """Remove files left by tabs that were closed before loading them."""
    cutoff = time.time() - older_than_s
    for path in folder.glob("*.upload"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()


def remove_spool(path: str) -> None:
    if path:
        with contextlib.suppress(OSError):
            Path(path).unlink(missing_ok=True)


def writable_datasets(*, user: Principal) -> list[str]:
    """The datasets ``user`` may load into (``writer`` or better, never a reserved one such as the sample): the
    engines' databases and the granted ones. An unavailable engine adds none; the other one's are still offered."""
    core = app_core()
    names = core.datasets.names(tolerant=True) | {row["dataset"] for row in core.grants.grants_of(user)}
    return sorted(n for n in names if not is_reserved(n) and role_at_least(core.grants.role_on(user, n), "writer"))


def ensure_dataset(dataset: str, *, user: Principal) -> bool:
    """Create ``dataset`` on every engine when it does not exist yet (``app_core().datasets``: admins only, the creator
    owns it, audited). True when it was created."""
    refuse_reserved(dataset)
    if app_core().grants.dataset_exists(dataset):
        return False    # granted, awaiting its first table: the load creates the database, no admin needed
    return app_core().datasets.create(dataset, user=user, exist_ok=True, detail={"via": "load dialog"})


def flatten_fields(fields: list[dict[str, Any]], prefix: str = "", depth: int = 0) -> list[SchemaRow]:
    rows: list[SchemaRow] = []
    for field in fields:
        name = f"{prefix}{field['name']}"
        rows.append(SchemaRow(name=name, type=str(field.get("type", "")), mode=str(field.get("mode", "NULLABLE")),
                              depth=depth))
        rows.extend(flatten_fields(field.get("fields") or [], f"{name}.", depth + 1))
    return rows


def preview_file(spool: Path, form: LoadForm) -> PreviewData:
    """The schema a load would use (in BigQuery's type names, as the loads speak BigQuery's load options) and its
    first rows. The destination is not looked at: placeholder names."""
    inferred = app_core().loads.preview(spool, form.spec(dataset=SAMPLE_DATASET, table="preview"), rows=PREVIEW_ROWS)
    fields = flatten_fields(columns_to_fields(inferred.columns))
    sample = inferred.sample
    cells = [grid_cells(column_values(column), numeric=False) for column in sample.columns]
    rows = [list(row) for row in zip(*cells, strict=True)] if cells else []
    notes = []
    if form.source_format == "CSV":
        notes.append("The first row is read as the header." if inferred.skip_leading_rows else
                     "There is no header row: columns are named by their type and position.")
    if inferred.bad_records:
        first = inferred.bad_records[0]
        notes.append(f"{len(inferred.bad_records)} of the first rows do not fit this schema "
                     f"({first.location}: {first.message}); the load would fail on them.")
    return PreviewData(fields=fields, headers=list(sample.column_names), rows=rows, note=" ".join(notes))


def submit_load(spool: Path, form: LoadForm, *, user: Principal) -> Job:
    """Create the dataset when it is new, then queue the load of a hard link of the spooled file."""
    validate(form.spec())   # a bad table name is refused before a new dataset is made for it
    ensure_dataset(form.dataset, user=user)
    source = spool.with_name(f"{uuid.uuid4().hex}.source")
    try:
        os.link(spool, source)
    except OSError:  # a file system without hard links
        shutil.copyfile(spool, source)
    return app_core().loads.submit(form.spec(), source, user=user, source_name=form.file_name)


def describe_job(job_id: str, *, user: Principal) -> dict[str, Any]:
    return app_core().queries.describe(app_core().queries.get(job_id, user=user))


def query_sql(engine: str, dataset: str, table: str) -> str:
    database = engine_database(engine, dataset)
    return f"SELECT *\nFROM {quote_name(engine, database)}.{quote_name(engine, table)}\nLIMIT 100"


# -- the state ---------------------------------------------------------------------------------------------------


class LoadState(AuthState):
    """One browser tab's Load data dialog."""

    open: bool = False
    datasets: list[str] = []

    # The form.
    source_format: str = "CSV"
    engine: str = ENGINES[0]
    dataset_choice: str = NEW_DATASET   # the sample is no load target; an existing dataset is chosen on opening
    new_dataset: str = ""
    table: str = ""
    write_disposition: str = "WRITE_APPEND"
    csv_header: str = "auto"

    # The file: uploaded as soon as it is chosen.
    file_name: str = ""
    file_label: str = ""
    uploading: bool = False
    upload_percent: int = 0

    # The preview.
    previewing: bool = False
    preview_ok: bool = False
    schema_rows: list[SchemaRow] = []
    sample_headers: list[str] = []
    sample_rows: list[list[str]] = []
    preview_note: str = ""

    # Errors (bad file, bad names, access denied): a title and the detail line by line.
    error_title: str = ""
    error_detail: list[str] = []

    # The load job.
    submitting: bool = False
    job_id: str = ""
    job_status: str = ""
    job_percent: int = -1
    job_elapsed: str = ""
    job_summary: str = ""
    loaded_dataset: str = ""
    loaded_table: str = ""
    loaded_engine: str = ""

    _spool: str = ""
    _preview_seq: int = 0
    _file_seq: int = 0      # bumped whenever the chosen file is forgotten: a late upload is then dropped

    # -- derived ---------------------------------------------------------------------------------------------

    @rx.var
    def dataset(self) -> str:
        return self.new_dataset.strip() if self.dataset_choice == NEW_DATASET else self.dataset_choice

    @rx.var
    def is_csv(self) -> bool:
        return self.source_format == "CSV"

    @rx.var
    def has_file(self) -> bool:
        return self.file_label != ""

    @rx.var
    def loading(self) -> bool:
        return self.submitting or self.job_status in (JobStatus.QUEUED.value, JobStatus.RUNNING.value)

    @rx.var
    def done(self) -> bool:
        return self.job_status == JobStatus.COMPLETED.value

    @rx.var
    def can_load(self) -> bool:
        busy = self.uploading or self.previewing or self.submitting or self.job_status in (
            JobStatus.QUEUED.value, JobStatus.RUNNING.value)
        return self.preview_ok and not busy and self.table.strip() != "" and (
            self.new_dataset.strip() if self.dataset_choice == NEW_DATASET else self.dataset_choice) != ""

    @rx.var
    def job_phase(self) -> str:
        return {"": "", "submitting": "Submitting…", "queued": "Waiting for a slot…", "running": "Loading…",
                "completed": "Loaded", "failed": "Failed", "cancelled": "Cancelled"}.get(self.job_status,
                                                                                        self.job_status)

    @rx.var
    def dataset_items(self) -> list[list[str]]:
        return [*([d, d] for d in self.datasets), [NEW_DATASET, "New dataset…"]]

    # -- helpers ---------------------------------------------------------------------------------------------

    def _form(self) -> LoadForm:
        return LoadForm(source_format=self.source_format, engine=self.engine, dataset=self.dataset,
                        table=self.table.strip(), write_disposition=self.write_disposition,
                        csv_header=self.csv_header, file_name=self.file_name)

    def _set_error(self, exc: BaseException) -> None:
        if isinstance(exc, BqliteError):
            self.error_title, self.error_detail = error_lines(exc)
        elif isinstance(exc, ValueError):
            self.error_title, self.error_detail = "Upload refused", [str(exc)]
        else:  # not ours: pyarrow on a file that is not what it claims to be, an engine hiccup
            self.error_title = "The file could not be read"
            self.error_detail = [f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:500]]

    def _clear_error(self) -> None:
        self.error_title, self.error_detail = "", []

    def _clear_preview(self) -> None:
        self.preview_ok, self.schema_rows, self.sample_headers, self.sample_rows = False, [], [], []
        self.preview_note = ""

    def _clear_job(self) -> None:
        self.job_id = self.job_status = self.job_elapsed = self.job_summary = ""
        self.job_percent = -1
        self.loaded_dataset = self.loaded_table = self.loaded_engine = ""

    def _forget_file(self) -> None:
        remove_spool(self._spool)
        self._spool, self.file_name, self.file_label = "", "", ""
        self._file_seq += 1
        self._preview_seq += 1
        self._clear_preview()

    def _reset(self) -> None:
        self._forget_file()
        self._clear_error()
        self._clear_job()
        self.table, self.new_dataset, self.write_disposition, self.csv_header = "", "", "WRITE_APPEND", "auto"
        self.uploading, self.upload_percent = False, 0

    def _apply_job(self, info: dict[str, Any]) -> None:
        status = info["status"]
        self.job_status = status
        progress = info.get("progress")
        self.job_percent = round(100 * float(progress)) if progress is not None and status == "running" else (
            100 if status == "completed" else -1)
        if status == "queued":
            self.job_elapsed = human_duration_ms(1000 * (seconds_between(info["created_at"], None) or 0))
        elif status == "running":
            self.job_elapsed = human_duration_ms(1000 * (seconds_between(info["started_at"], None) or 0))
        else:
            self.job_elapsed = human_duration_ms(info.get("execution_time_ms"))
        if status == "completed":
            rows = info.get("rows_returned") or 0
            self.job_summary = (f"Loaded {human_count(rows)} row{'s' if rows != 1 else ''} into "
                                f"{self.loaded_dataset}.{self.loaded_table} ({self.loaded_engine}) "
                                f"in {self.job_elapsed}.")
        elif status == "failed":
            self.error_title = "The load failed"
            self.error_detail = [line for line in str(info.get("error") or "").splitlines() if line.strip()] or [
                "The job failed without a message."]
        elif status == "cancelled":
            self.error_title, self.error_detail = "The load was cancelled", ["Nothing was written."]

    # -- opening and the form --------------------------------------------------------------------------------

    @rx.event(background=True)
    async def open_dialog(self):
        async with self:
            self.open = True
            if not self.loading and self.job_status:
                self._reset()  # a finished load: start afresh
            credentials = self._credentials()
        try:
            datasets = await asyncio.to_thread(acting, credentials, writable_datasets)
        except BqliteError as exc:
            async with self:
                self._set_error(exc)
            return
        async with self:
            self.datasets = datasets
            if self.dataset_choice != NEW_DATASET and self.dataset_choice not in datasets:
                self.dataset_choice = datasets[0] if datasets else NEW_DATASET

    @rx.event
    def set_open(self, value: bool) -> None:
        self.open = bool(value)
        if not self.open and not self.loading:
            self._reset()

    @rx.event
    def set_engine(self, value: str) -> None:
        if value in ENGINES:
            self.engine = value

    @rx.event
    def set_dataset_choice(self, value: str) -> None:
        if value == NEW_DATASET or value in self.datasets:
            self.dataset_choice = value

    @rx.event
    def set_new_dataset(self, value: str) -> None:
        self.new_dataset = value[:1024]

    @rx.event
    def set_table(self, value: str) -> None:
        self.table = value[:1024]

    @rx.event
    def set_write_disposition(self, value: str) -> None:
        if value in dict(DISPOSITIONS):
            self.write_disposition = value

    @rx.event
    def set_source_format(self, value: str):
        if value in dict(FORMATS) and value != self.source_format:
            self.source_format = value
            return LoadState.run_preview if self._spool else None
        return None

    @rx.event
    def set_csv_header(self, value: str):
        if value in _SKIP_ROWS and value != self.csv_header:
            self.csv_header = value
            return LoadState.run_preview if self._spool else None
        return None

    # -- the file --------------------------------------------------------------------------------------------

    @rx.event
    def upload_progress(self, progress: dict[str, Any]) -> None:
        if self.uploading:
            self.upload_percent = round(100 * float(progress.get("progress") or 0))

    @rx.event
    def file_refused(self, rejected: list[dict[str, Any]]) -> None:
        """react-dropzone refused the file before sending it (over the size limit)."""
        self._clear_error()
        self.error_title = "Upload refused"
        messages = []
        for item in rejected[:3]:
            errors = item.get("errors") or []
            text = "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict)) or "not accepted"
            messages.append(f"{shown_name(str((item.get('file') or {}).get('path') or 'file'))}: {text}")
        self.error_detail = messages or ["The file was not accepted."]

    @rx.event(background=True)
    async def receive_file(self, chunks: rx.UploadChunkIterator):
        """Spool the chosen file, guess its format from its name, then preview it."""
        async with self:
            busy = self.uploading or self.loading
            if not busy:
                self._forget_file()
                self._clear_error()
                self._clear_job()
                self.uploading, self.upload_percent = True, 0
            seq = self._file_seq
        if busy:  # one file at a time; the upload must still be read to its end
            async for _ in chunks:
                pass
            return
        folder = spool_dir()
        spool = folder / f"{uuid.uuid4().hex}.upload"
        kept = False
        try:
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(sweep_spools, folder)
            size, name = await spool_upload(chunks, spool)
            async with self:
                if seq != self._file_seq:  # the dialog was closed or reset meanwhile
                    return
                self._spool, kept = str(spool), True
                self.file_name = shown_name(name)
                self.file_label = f"{self.file_name} · {human_bytes(size)}"
                guessed = guess_format(self.file_name)
                if guessed:
                    self.source_format = guessed
                if not self.table:
                    stem = re.sub(r"[^A-Za-z0-9_]", "_", Path(self.file_name).stem)[:100].strip("_")
                    self.table = stem if stem and not stem[0].isdigit() else f"t_{stem}" if stem else ""
        except Exception as exc:
            async with self:
                self._set_error(exc)
        finally:
            if not kept:
                remove_spool(str(spool))
            async with self:
                self.uploading = False
        # Forget the chosen file in the <input>, so the same file can be chosen again.
        yield rx.call_script(f"document.querySelectorAll('#{UPLOAD_ID} input[type=file]')"
                             ".forEach((input) => {{ input.value = ''; }})")
        if kept:
            yield LoadState.run_preview

    @rx.event(background=True)
    async def run_preview(self):
        async with self:
            if not self._spool:
                return
            self._preview_seq += 1
            seq, spool, form = self._preview_seq, Path(self._spool), self._form()
            self.previewing = True
            self._clear_preview()
            self._clear_error()
        try:
            data = await asyncio.to_thread(preview_file, spool, form)
        except Exception as exc:
            async with self:
                if seq == self._preview_seq:
                    self._set_error(exc)
                    self.error_title = f"The file could not be read as {dict(FORMATS)[form.source_format]}"
                    self.previewing = False
            return
        async with self:
            if seq != self._preview_seq:  # another file or format was chosen meanwhile
                return
            self.previewing, self.preview_ok = False, True
            self.schema_rows, self.sample_headers, self.sample_rows = data.fields, data.headers, data.rows
            self.preview_note = data.note

    # -- the load ----------------------------------------------------------------------------------------------

    @rx.event(background=True)
    async def start_load(self):
        async with self:
            if not self.can_load or not self._spool:
                return
            form, spool = self._form(), Path(self._spool)
            credentials = self._credentials()
            self._clear_error()
            self._clear_job()
            self.submitting, self.job_status = True, "submitting"
        job: Job | None = None
        try:
            job = await asyncio.to_thread(acting, credentials, submit_load, spool, form)
        except Exception as exc:  # refused before a job exists: bad names, access denied, a full table
            async with self:
                self._set_error(exc)
                self.job_status = ""
        finally:
            async with self:
                self.submitting = False
        if job is None:
            return
        async with self:
            self.job_id, self.job_status = job.job_id, "queued"
            self.loaded_dataset, self.loaded_table, self.loaded_engine = form.dataset, form.table, form.engine
            if self._spool == str(spool):  # the job has its own link now; this tab's copy is not needed
                remove_spool(self._spool)
                self._spool = ""
        yield StatusState.refresh
        async for event in self._follow(job.job_id, credentials):
            yield event

    async def _follow(self, job_id: str, credentials: tuple[str, str | None]):
        """Poll the load job until it has finished; then refresh the explorer so the table shows."""
        while True:
            try:
                user = await asyncio.to_thread(authenticate, *credentials)
                info = await asyncio.to_thread(describe_job, job_id, user=user)
            except Exception as exc:
                async with self:
                    if self.job_id == job_id:
                        self._set_error(exc)
                        self.job_status = "failed"
                return
            async with self:
                if self.job_id != job_id:  # the dialog was reset meanwhile
                    return
                self._apply_job(info)
            if info["status"] not in (JobStatus.QUEUED.value, JobStatus.RUNNING.value):
                break
            try:
                await app_core().queries.wait_async(job_id, POLL_S, user=user)
            except BqliteError:
                pass  # the next round reads the job again and says what happened
        yield StatusState.refresh
        if info["status"] == JobStatus.COMPLETED.value:
            yield CatalogState.load

    @rx.event(background=True)
    async def cancel_load(self):
        async with self:
            job_id, active = self.job_id, self.job_status in (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
            credentials = self._credentials()
        if job_id and active:
            with contextlib.suppress(BqliteError):  # it finished meanwhile: the follower shows how
                await asyncio.to_thread(acting, credentials, app_core().queries.cancel, job_id)

    @rx.event
    def load_another(self):
        self._reset()
        return LoadState.open_dialog   # the dataset just created is offered now

    @rx.event
    def query_table(self):
        """Open ``SELECT * FROM dataset.table LIMIT 100`` in a new workspace tab and close the dialog."""
        if not self.done:
            return None
        engine, dataset, table = self.loaded_engine, self.loaded_dataset, self.loaded_table
        self.open = False
        self._reset()
        return WorkspaceState.load_example(f"{dataset}.{table}", query_sql(engine, dataset, table), engine)
