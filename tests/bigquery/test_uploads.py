"""Load-job uploads under attack: malformed multipart bodies and ranges, forged or foreign session ids, oversized
uploads. Every one is a 4xx in Google's envelope, and nothing is left on disk."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bqlite_app.access.principal import Principal
from bqlite_app.bigquery.errors import BigQueryError
from bqlite_app.bigquery.uploads import ResumableSessions
from tests.conftest import run_coroutine

LOAD = {"configuration": {"load": {"destinationTable": {"projectId": "p", "datasetId": "d", "tableId": "t"},
                                   "sourceFormat": "CSV", "autodetect": True}}}


def _reason(answer: httpx.Response) -> str:
    return answer.json()["error"]["errors"][0]["reason"]


@pytest.fixture
def upload_url(bq_url: str) -> str:
    return f"{bq_url}/upload/bigquery/v2/projects/p/jobs"


def test_malformed_multipart_bodies_are_invalid(upload_url: str) -> None:
    answer = httpx.post(upload_url, params={"uploadType": "multipart"}, content=b"x",
                        headers={"content-type": "text/plain"})
    assert answer.status_code == 400 and _reason(answer) == "invalid"
    three = (b"--b\r\ncontent-type: application/json\r\n\r\n{}\r\n--b\r\n\r\nx\r\n--b\r\n\r\ny\r\n--b--\r\n")
    answer = httpx.post(upload_url, params={"uploadType": "multipart"}, content=three,
                        headers={"content-type": 'multipart/related; boundary="b"'})
    assert answer.status_code == 400 and "two parts" in answer.json()["error"]["message"]
    not_json = b"--b\r\ncontent-type: application/json\r\n\r\n{oops\r\n--b\r\n\r\nx\r\n--b--\r\n"
    answer = httpx.post(upload_url, params={"uploadType": "multipart"}, content=not_json,
                        headers={"content-type": 'multipart/related; boundary="b"'})
    assert answer.status_code == 400
    answer = httpx.post(upload_url, params={"uploadType": "media"}, content=b"x")
    assert answer.status_code == 400


def test_a_bad_job_resource_fails_the_session_before_any_data(upload_url: str) -> None:
    answer = httpx.post(upload_url, params={"uploadType": "resumable"}, json={"configuration": {}})
    assert answer.status_code == 400 and "configuration.load" in answer.json()["error"]["message"]
    bad_format = json.loads(json.dumps(LOAD))
    bad_format["configuration"]["load"]["sourceFormat"] = "ORC"
    answer = httpx.post(upload_url, params={"uploadType": "resumable"}, json=bad_format)
    assert answer.status_code == 400


def test_forged_sessions_and_ranges(upload_url: str) -> None:
    for upload_id in ("nope", "../../etc/passwd", "A" * 40, ""):
        answer = httpx.put(upload_url, params={"uploadType": "resumable", "upload_id": upload_id}, content=b"x",
                           headers={"content-range": "bytes 0-0/1"})
        assert answer.status_code == 404 and _reason(answer) == "notFound", upload_id
    session = httpx.post(upload_url, params={"uploadType": "resumable"}, json=LOAD)
    assert session.status_code == 200
    location = session.headers["location"]
    assert location.startswith(upload_url)
    for header in ("bytes=0-1", "bytes 5-1/*", "bytes a-b/*"):
        answer = httpx.put(location, content=b"ab", headers={"content-range": header})
        assert answer.status_code == 400, header
    answer = httpx.put(location, content=b"abc", headers={"content-range": "bytes 0-2/*"})
    assert answer.status_code == 308 and answer.headers["range"] == "bytes=0-2"
    answer = httpx.put(location, content=b"xyz", headers={"content-range": "bytes 0-2/*"})  # not where it left off
    assert answer.status_code == 400 and "resume" in answer.json()["error"]["message"]
    answer = httpx.put(location, content=b"", headers={"content-range": "bytes */*"})       # how far did it get?
    assert answer.status_code == 308 and answer.headers["range"] == "bytes=0-2"


def _stream(*chunks: bytes):  # type: ignore[no-untyped-def]
    async def gen():  # type: ignore[no-untyped-def]
        for chunk in chunks:
            yield chunk
    return gen()


def test_sessions_belong_to_their_user_and_are_capped(tmp_path: Path) -> None:
    sessions = ResumableSessions(tmp_path, limit=10)
    ann, bob = Principal("ann", "member", "u_ann"), Principal("bob", "member", "u_bob")
    upload_id = sessions.open({"configuration": {}}, ann)
    with pytest.raises(BigQueryError) as foreign:
        run_coroutine(sessions.put(upload_id, bob, "bytes 0-0/1", _stream(b"x")))
    assert foreign.value.status == 404
    with pytest.raises(BigQueryError) as too_big:
        run_coroutine(sessions.put(upload_id, ann, "bytes 0-10/*", _stream(b"x" * 6, b"y" * 5)))
    assert too_big.value.status == 413
    received, done = run_coroutine(sessions.put(upload_id, ann, None, _stream()))
    assert done is None and received <= 10
