"""Exit codes and the errors that carry them. Expected failures print one clear line on stderr, never a traceback."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    JOB_FAILED = 1      # the query, job or requested operation failed (or a schema change would break)
    USAGE = 2           # click's own code for bad arguments
    UNREACHABLE = 3     # no answer from the API
    API_ERROR = 4       # the API answered with its error envelope
    INTERRUPTED = 130   # Ctrl+C, as shells report SIGINT


class CliError(Exception):
    """An expected failure: the command prints ``message`` (and ``hint``) on stderr and exits with ``exit_code``."""

    exit_code: ExitCode = ExitCode.JOB_FAILED
    label = "Error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class JobFailed(CliError):
    exit_code = ExitCode.JOB_FAILED


class Unreachable(CliError):
    exit_code = ExitCode.UNREACHABLE

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"Cannot reach the BigQuery-Lite API at {url}: {reason}",
                         hint="Start it with `make run`, or point --url / BQLITE_API_URL at a running server.")


class ApiError(CliError):
    """The API's error envelope: ``{"detail", "error_code", "timestamp"}``."""

    exit_code = ExitCode.API_ERROR

    def __init__(self, status: int, detail: str, error_code: str) -> None:
        super().__init__(f"{detail} ({error_code}, HTTP {status})")
        self.status = status
        self.detail = detail
        self.error_code = error_code


class Interrupted(CliError):
    exit_code = ExitCode.INTERRUPTED
    label = "Interrupted"
