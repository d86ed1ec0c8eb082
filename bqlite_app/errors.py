"""The BigQuery-Lite error family.

Every error a user can cause carries its HTTP status and a stable ``error_code``. The API shapes them into the
envelope in exactly one place (``api/errors.py``); the UI and CLI show ``detail``.
"""

from __future__ import annotations


class BqliteError(Exception):
    status: int = 500
    error_code: str = "INTERNAL_ERROR"
    # Seconds a client should wait before trying again; the API sends it as ``Retry-After`` when set.
    retry_after: int | None = None
    # More response headers the API sends with this error.
    headers: dict[str, str] = {}

    def __init__(self, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if retry_after is not None:
            self.retry_after = retry_after


class ValidationFailed(BqliteError):
    status, error_code = 422, "VALIDATION_FAILED"


class EngineNotAvailable(BqliteError):
    status, error_code = 400, "ENGINE_NOT_AVAILABLE"


class JobNotFound(BqliteError):
    status, error_code = 404, "JOB_NOT_FOUND"


class JobAlreadyFinished(BqliteError):
    status, error_code = 409, "JOB_ALREADY_FINISHED"


class JobAlreadyExists(BqliteError):
    """A client chose a job id (BigQuery's clients do) that another job already has."""

    status, error_code = 409, "JOB_ALREADY_EXISTS"


class ResultNotAvailable(BqliteError):
    """The job completed but its stored result has expired or was removed."""

    status, error_code = 410, "RESULT_EXPIRED"


class SchemaNotFound(BqliteError):
    status, error_code = 404, "SCHEMA_NOT_FOUND"


class SchemaParseFailed(BqliteError):
    status, error_code = 422, "SCHEMA_PARSE_FAILED"


class SchemaIncompatible(BqliteError):
    status, error_code = 409, "SCHEMA_INCOMPATIBLE"


class ProtobufDecodeFailed(BqliteError):
    status, error_code = 422, "PROTOBUF_DECODE_FAILED"


class TableNotFound(BqliteError):
    status, error_code = 409, "TABLE_NOT_FOUND"


class PayloadTooLarge(BqliteError):
    status, error_code = 413, "PAYLOAD_TOO_LARGE"


class SqlNotAllowed(BqliteError):
    """The statement would reach beyond the engines' tables (files, network, settings); see docs/api.md's sandbox."""

    status, error_code = 403, "SQL_NOT_ALLOWED"


class DatasetReserved(BqliteError):
    """A schema may not live in the sample dataset or a system database, nor take over a table it did not create."""

    status, error_code = 409, "DATASET_RESERVED"


class ServiceUnavailable(BqliteError):
    """An engine or the job store cannot take the request right now; the client may retry."""

    status, error_code, retry_after = 503, "ENGINE_UNAVAILABLE", 1


class OriginNotAllowed(BqliteError):
    """A state-changing request sent by a page on a foreign origin (cross-site request forgery); see docs/api.md."""

    status, error_code = 403, "ORIGIN_NOT_ALLOWED"


class DatabaseBusy(ServiceUnavailable):
    """The SQLite database stayed locked (another process or a long transaction holds it); the client may retry."""

    error_code = "DATABASE_BUSY"


class AuthRequired(BqliteError):
    """No valid credentials: a missing, malformed, expired or revoked token, or a bad login."""

    status, error_code = 401, "AUTH_REQUIRED"
    headers = {"WWW-Authenticate": "Bearer"}


class AccessDenied(BqliteError):
    """The caller's role or grants do not allow the action; the detail names the dataset and the role needed."""

    status, error_code = 403, "ACCESS_DENIED"


class RateLimited(BqliteError):
    status, error_code, retry_after = 429, "RATE_LIMITED", 1


class QuotaExceeded(BqliteError):
    status, error_code = 403, "QUOTA_EXCEEDED"


class ValidationConflict(ValidationFailed):
    """The request is well-formed but conflicts with the current state (the last admin, a taken username)."""

    status = 409


class UserNotFound(BqliteError):
    status, error_code = 404, "USER_NOT_FOUND"


class ApiTokenNotFound(BqliteError):
    status, error_code = 404, "TOKEN_NOT_FOUND"


class InvalidQuery(BqliteError):
    """GoogleSQL that cannot be translated for the job's engine; the detail names the construct."""

    status, error_code = 400, "INVALID_QUERY"
