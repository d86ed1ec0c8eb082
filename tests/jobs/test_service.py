"""The job service as every face calls it: the default time limit, re-run, result paging and the typed job."""

from __future__ import annotations

import pytest

from bqlite_app.access.principal import LOCAL, Principal
from bqlite_app.errors import JobNotFound, ValidationFailed
from bqlite_app.jobs.models import Job, JobKind, JobPublic, JobStatus
from bqlite_app.jobs.service import QuerySpec

BOB = Principal("bob", "member", "u_bob")


def test_a_job_without_a_time_limit_gets_the_configured_default(core, monkeypatch):
    monkeypatch.setattr(core.queries, "_default_timeout_s", 77)
    job = core.queries.submit(QuerySpec(sql="SELECT 1"), user=LOCAL)
    assert job.max_execution_time == 77
    assert core.queries.submit(QuerySpec(sql="SELECT 1", max_execution_time=5), user=LOCAL).max_execution_time == 5


def test_the_service_default_is_the_setting(core):
    job = core.queries.submit(QuerySpec(sql="SELECT 1"), user=LOCAL)
    assert job.max_execution_time == core.settings.default_timeout_s


def test_rerun_submits_the_same_query_with_its_settings(core):
    spec = QuerySpec(sql="SELECT $n AS n", priority=3, estimated_slots=2, max_execution_time=42,
                     labels={"team": "growth"}, parameters=({"name": "n", "type": "INT64", "value": "7"},))
    first = core.queries.submit(spec, user=LOCAL)
    again = core.queries.rerun(first.job_id, user=LOCAL)
    assert again.job_id != first.job_id
    assert (again.sql, again.engine, again.priority, again.estimated_slots, again.max_execution_time) == \
        (first.sql, first.engine, 3, 2, 42)
    assert again.labels == {"team": "growth"}
    assert again.parameters == [{"name": "n", "type": "INT64", "value": "7"}]
    assert again.user == LOCAL.username


def test_rerun_of_someone_elses_job_is_not_found(core):
    job = core.queries.submit(QuerySpec(sql="SELECT 1"), user=LOCAL)
    with pytest.raises(JobNotFound):
        core.queries.rerun(job.job_id, user=BOB)


def test_a_page_past_the_end_is_refused_by_the_core(core):
    job = core.queries.submit(QuerySpec(sql="SELECT 1 AS one"), user=LOCAL)
    job = core.queries.wait(job.job_id, 60, user=LOCAL)
    assert core.queries.page(job, offset=1, limit=10, user=LOCAL).table.num_rows == 0   # the end itself: empty
    with pytest.raises(ValidationFailed, match=r"offset: 5 is beyond the end of the result \(1 rows\)"):
        core.queries.page(job, offset=5, limit=10, user=LOCAL)
    assert core.queries.page(job, offset=5, limit=10, user=LOCAL, past_end=True).table.num_rows == 0


def test_describe_hands_out_the_typed_job_the_rest_api_serialises(core):
    job = core.queries.submit(QuerySpec(sql="SELECT 1 AS one", labels={"team": "growth"}), user=LOCAL)
    job = core.queries.wait(job.job_id, 60, user=LOCAL)
    public = core.queries.describe(job)
    assert isinstance(public, JobPublic)
    assert public.status is JobStatus.COMPLETED and public.status.finished and public.kind is JobKind.QUERY
    assert (public.progress, public.queue_position, public.rows_returned) == (1.0, None, 1)
    assert public.created_at.endswith("+00:00") and public.labels == {"team": "growth"}
    # The REST body is this model's JSON: the same keys, in docs/api.md's order, and plain strings for the enums.
    body = public.model_dump(mode="json")
    assert list(body) == [
        "job_id", "kind", "sql", "engine", "status", "priority", "estimated_slots", "max_execution_time",
        "created_at", "started_at", "completed_at", "execution_time_ms", "rows_returned", "bytes_processed",
        "error", "error_position", "progress", "queue_position", "labels", "user", "parameters"]
    assert (body["status"], body["kind"], body["user"]) == ("completed", "query", "local")
    assert JobPublic.model_validate(body) == public


def test_a_job_shows_lone_surrogates_from_old_history_as_replacement_characters():
    job = Job(max_execution_time=300, job_id="job_x", sql="SELECT '\ud800'", engine="duckdb", labels={"k": "v\udfff"})
    public = JobPublic.of(job)
    assert public.sql == "SELECT '\ufffd'" and public.labels == {"k": "v\ufffd"}
    assert public.status is JobStatus.QUEUED and public.started_at is None
