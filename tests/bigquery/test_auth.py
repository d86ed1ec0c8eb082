"""With BQLITE_AUTH=on the client authenticates with our own token, and dataset grants apply to it."""

from __future__ import annotations

from collections.abc import Iterator

import google.auth.exceptions
import httpx
import pytest
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from google.oauth2.credentials import Credentials

from bench.server import running_backend

ADMIN_PASSWORD = "bigquery-admin-password"


@pytest.fixture(scope="module")
def auth_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_backend(tmp_path_factory.mktemp("bigquery-auth"), sample_rows=1_000,
                         extra_env={"BQLITE_AUTH": "on", "BQLITE_ADMIN_USER": "admin",
                                    "BQLITE_ADMIN_PASSWORD": ADMIN_PASSWORD}) as url:
        yield url


def _token(url: str, username: str, password: str) -> str:
    answer = httpx.post(f"{url}/auth/token", data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def _client(url: str, credentials) -> bigquery.Client:  # type: ignore[no-untyped-def]
    return bigquery.Client(project="p", credentials=credentials, client_options=ClientOptions(api_endpoint=url))


def test_the_bearer_token_is_ours_and_grants_apply(auth_url: str) -> None:
    admin_token = _token(auth_url, "admin", ADMIN_PASSWORD)
    admin = _client(auth_url, Credentials(token=admin_token))
    admin.create_dataset("private_ds")
    admin.query_and_wait("CREATE TABLE private_ds.secrets AS SELECT 1 AS id")
    assert next(iter(admin.query_and_wait("SELECT COUNT(*) AS n FROM nyc_taxi")))["n"] == 1_000

    member_password = "member-password-123"
    created = httpx.post(f"{auth_url}/users", headers={"Authorization": f"Bearer {admin_token}"},
                         json={"username": "mia", "password": member_password, "role": "member"})
    assert created.status_code in (200, 201), created.text
    member = _client(auth_url, Credentials(token=_token(auth_url, "mia", member_password)))
    # Default grants give members reader on the sample dataset, nothing on private_ds.
    assert next(iter(member.query_and_wait("SELECT COUNT(*) AS n FROM nyc_taxi")))["n"] == 1_000
    with pytest.raises(exceptions.Forbidden) as refused:
        member.query_and_wait("SELECT * FROM private_ds.secrets")
    assert refused.value.errors[0]["reason"] == "accessDenied"
    assert "private_ds" not in [d.dataset_id for d in member.list_datasets()]
    with pytest.raises(exceptions.Forbidden):
        member.create_dataset("mine")

    # Without a token: 401 in Google's shape (the client then tries to refresh anonymous credentials, and gives up).
    answer = httpx.get(f"{auth_url}/bigquery/v2/projects/p/datasets")
    assert answer.status_code == 401
    assert answer.json()["error"]["errors"][0]["reason"] == "unauthorized"
    with pytest.raises(google.auth.exceptions.GoogleAuthError):
        _client(auth_url, AnonymousCredentials()).query_and_wait("SELECT 1")
    # Someone else's job answers as a missing one.
    job = admin.query("SELECT 2 AS two")
    job.result()
    with pytest.raises(exceptions.NotFound):
        member.get_job(job.job_id)
