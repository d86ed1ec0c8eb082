"""Request and response bodies of the REST contract (docs/api.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from bqlite_app.jobs.labels import KEY_PATTERN, MAX_LABELS, MAX_VALUE_CHARS, LabelError, check_labels
from bqlite_app.jobs.models import JobPublic
from bqlite_app.jobs.params import MAX_PARAMETERS
from bqlite_app.schemas.models import SchemaPublic, TableCreatedPublic

# The longest a request may wait for a job (POST /queries `wait_ms`, GET /jobs/{id}/result `timeout_ms`).
MAX_WAIT_MS = 60_000
# The largest JSON page of a result.
MAX_PAGE_ROWS = 10_000


class QueryParameter(BaseModel):
    """A typed query parameter, named ``@name`` in the SQL and bound by the engine (docs/api.md, "Query
    parameters"). Types and values are BigQuery's; the core checks them (``bqlite_app.jobs.params``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=128, description="Letters, digits and `_`, not starting with a digit.")
    type: str = Field(max_length=10_000, description="`INT64`, `FLOAT64`, `NUMERIC`, `BIGNUMERIC`, `BOOL`, "
                                                      "`STRING`, `BYTES`, `DATE`, `DATETIME`, `TIME`, `TIMESTAMP`, "
                                                      "`JSON`, `ARRAY<T>` or `STRUCT<name T, ...>`.")
    value: Any = Field(None, description="As BigQuery's REST API sends it: scalars as strings (numbers and booleans "
                                         "may be JSON's own), BYTES as base64, ARRAY as a list, STRUCT as an "
                                         "object; null or absent is NULL.")


class QueryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, description="The SQL text; at most 1 MB.")
    engine: str = Field("duckdb", description="`duckdb` or `clickhouse`.")
    priority: int = Field(1, ge=1, le=5, description="1 (interactive, default) .. 5 (batch). Waiting jobs age.")
    estimated_slots: int = Field(1, ge=1, le=10)
    max_execution_time: int | None = Field(
        None, ge=1, le=86400, description="Seconds; enforced in the engine. Default: BQLITE_DEFAULT_TIMEOUT_S (300).")
    dry_run: bool = False
    wait_ms: int = Field(
        0, ge=0, le=MAX_WAIT_MS,
        description="Wait up to this long for the job to end; a job that ended within it answers with `result`, "
                    "its first page (as BigQuery's `jobs.query` `timeoutMs`).")
    max_rows: int = Field(1000, ge=1, le=MAX_PAGE_ROWS, description="Rows in the first page `result` carries.")
    labels: dict[str, str] = Field(
        default_factory=dict,
        description=f"At most {MAX_LABELS}. Keys match `^[a-z][a-z0-9_-]{{0,62}}$` (as in BigQuery); values are at "
                    f"most {MAX_VALUE_CHARS:,} characters of valid Unicode.",
        json_schema_extra={"maxProperties": MAX_LABELS, "propertyNames": {"pattern": f"^{KEY_PATTERN.pattern}$"},
                           "additionalProperties": {"type": "string", "maxLength": MAX_VALUE_CHARS}})

    parameters: list[QueryParameter] = Field(
        default_factory=list, max_length=MAX_PARAMETERS,
        description="Typed values for the `@name` parameters in `sql`, bound by the engine, never pasted into the "
                    "text.")

    @field_validator("labels", mode="before")
    @classmethod
    def _check_labels(cls, value: Any) -> Any:
        # Before pydantic's own checks: those would name an offending key in the error's location, and a key that
        # is not valid Unicode cannot be encoded into the error answer.
        if not isinstance(value, dict):
            return value
        try:
            return check_labels(value)
        except LabelError as exc:
            raise PydanticCustomError("labels", "{reason}", {"reason": str(exc)}) from None


class QueryAccepted(BaseModel):
    job_id: str | None
    status: str
    message: str
    estimated_completion_time: str | None = None
    dry_run: bool | None = None
    valid: bool | None = None
    estimated_bytes_processed: int | None = None
    referenced_tables: list[str] | None = None
    error: str | None = None
    error_position: int | None = None
    result: ResultPagePublic | None = Field(
        None, description="With `wait_ms`, when the job ended within it: the first page, exactly as "
                          "`GET /jobs/{id}/result` gives it.")


class JobList(BaseModel):
    jobs: list[JobPublic]
    total: int


class ColumnPublic(BaseModel):
    name: str
    type: str


class ExecutionStats(BaseModel):
    execution_time_ms: int | None
    engine: str
    bytes_processed: int | None


class ResultPagePublic(BaseModel):
    job_id: str
    status: str
    columns: list[ColumnPublic] | None = None
    rows: list[list[Any]] | None = None
    total_rows: int | None = None
    offset: int | None = None
    next_offset: int | None = None
    execution_stats: ExecutionStats | None = None
    error: str | None = None


class ChartPublic(BaseModel):
    """`GET /jobs/{id}/chart`: the whole result grouped by `x` (resultview)."""

    job_id: str
    x: str
    y: list[str]
    agg: str
    columns: list[ColumnPublic]
    rows: list[list[Any]] = Field(description="One row per group, ordered by x (nulls last): x, then each y.")
    groups: int = Field(description="Distinct x values among the rows that pass the filters.")
    source_rows: int = Field(description="Rows aggregated.")
    binned: bool = Field(description="x had more than max_groups values and was split into equal-width bins, "
                                     "each keyed by its start.")
    truncated: bool = Field(description="x had more than max_groups values; only the largest groups are here.")
    bin_width: float | int | None = Field(description="The bins' width: a number, or microseconds for a date or "
                                                      "timestamp x; null when not binned.")


# -- schemas ------------------------------------------------------------------------------------------------------


class SchemaRegistered(BaseModel):
    schema_id: str
    message: str
    table_name: str
    database_name: str
    field_count: int
    version: int
    fingerprint: str
    created_at: str
    shard_key: str | None


class SchemaDiffPublic(BaseModel):
    schema_id: str
    message_type: str
    current_version: int
    next_version: int | None = Field(description="Null when the change is breaking.")
    unchanged: bool
    compatible: bool
    breaking: list[str]
    changes: list[str]
    columns_added: list[str]
    columns_changed: list[str]


class SchemaList(BaseModel):
    schemas: list[SchemaPublic]
    total: int


class TablesCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engines: list[str] = Field(default_factory=lambda: ["duckdb", "clickhouse"], min_length=1)
    if_not_exists: bool = True
    replace: bool = False


class TablesCreated(BaseModel):
    schema_id: str
    results: dict[str, TableCreatedPublic]


class EngineRows(BaseModel):
    rows: int


class IngestAnswer(BaseModel):
    schema_id: str
    rows_ingested: int
    bytes: int
    duration_ms: int
    engines: dict[str, EngineRows]


class MessageAnswer(BaseModel):
    message: str


class ErrorBody(BaseModel):
    detail: str
    error_code: str
    timestamp: str
    request_id: str | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 404, 409, 413, 422, 500, 503)
}


QueryAccepted.model_rebuild()  # its `result` names ResultPagePublic, defined after it
