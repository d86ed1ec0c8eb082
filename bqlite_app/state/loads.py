"""The workspace's "Load data" dialog: a CSV, JSON lines, Parquet or Avro file into a table, as a load job.

The file is streamed to ``data_dir/ui-loads`` as soon as it is chosen (a background upload event), under a name we
generate; the client's file name is only shown and used to guess the format, never a path. The inferred schema and
the first rows come from ``app_core().loads.preview`` (it reads the start of the file and touches no engine). Load hands
the service a hard link of the spooled file (the service owns and deletes what it is given, even when it refuses),
so a refused load (a bad name, access denied) can be fixed and tried again without uploading again. The job is then
followed like the workspace follows a query: status, progress and elapsed time, until it has finished.

The form's options and the pure helpers are ``state/load_form.py``, what runs on a worker thread
``state/load_work.py``, and following the job ``state/load_job.py`` (``LoadJobMixin``).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import reflex as rx

from bqlite_app.errors import BqliteError
from bqlite_app.humanize import human_bytes
from bqlite_app.jobs.models import Job
from bqlite_app.state import load_work
from bqlite_app.state.auth import AuthState, acting
from bqlite_app.state.load_form import (
    DISPOSITIONS,
    FORMATS,
    NEW_DATASET,
    SKIP_ROWS,
    UPLOAD_ID,
    LoadForm,
    SchemaRow,
    guess_format,
    refusal_lines,
    shown_name,
    table_name_for,
)
from bqlite_app.state.load_job import LoadJobMixin
from bqlite_app.state.results import ACTIVE
from bqlite_app.state.status import StatusState
from bqlite_app.state.uploads import spool_upload
from bqlite_app.state.workspace import ENGINES, WorkspaceState


class LoadState(LoadJobMixin, AuthState):
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
    def can_load(self) -> bool:
        busy = self.uploading or self.previewing or self.submitting or self.job_status in ACTIVE
        return self.preview_ok and not busy and self.table.strip() != "" and (
            self.new_dataset.strip() if self.dataset_choice == NEW_DATASET else self.dataset_choice) != ""

    @rx.var
    def dataset_items(self) -> list[list[str]]:
        return [*([d, d] for d in self.datasets), [NEW_DATASET, "New dataset…"]]

    # -- helpers ---------------------------------------------------------------------------------------------

    def _form(self) -> LoadForm:
        return LoadForm(source_format=self.source_format, engine=self.engine, dataset=self.dataset,
                        table=self.table.strip(), write_disposition=self.write_disposition,
                        csv_header=self.csv_header, file_name=self.file_name)

    def _clear_preview(self) -> None:
        self.preview_ok, self.schema_rows, self.sample_headers, self.sample_rows = False, [], [], []
        self.preview_note = ""

    def _forget_file(self) -> None:
        load_work.remove_spool(self._spool)
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

    # -- opening and the form --------------------------------------------------------------------------------

    @rx.event(background=True)
    async def open_dialog(self):
        async with self:
            self.open = True
            if not self.loading and self.job_status:
                self._reset()  # a finished load: start afresh
            credentials = self._credentials()
        try:
            datasets = await asyncio.to_thread(acting, credentials, load_work.writable_datasets)
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
        if value in SKIP_ROWS and value != self.csv_header:
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
        self.error_title, self.error_detail = "Upload refused", refusal_lines(rejected)

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
        folder = load_work.spool_dir()
        spool = folder / f"{uuid.uuid4().hex}.upload"
        kept = False
        try:
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(load_work.sweep_spools, folder)
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
                    self.table = table_name_for(self.file_name)
        except Exception as exc:
            async with self:
                self._set_error(exc)
        finally:
            if not kept:
                load_work.remove_spool(str(spool))
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
            data = await asyncio.to_thread(load_work.preview_file, spool, form)
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
            job = await asyncio.to_thread(acting, credentials, load_work.submit_load, spool, form)
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
                load_work.remove_spool(self._spool)
                self._spool = ""
        yield StatusState.refresh
        async for event in self._follow(job.job_id, credentials):
            yield event

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
        return WorkspaceState.load_example(f"{dataset}.{table}", load_work.query_sql(engine, dataset, table), engine)
