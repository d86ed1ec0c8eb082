"""The BigQuery-Lite error family.

Every error a user can cause carries its HTTP status and a stable ``error_code``. The API shapes them into the
envelope in exactly one place (``api/errors.py``); the UI and CLI show ``detail``.
"""

from __future__ import annotations


class BqliteError(Exception):
    status: int = 500
    error_code: str = "INTERNAL_ERROR"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ValidationFailed(BqliteError):
    status, error_code = 422, "VALIDATION_FAILED"


class EngineNotAvailable(BqliteError):
    status, error_code = 400, "ENGINE_NOT_AVAILABLE"


class JobNotFound(BqliteError):
    status, error_code = 404, "JOB_NOT_FOUND"


class JobAlreadyFinished(BqliteError):
    status, error_code = 409, "JOB_ALREADY_FINISHED"


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
