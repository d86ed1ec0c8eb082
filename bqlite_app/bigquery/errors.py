"""Errors in Google's shape: ``{"error": {"code", "message", "errors": [{"reason", "message", ...}], "status"}}``.

google-cloud-bigquery retries every call whose first reason is ``backendError``, ``rateLimitExceeded`` or
``internalError`` (for up to ten minutes), so a user's mistake must never carry one of those: it gets ``invalid``,
``invalidQuery``, ``notFound``, ``duplicate``, ``accessDenied`` or ``quotaExceeded`` with a 4xx status.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from bqlite_app import errors as core_errors
from bqlite_app.logs import request_id_var
from engines.errors import EngineUnavailable

log = logging.getLogger(__name__)

# Google's canonical status names for the HTTP codes we answer with.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    405: "INVALID_ARGUMENT", 409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION", 413: "INVALID_ARGUMENT",
    500: "INTERNAL", 503: "UNAVAILABLE",
}


# The reason of an unexpected server error (a bug): not one the client retries.
SERVER_BUG = "serverError"


class BigQueryError(Exception):
    """An error this face raises itself, already in Google's vocabulary."""

    def __init__(self, status: int, reason: str, message: str, *, location: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.location = location


def not_found(what: str) -> BigQueryError:
    return BigQueryError(404, "notFound", f"Not found: {what}")


def invalid(message: str, *, location: str | None = None) -> BigQueryError:
    return BigQueryError(400, "invalid", message, location=location)


def duplicate(what: str) -> BigQueryError:
    return BigQueryError(409, "duplicate", f"Already Exists: {what}")


def from_core(exc: core_errors.BqliteError) -> BigQueryError:
    """The BigQuery reason for one of the core's errors (the message stays the core's)."""
    status, reason = _CORE_REASONS.get(type(exc), (None, None))
    if status is None:
        for cls, answer in _CORE_REASONS.items():
            if isinstance(exc, cls):
                status, reason = answer
                break
        else:
            status, reason = (400, "invalid") if exc.status < 500 else (500, SERVER_BUG)
    return BigQueryError(status, reason, exc.detail)


# Most specific first where classes inherit (DatabaseBusy is a ServiceUnavailable, ValidationConflict a
# ValidationFailed); the first isinstance match wins.
_CORE_REASONS: dict[type[core_errors.BqliteError], tuple[int, str]] = {
    core_errors.AuthRequired: (401, "unauthorized"),
    core_errors.AccessDenied: (403, "accessDenied"),
    core_errors.SqlNotAllowed: (403, "accessDenied"),
    core_errors.OriginNotAllowed: (403, "accessDenied"),
    core_errors.RateLimited: (403, "rateLimitExceeded"),   # as BigQuery answers it; the client backs off and retries
    core_errors.QuotaExceeded: (403, "quotaExceeded"),
    core_errors.ServiceUnavailable: (503, "backendError"),  # transient: retrying is right
    core_errors.JobNotFound: (404, "notFound"),
    core_errors.JobAlreadyExists: (409, "duplicate"),
    core_errors.SchemaNotFound: (404, "notFound"),
    core_errors.TableNotFound: (404, "notFound"),
    core_errors.UserNotFound: (404, "notFound"),
    core_errors.ResultNotAvailable: (404, "notFound"),
    core_errors.ValidationConflict: (409, "duplicate"),
    core_errors.DatasetReserved: (400, "invalid"),
    core_errors.PayloadTooLarge: (413, "invalid"),
    core_errors.ValidationFailed: (400, "invalid"),
    core_errors.EngineNotAvailable: (400, "invalid"),
}


def error_body(status: int, reason: str, message: str, location: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"message": message, "domain": "global", "reason": reason}
    if location:
        item["location"] = location
        item["locationType"] = "parameter"
    return {"error": {"code": status, "message": message, "errors": [item],
                      "status": _STATUS_NAMES.get(status, "UNKNOWN")}}


def error_response(error: BigQueryError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(error.status, error.reason, error.message, error.location),
                        status_code=error.status, headers=headers)


def error_result(reason: str, message: str, location: str | None = None) -> dict[str, Any]:
    """A job's ``status.errorResult`` (and each of ``status.errors``)."""
    result = {"reason": reason, "message": message}
    if location:
        result["location"] = location
    return result


def _describe(errors: Any) -> str:
    """Google's wording: ``Invalid value at 'maxResults' (TYPE_UINT32), "x"``; ours names the field and the rule."""
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"Invalid value at '{where or 'body'}': {error.get('msg', 'invalid value')}")
    return "; ".join(parts) or "Invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BigQueryError)
    async def _own(_request: Request, exc: BigQueryError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(core_errors.BqliteError)
    async def _core(_request: Request, exc: core_errors.BqliteError) -> JSONResponse:
        headers = dict(exc.headers)
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
        return error_response(from_core(exc), headers)

    @app.exception_handler(EngineUnavailable)
    async def _unavailable(_request: Request, exc: EngineUnavailable) -> JSONResponse:
        # A ClickHouse server that is down: transient, so a reason the client retries.
        return error_response(BigQueryError(503, "backendError", str(exc)), {"Retry-After": "1"})

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(invalid(_describe(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(not_found(f"URL {request.url.path}"))
        if exc.status_code == 405:
            return error_response(BigQueryError(405, "invalid", f"{request.method} is not allowed on "
                                                                f"{request.url.path}"))
        reason = "invalid" if exc.status_code < 500 else SERVER_BUG
        return error_response(BigQueryError(exc.status_code, reason, str(exc.detail)))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        request_id = request_id_var.get()
        log.exception("BigQuery API error on %s %s", request.method, request.url.path)
        # A bug answers the same way every time: a reason outside the client's retry list (``internalError``
        # would have it ask again for ten minutes) while the status still says it is ours.
        return error_response(BigQueryError(500, SERVER_BUG,
                                            f"Internal error (request id {request_id}); see the server log"))
