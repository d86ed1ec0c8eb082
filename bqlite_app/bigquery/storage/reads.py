"""Read sessions and their streams, without gRPC: what the Storage Read API reads, for whom, and in which pieces.

Every session reads a stored Arrow result of the core's ResultStore, so a session is a consistent snapshot and any
row of it can be found again (ReadRows resumes at an offset, SplitReadStream cuts a stream in two):
- an anonymous query result (``datasets/_query_results/tables/{job_id}``) is the job's own result, for its owner;
- an ordinary table is first read by a job of the caller (``SELECT <fields> FROM <table> WHERE <restriction>``),
  so the scheduler's limits, the SQL sandbox, grants, history and audit apply as to any query.

A stream is a row range of the session's result; its name carries the range (``.../streams/{start}-{end}``), so a
split needs no state. Sessions are kept in memory for six hours, as BigQuery's are.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa

from bqlite_app.access.principal import Principal
from bqlite_app.bigquery.storage.arrow import bigquery_schema, conform
from bqlite_app.bigquery.storage.tables import check_names, find_columns, plan_read
from bqlite_app.datasets import engine_database
from bqlite_app.errors import BqliteError, ValidationFailed
from bqlite_app.jobs.models import Job, JobStatus
from bqlite_app.jobs.results import ResultStore
from bqlite_app.jobs.service import QuerySpec

if TYPE_CHECKING:
    from bqlite_app.core import Core

# BigQuery's dataset of anonymous query result tables (``bqlite_app.bigquery.resources.ANON_DATASET``).
ANON_DATASET = "_query_results"
LOCATION = "us"
SESSION_TTL_S = 6 * 3600
MAX_SESSIONS = 10_000
# Streams a session gets when the client leaves the count to the server: enough for the client's parallel reader,
# few enough that each stream's messages stay large. One stream per this many rows, at most MAX_STREAMS.
ROWS_PER_STREAM = 250_000
MAX_STREAMS = 4
# Serialized record batches stay below gRPC's default 4 MiB message limit, so a client channel built by hand
# (``grpc.insecure_channel``) reads every response without raising its limit.
MAX_MESSAGE_BYTES = 3 * 1024 * 1024
PAGE_ROWS = 65_536
READ_LABELS = {"bqlite-storage-read": "true"}

_PROJECT = r"[^/]{1,1024}"
_PARENT = re.compile(rf"projects/({_PROJECT})")
_TABLE = re.compile(rf"projects/({_PROJECT})/datasets/([^/]{{1,1024}})/tables/([^/]{{1,1024}})")
_STREAM = re.compile(
    rf"projects/{_PROJECT}/locations/[^/]{{1,64}}/sessions/([0-9a-f]{{24}})/streams/(\d{{1,19}})-(\d{{1,19}})")
_JOB_STREAM = re.compile(rf"projects/{_PROJECT}/locations/[^/]{{1,64}}/jobs/([A-Za-z0-9_-]{{1,1024}})/streams/_default")


class ReadNotFound(BqliteError):
    status, error_code = 404, "NOT_FOUND"


class ReadNotReady(BqliteError):
    """The job behind the table has not finished yet."""

    status, error_code = 409, "FAILED_PRECONDITION"


class ReadTimedOut(BqliteError):
    status, error_code = 504, "DEADLINE_EXCEEDED"


@dataclass(frozen=True)
class Session:
    name: str
    table: str
    job_id: str
    user_id: str
    schema: pa.Schema                   # what the client receives (BigQuery's Arrow types)
    columns: tuple[int, ...] | None     # indices into the stored result's columns; None: all of them
    rows: int
    stored_bytes: int
    ranges: tuple[tuple[int, int], ...]
    expires_at: float = field(compare=False)

    def stream_names(self) -> list[str]:
        return [f"{self.name}/streams/{start}-{end}" for start, end in self.ranges]


@dataclass(frozen=True)
class Stream:
    """A row range ``[start, end)`` of one stored result, and the Arrow it is sent as."""

    job_id: str
    schema: pa.Schema
    columns: tuple[int, ...] | None
    start: int
    end: int


class StorageReads:
    def __init__(self, core: Core) -> None:
        self._core = core
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    # -- sessions ------------------------------------------------------------------------------------------------

    def create_session(self, user: Principal, *, parent: str, table: str, selected_fields: list[str],
                       row_restriction: str, max_streams: int, timeout_s: float) -> Session:
        parent_match = _PARENT.fullmatch(parent)
        if parent_match is None:
            raise ValidationFailed(f"parent: expected projects/{{project}}, got {parent[:200]!r}")
        match = _TABLE.fullmatch(table)
        if match is None:
            raise ValidationFailed(
                f"read_session.table: expected projects/{{project}}/datasets/{{dataset}}/tables/{{table}}, "
                f"got {table[:200]!r}")
        if max_streams < 0:
            raise ValidationFailed("max_stream_count: must be >= 0")
        _, dataset, table_id = match.groups()
        check_names(dataset, table_id)
        if dataset == ANON_DATASET:
            if row_restriction.strip():
                raise ValidationFailed("row_restriction: not supported on query results; filter in the query")
            job = self._completed_job(user, table_id)
            columns = self._select(self._core_results().schema(job.job_id), selected_fields, table_id)
        else:
            job = self._read_table(user, dataset, table_id, selected_fields, row_restriction, timeout_s)
            columns = None
        return self._open(user, parent_match.group(1), table, job.job_id, columns, max_streams)

    def _open(self, user: Principal, project: str, table: str, job_id: str, columns: tuple[int, ...] | None,
              max_streams: int) -> Session:
        info = self._core_results().info(job_id)
        stored = info.schema if columns is None else pa.schema([info.schema.field(i) for i in columns])
        wanted = max(1, min(MAX_STREAMS, -(-info.rows // ROWS_PER_STREAM)))
        count = min(wanted, max_streams) if max_streams else wanted
        session_id = secrets.token_hex(12)
        session = Session(
            name=f"projects/{project}/locations/{LOCATION}/sessions/{session_id}", table=table, job_id=job_id,
            user_id=user.user_id, schema=bigquery_schema(stored), columns=columns, rows=info.rows,
            stored_bytes=info.bytes, ranges=_split_rows(info.rows, count) if info.rows else (),
            expires_at=time.time() + SESSION_TTL_S,
        )
        with self._lock:
            self._sessions[session_id] = session
            self._expire_locked()
        self._core.audit.record(user, "job.export", target=job_id,
                                detail={"format": "bigquery-storage-arrow", "table": table})
        return session

    def _completed_job(self, user: Principal, job_id: str) -> Job:
        job = self._core.queries.get(job_id, user=user)   # someone else's job is JobNotFound, as a missing one
        status = JobStatus(job.status)
        if status == JobStatus.COMPLETED:
            return job
        if status.finished:
            raise ReadNotFound(f"Job {job_id} {status.value}; it has no result table")
        raise ReadNotReady(f"Job {job_id} is {status.value}; its result table exists once it completes")

    def _select(self, stored: pa.Schema, selected: list[str], table: str) -> tuple[int, ...] | None:
        if not selected:
            return None
        names = stored.names
        indices = []
        for name in selected:
            if name not in names:
                raise ValidationFailed(f"selected_fields: no column {name[:100]!r} in table {table}"
                                       + (" (nested field paths are not supported)" if "." in name else ""))
            if names.count(name) > 1:
                raise ValidationFailed(f"selected_fields: the result has several columns named {name[:100]!r}")
            indices.append(names.index(name))
        if len(set(indices)) != len(indices):
            raise ValidationFailed("selected_fields: a column is named twice")
        return tuple(indices)

    def _read_table(self, user: Principal, dataset: str, table: str, selected: list[str], restriction: str,
                    timeout_s: float) -> Job:
        core = self._core
        core.grants.require(user, dataset, "reader", action="storage.read")
        engine_name, columns = self._locate(dataset, table)
        read = plan_read(engine_name, engine_database(engine_name, dataset), table, columns, selected, restriction)
        spec = QuerySpec(sql=read.sql, engine=engine_name, labels=dict(READ_LABELS))
        job = core.queries.submit(spec, user=user)
        job = core.queries.wait(job.job_id, timeout_s, user=user)
        status = JobStatus(job.status)
        if status == JobStatus.COMPLETED:
            return job
        if not status.finished:
            core.queries.cancel(job.job_id, user=user)
            raise ReadTimedOut(f"Reading table {dataset}.{table} did not finish in {timeout_s:.0f} s (job "
                               f"{job.job_id} was cancelled)")
        raise ValidationFailed(f"Reading table {dataset}.{table} failed (job {job.job_id}): {job.error}")

    def _locate(self, dataset: str, table: str) -> tuple[str, list[str]]:
        """The engine that holds the table: the BigQuery engine setting first, then the other one."""
        preferred = self._core.settings.bigquery_engine
        for name in [preferred, *sorted(set(self._core.engines) - {preferred})]:
            engine = self._core.engines.get(name)
            if engine is None:
                continue
            columns = find_columns(engine, engine_database(name, dataset), table)
            if columns is not None:
                return name, columns
        raise ReadNotFound(f"Not found: Table {dataset}.{table}")

    def _expire_locked(self) -> None:
        now = time.time()
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if oldest.expires_at > now and len(self._sessions) <= MAX_SESSIONS:
                break
            self._sessions.popitem(last=False)

    # -- streams -------------------------------------------------------------------------------------------------

    def stream(self, user: Principal, name: str) -> Stream:
        """The stream ``name`` names, for ``user`` (the session's creator, or the job's owner)."""
        job_match = _JOB_STREAM.fullmatch(name)
        if job_match is not None:
            # The job's default stream (google-cloud-bigquery's ARROW query results read the rest of a result here).
            job = self._completed_job(user, job_match.group(1))
            results = self._core_results()
            return Stream(job.job_id, bigquery_schema(results.schema(job.job_id)), None, 0,
                          results.info(job.job_id).rows)
        match = _STREAM.fullmatch(name)
        if match is None:
            raise ValidationFailed(f"read_stream: not a stream name: {name[:200]!r}")
        session_id, start, end = match.group(1), int(match.group(2)), int(match.group(3))
        session = self._session(user, session_id)
        if not 0 <= start <= end <= session.rows:
            raise ReadNotFound(f"Stream {name[:200]} not found")
        return Stream(session.job_id, session.schema, session.columns, start, end)

    def _session(self, user: Principal, session_id: str) -> Session:
        with self._lock:
            self._expire_locked()
            session = self._sessions.get(session_id)
        if session is None or session.user_id != user.user_id:
            raise ReadNotFound(f"Read session {session_id} not found (it expired, or was never created)")
        return session

    def split(self, user: Principal, name: str, fraction: float) -> tuple[str | None, str | None]:
        """SplitReadStream: (primary, remainder) names, or (None, None) when the stream cannot be split."""
        if not 0.0 <= fraction < 1.0:
            raise ValidationFailed("fraction: must be in [0, 1)")
        stream = self.stream(user, name)
        match = _STREAM.fullmatch(name)
        if match is None:
            return None, None
        cut = stream.start + int((stream.end - stream.start) * (fraction or 0.5))
        if not stream.start < cut < stream.end:
            return None, None
        base = name.rsplit("/", 1)[0]
        return f"{base}/{stream.start}-{cut}", f"{base}/{cut}-{stream.end}"

    def read(self, stream: Stream, offset: int) -> Iterator[pa.RecordBatch]:
        """The stream's rows from ``offset`` on, as BigQuery Arrow batches small enough for one message each."""
        if offset < 0 or stream.start + offset > stream.end:
            raise ValidationFailed(f"offset: {offset} is beyond the stream's {stream.end - stream.start} rows")
        results = self._core_results()
        position = stream.start + offset
        while position < stream.end:
            page = results.page(stream.job_id, position, min(PAGE_ROWS, stream.end - position))
            if page.num_rows == 0:
                raise ReadNotFound(f"The result of job {stream.job_id} changed while it was read")
            if stream.columns is not None:
                page = page.select(list(stream.columns))
            for batch in page.to_batches():
                yield from _pieces(conform(batch, stream.schema))
                position += batch.num_rows

    def _core_results(self) -> ResultStore:
        results = self._core.results
        if results is None:
            raise RuntimeError("the core has not been started")
        return results


def _split_rows(rows: int, count: int) -> tuple[tuple[int, int], ...]:
    bounds = [rows * i // count for i in range(count + 1)]
    return tuple((bounds[i], bounds[i + 1]) for i in range(count) if bounds[i] < bounds[i + 1])


def _pieces(batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
    """``batch`` cut so each piece serializes to at most about MAX_MESSAGE_BYTES (a single huge row stays whole)."""
    size = batch.nbytes
    if size <= MAX_MESSAGE_BYTES or batch.num_rows <= 1:
        yield batch
        return
    step = max(1, batch.num_rows * MAX_MESSAGE_BYTES // size)
    for start in range(0, batch.num_rows, step):
        yield batch.slice(start, step)
