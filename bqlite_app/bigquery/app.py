"""The HTTP face of BigQuery's REST API v2: two sub-applications, so that every answer here (errors included)
takes Google's shapes while the rest of the API keeps its own envelope: ``/bigquery/v2/...`` and
``/upload/bigquery/v2/...`` (load-job uploads).
"""

from __future__ import annotations

from fastapi import Depends, FastAPI

from bqlite_app.bigquery import routes_datasets, routes_jobs, routes_tabledata, routes_tables, routes_upload
from bqlite_app.bigquery.auth import current_user
from bqlite_app.bigquery.errors import install_error_handlers
from bqlite_app.core import Core

API_PREFIX = "/bigquery/v2"
UPLOAD_PREFIX = "/upload/bigquery/v2"


def mount_bigquery(api: FastAPI, core: Core) -> None:
    """Mount both sub-applications on ``api`` (before any catch-all mount)."""
    api.mount(API_PREFIX, _sub_app(core, routes_datasets.router, routes_tables.router, routes_tabledata.router,
                                        routes_jobs.router))
    api.mount(UPLOAD_PREFIX, _sub_app(core, routes_upload.router))


def _sub_app(core: Core, *routers) -> FastAPI:  # type: ignore[no-untyped-def]
    # No docs of their own: Google publishes the contract (the bigquery/v2 discovery document).
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.core = core
    install_error_handlers(app)
    for router in routers:
        app.include_router(router, dependencies=[Depends(current_user)])
    return app
