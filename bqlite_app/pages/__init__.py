"""One module per route; importing this package registers every page."""

from bqlite_app.pages import job_detail, jobs, schema_detail, schemas, workspace

__all__ = ["job_detail", "jobs", "schema_detail", "schemas", "workspace"]
