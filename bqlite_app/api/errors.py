"""The one place that shapes errors into the API envelope: {"detail", "error_code", "timestamp"}."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bqlite_app.errors import BqliteError
from engines.errors import EngineUnavailable

# Codes for errors Starlette raises itself (unknown route, wrong method...).
_HTTP_CODES = {
    400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE", 429: "TOO_MANY_REQUESTS",
}


def envelope(status: int, detail: str, error_code: str, **extra: Any) -> JSONResponse:
    body = {"detail": detail, "error_code": error_code, "timestamp": datetime.now(UTC).isoformat(), **extra}
    return JSONResponse(body, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BqliteError)
    async def _bqlite_error(_request: Request, exc: BqliteError) -> JSONResponse:
        response = envelope(exc.status, exc.detail, exc.error_code)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(EngineUnavailable)
    async def _engine_unavailable(_request: Request, exc: EngineUnavailable) -> JSONResponse:
        # An engine that cannot be reached (a ClickHouse server that is down) is worth retrying, not a bug.
        response = envelope(503, f"{exc}; try again shortly", "ENGINE_UNAVAILABLE")
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return envelope(422, describe_validation_errors(exc.errors()), "VALIDATION_FAILED")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR" if exc.status_code < 500 else "INTERNAL_ERROR")
        return envelope(exc.status_code, str(exc.detail), code)


def describe_validation_errors(errors: Any) -> str:
    """One readable sentence per problem, e.g. ``body.priority: Input should be less than or equal to 5``."""
    parts = []
    for error in errors:
        if error.get("type") == "json_invalid":
            parts.append(f"Malformed JSON body: {error.get('ctx', {}).get('error', 'invalid JSON')}")
            continue
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{location}: {error.get('msg', 'invalid value')}")
    return "; ".join(parts) or "Invalid request"
