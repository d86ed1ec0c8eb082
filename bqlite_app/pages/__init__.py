"""One module per route; importing this package registers every page."""

from bqlite_app.pages import (
    admin_audit,
    admin_datasets,
    admin_users,
    job_detail,
    jobs,
    login,
    schema_detail,
    schemas,
    workspace,
)

__all__ = ["admin_audit", "admin_datasets", "admin_users", "job_detail", "jobs", "login", "schema_detail", "schemas",
           "workspace"]
