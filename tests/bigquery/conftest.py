"""The real google-cloud-bigquery client against the API served over HTTP (the client speaks HTTP, not ASGI).

One uvicorn server in a thread serves ``create_api(core)`` over the session core, so tests can also look at what
the core holds (``/jobs`` through the in-process ``client`` fixture).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import uvicorn
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from bench.server import free_port

PROJECT = "test-project"


@pytest.fixture(scope="session")
def bq_url(core) -> Iterator[str]:
    from bqlite_app.api import create_api

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_api(core), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, name="bigquery-test-server", daemon=True)
    thread.start()
    while not server.started:  # set by uvicorn once the socket listens
        if not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def bq(bq_url: str) -> bigquery.Client:
    """The client exactly as a user sets it up against BigQuery-Lite (docs/bigquery.md)."""
    return bigquery.Client(project=PROJECT, credentials=AnonymousCredentials(),
                           client_options=ClientOptions(api_endpoint=bq_url))


@pytest.fixture
def dataset_id(bq: bigquery.Client) -> Iterator[str]:
    """A fresh dataset for one test, dropped with its tables afterwards."""
    name = f"bqtest_{uuid.uuid4().hex[:10]}"
    bq.create_dataset(name)
    yield name
    bq.delete_dataset(name, delete_contents=True, not_found_ok=True)
