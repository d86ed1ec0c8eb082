"""A job's execution graph, kept with the job (``Job.execution_graph``) from its own run.

The scheduler stores what the engine left in ``QueryStats`` as the run ended: DuckDB's graph itself, or, for
ClickHouse, where its logs hold the run's profile (``{"profile_ref": ...}``). The first time the graph is asked for,
that reference is read from the engine's logs and the graph replaces it in the job row. No query is ever run again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bqlite_app.jobs.models import Job, JobStatus
from bqlite_app.jobs.store import JobStore
from engines.base import Engine, QueryStats
from engines.errors import EngineError
from engines.execution_graph import ExecutionGraph

log = logging.getLogger(__name__)

_REF = "profile_ref"


class GraphStatus(StrEnum):
    AVAILABLE = "available"      # the graph is here
    PENDING = "pending"          # the engine has not written the run's profile yet: ask again shortly
    NONE = "none"                # there is none, and there will be none (``note`` says why)


@dataclass(frozen=True)
class JobGraph:
    status: GraphStatus
    graph: ExecutionGraph | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "note": self.note or None,
                **(self.graph.as_dict() if self.graph is not None else {})}


def stored(stats: QueryStats) -> str | None:
    """What a finished run keeps in ``Job.execution_graph``; None when the engine kept no profile."""
    if stats.graph is not None:
        return stats.graph.to_json()
    if stats.profile_ref:
        return json.dumps({_REF: stats.profile_ref}, separators=(",", ":"))
    return None


def job_graph(job: Job, engine: Engine | None, store: JobStore) -> JobGraph:
    """The execution graph of ``job``'s run, reading the engine's logs (and keeping what they hold) when needed."""
    status = JobStatus(job.status)
    if not status.finished:
        return JobGraph(GraphStatus.PENDING, note="The job has not finished yet.")
    if status != JobStatus.COMPLETED:
        return JobGraph(GraphStatus.NONE, note=f"The job is {status.value}: only a completed run has a graph.")
    if not job.execution_graph:
        return JobGraph(GraphStatus.NONE, note="The engine kept no profile of this run: it read no table, or it is "
                                               "a statement the engine does not profile, or it ran before execution "
                                               "graphs were kept.")
    try:
        data = json.loads(job.execution_graph)
    except ValueError:
        return JobGraph(GraphStatus.NONE, note="The stored execution graph is unreadable.")
    if _REF not in data:
        return JobGraph(GraphStatus.AVAILABLE, ExecutionGraph.of(data))
    if engine is None:
        return JobGraph(GraphStatus.NONE, note=f"The engine {job.engine!r} is not available.")
    try:
        graph = engine.execution_graph(str(data[_REF]))
    except EngineError as exc:
        return JobGraph(GraphStatus.PENDING, note=f"The engine's logs cannot be read now: {exc}")
    if graph is None:
        return JobGraph(GraphStatus.PENDING, note="The engine has not written this run's profile to its logs yet; "
                                                  "ask again in a few seconds.")
    text = graph.to_json()
    try:
        store.update(job.job_id, execution_graph=text)
    except Exception as exc:  # kept next time; the graph is still the answer now
        log.warning("could not keep the execution graph of job %s: %s", job.job_id, exc)
    job.execution_graph = text
    return JobGraph(GraphStatus.AVAILABLE, graph)
