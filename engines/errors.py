"""Errors raised at the engine edge. Driver exceptions are translated once, here, and nowhere else."""

from __future__ import annotations


class EngineError(Exception):
    """Base class: something went wrong talking to an engine."""


class EngineQueryError(EngineError):
    """The engine rejected or failed the query (syntax, missing table, type error, memory limit...).

    ``position`` is the 1-based character offset into the SQL when the engine reports one.
    """

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


class QueryCancelled(EngineError):
    """The query was stopped by ``Engine.cancel`` (a cancel is a status, not a failure)."""


class StatementUnreadable(EngineError):
    """The statement parses, but the engine would not describe it: treat it as unsafe, never as a syntax error."""


class EngineUnavailable(EngineError):
    """The engine cannot be reached or was not started."""


class QueryTimeout(EngineQueryError):
    """The engine stopped the query because it ran past ``QueryLimits.timeout_s``."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"Query exceeded the time limit of {timeout_s:g} s")
        self.timeout_s = timeout_s
