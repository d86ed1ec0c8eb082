"""What the "Load data" dialog runs on a worker thread (``asyncio.to_thread``): the spooled files, the datasets a
user may load into, the preview, the load job's submission and its state. Each call reaches the core and may block
(disk, SQLite, an engine), so none of it runs on the event loop.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from pathlib import Path

from bqlite_app.access.principal import Principal, role_at_least
from bqlite_app.bigquery.schema import columns_to_fields
from bqlite_app.core import app_core
from bqlite_app.datasets import SAMPLE_DATASET, engine_database, is_reserved, refuse_reserved
from bqlite_app.jobs.jsonify import column_values
from bqlite_app.jobs.models import Job, JobPublic
from bqlite_app.loads.spec import validate
from bqlite_app.state.catalog import quote_name
from bqlite_app.state.load_form import LoadForm, PreviewData, flatten_fields
from bqlite_app.state.results import grid_cells

SPOOL_DIR = "ui-loads"
# A spooled file nobody loaded (the tab was closed) is removed by the next upload after this long.
STALE_SPOOL_S = 24 * 3600
PREVIEW_ROWS = 5


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
    """Create the dataset when it is new, then queue the load of a hard link of the spooled file (the service
    deletes what it is given, so the tab keeps its own copy for a retry)."""
    validate(form.spec())   # a bad table name is refused before a new dataset is made for it
    ensure_dataset(form.dataset, user=user)
    source = spool.with_name(f"{uuid.uuid4().hex}.source")
    try:
        os.link(spool, source)
    except OSError:  # a file system without hard links
        shutil.copyfile(spool, source)
    return app_core().loads.submit(form.spec(), source, user=user, source_name=form.file_name)


def describe_job(job_id: str, *, user: Principal) -> JobPublic:
    queries = app_core().queries
    return queries.describe(queries.get(job_id, user=user))


def query_sql(engine: str, dataset: str, table: str) -> str:
    """``SELECT *`` of the loaded table, as the workspace tab it opens shows it."""
    database = engine_database(engine, dataset)
    return f"SELECT *\nFROM {quote_name(engine, database)}.{quote_name(engine, table)}\nLIMIT 100"
