"""A ClickHouse run's execution graph, from the logs the engine writes about the run itself.

ClickHouse records every processor of a query's pipeline (what ``EXPLAIN PIPELINE`` shows) with its time and rows in
``system.processors_profile_log`` when the query runs with ``log_processors_profiles = 1``. A job's query runs with
that setting and a ``log_comment`` naming the job; ``read_graph`` later finds the run in ``system.query_log`` by that
comment (chdb drops client query ids; a server keeps ours, which is tried first) and reads its processors. Nothing is
run twice: the logs describe the job's own run. Logs are written in the background every few seconds, so a read
that finds nothing asks ClickHouse to flush them once (``SYSTEM FLUSH LOGS``; a server may refuse, then the graph is
simply not there yet).

Embedded chdb (clickhouse-local) keeps no system logs unless configured: ``embedded_config`` writes the config that
turns on the two logs (kept 7 days), and every embedded client turns query logging off for itself (``QUIET``), so
only job queries that read a table are logged. A server keeps its own log configuration.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from engines._ch_plan import literal
from engines.errors import EngineError
from engines.execution_graph import ExecutionGraph, Processor, from_processors

log = logging.getLogger(__name__)

_LOG_TTL = "<ttl>event_date + INTERVAL 7 DAY DELETE</ttl>"
EMBEDDED_CONFIG = f"""<clickhouse>
  <!-- Written by BigQuery-Lite: the logs a job's execution graph is read from (engines/_ch_profile.py). -->
  <query_log><database>system</database><table>query_log</table>
    <flush_interval_milliseconds>7500</flush_interval_milliseconds>{_LOG_TTL}</query_log>
  <processors_profile_log><database>system</database><table>processors_profile_log</table>
    <flush_interval_milliseconds>7500</flush_interval_milliseconds>{_LOG_TTL}</processors_profile_log>
</clickhouse>
"""
# Every embedded client: bookkeeping queries (catalog, progress, dry runs) are not logged.
QUIET = {"log_queries": "0", "log_processors_profiles": "0"}

_COLUMNS = ("id, parent_ids, plan_step, plan_step_name, plan_step_description, name, elapsed_us, input_rows, "
            "output_rows")
# Servers before plan_step_name existed (ClickHouse < 24.x): the processor names stand in for the steps'.
_OLD_COLUMNS = "id, parent_ids, plan_step, '', '', name, elapsed_us, input_rows, output_rows"

Read = Callable[[str], list[tuple]]
Command = Callable[[str], Any]


def embedded_config(data_path: Path) -> Path:
    """The clickhouse-local config file for ``data_path``, written beside it when missing or outdated."""
    path = data_path.parent / f"{data_path.name}.bqlite.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != EMBEDDED_CONFIG:
        path.write_text(EMBEDDED_CONFIG)
    return path


def job_settings(query_tag: str) -> dict[str, str]:
    """Settings for a run whose graph is wanted: logged, with its processors, under a comment naming it."""
    return {"log_queries": "1", "log_processors_profiles": "1", "log_comment": comment(query_tag)}


def comment(query_tag: str) -> str:
    return f"bqlite:{query_tag}"


def profile_ref(query_tag: str, query_id: str | None) -> str:
    """What ``read_graph`` needs to find the run: its comment, its query id (servers), and the day it ran."""
    return json.dumps({"comment": comment(query_tag), "query_id": query_id,
                       "date": datetime.now(UTC).date().isoformat()}, separators=(",", ":"))


def read_graph(read: Read, command: Command, ref: str) -> ExecutionGraph | None:
    """The run's graph from the logs; None while they do not have it (or no longer do)."""
    try:
        where = json.loads(ref)
        day = datetime.fromisoformat(str(where["date"])).date().isoformat()
        tag, query_id = str(where["comment"]), where.get("query_id")
    except (KeyError, TypeError, ValueError):
        return None
    for attempt in range(2):
        processors = _processors(read, day, tag, query_id)
        if processors:
            return from_processors(processors)
        if attempt == 0:
            try:
                command("SYSTEM FLUSH LOGS")
            except (ClickHouseError, EngineError) as exc:   # not allowed on this server: the logs flush by themselves
                log.debug("SYSTEM FLUSH LOGS failed: %s", exc)
                return None
    return None


def _processors(read: Read, day: str, tag: str, query_id: str | None) -> list[Processor]:
    since = f"event_date >= toDate({literal(day)}) - 1"
    ids = [query_id] if query_id else []
    try:
        found = read(f"SELECT query_id FROM system.query_log WHERE {since} AND log_comment = {literal(tag)} "
                     "AND type = 'QueryFinish' ORDER BY event_time_microseconds DESC LIMIT 1")
    except (ClickHouseError, EngineError):        # no query log on this server: only our own query id is left
        found = []
    ids += [str(row[0]) for row in found if row and str(row[0]) not in ids]
    for qid in ids:
        rows: list[tuple] = []
        for columns in (_COLUMNS, _OLD_COLUMNS):
            try:
                rows = read(f"SELECT {columns} FROM system.processors_profile_log WHERE {since} "
                            f"AND query_id = {literal(qid)} ORDER BY event_time_microseconds, id")
                break
            except (ClickHouseError, EngineError):
                rows = []
        if rows:
            return [Processor(id=int(r[0]), parent_ids=tuple(int(i) for i in r[1] or ()), plan_step=int(r[2] or 0),
                              step_name=str(r[3] or ""), step_description=str(r[4] or ""), name=str(r[5]),
                              elapsed_us=int(r[6] or 0), input_rows=int(r[7] or 0), output_rows=int(r[8] or 0))
                    for r in rows]
    return []
