"""The ClickHouse test server (a fixture over chdb), driven through the real clickhouse-connect HTTP client."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import clickhouse_connect
import pyarrow as pa
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError
from clickhouse_connect.driver.summary import QuerySummary

from tests.support.ch_test_server_process import TestServerProcess

LONG_QUERY = "SELECT sum(sipHash64(number)) FROM numbers_mt(1000000000000)"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServerProcess]:
    with TestServerProcess(tmp_path_factory.mktemp("ch-test-server")) as process:
        yield process


def connect(server: TestServerProcess, **kwargs: Any) -> Client:
    return clickhouse_connect.get_client(host=server.host, port=server.port, autogenerate_session_id=False, **kwargs)


@pytest.fixture(scope="module")
def client(server: TestServerProcess) -> Client:
    return connect(server)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll a condition (a query against the server) until it holds; the server is the only thing to wait on."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def running(client: Client, tag: str) -> list[tuple]:
    return client.query("SELECT query FROM system.processes WHERE query LIKE {p:String}",
                        parameters={"p": f"/* {tag} */%"}).result_rows


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = call()
        except Exception as ex:  # the test inspects it
            outcome["error"] = ex

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def http(server: TestServerProcess, path: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(server.url + path, data=body), timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_ping_and_root(server: TestServerProcess) -> None:
    assert http(server, "/ping")[::2] == (200, b"Ok.\n")
    assert http(server, "/")[::2] == (200, b"Ok.\n")


def test_handshake_reads_version_and_timezone(client: Client) -> None:
    assert client.server_version.startswith("26.")
    assert client.server_tz is not None


def test_query_formats(client: Client) -> None:
    result = client.query("SELECT number AS n, toString(number) AS s FROM numbers(3)")
    assert result.column_names == ("n", "s")
    assert result.result_rows == [(0, "0"), (1, "1"), (2, "2")]
    assert client.query_arrow("SELECT 1 AS x").column("x").to_pylist() == [1]
    empty = client.query("SELECT 1 AS x, 'a' AS y WHERE 0")  # a server still sends the header block
    assert (empty.column_names, empty.result_rows) == (("x", "y"), [])
    with client.query_column_block_stream("SELECT toDate(0) AS d WHERE 0") as stream:
        assert sum(len(block[0]) for block in stream) == 0
    assert client.raw_query("SELECT 1 AS x", fmt="TabSeparatedWithNames") == b"x\n1\n"
    assert client.raw_query("SELECT 2 FORMAT CSV") == b"2\n"
    assert client.raw_query("SELECT 1 AS x", fmt="RowBinaryWithNamesAndTypes") == b"\x01\x01x\x05UInt8\x01"


def test_response_headers(server: TestServerProcess) -> None:
    status, headers, body = http(server, "/?query_id=q-headers&default_format=JSONEachRow", b"SELECT 1 AS one")
    assert (status, body) == (200, b'{"one":1}\n')
    assert headers["X-ClickHouse-Query-Id"] == "q-headers"
    assert headers["X-ClickHouse-Format"] == "JSONEachRow"
    assert headers["X-ClickHouse-Timezone"]
    assert headers["X-ClickHouse-Server-Display-Name"]
    summary = json.loads(headers["X-ClickHouse-Summary"])
    assert set(summary) >= {"read_rows", "written_rows", "elapsed_ns", "result_bytes"}


def test_streaming_blocks(client: Client) -> None:
    with client.query_column_block_stream("SELECT number FROM numbers(1000000)",
                                          settings={"max_block_size": 10000}) as stream:
        sizes = [len(block[0]) for block in stream]
    assert sum(sizes) == 1_000_000 and len(sizes) > 1


def test_server_side_parameters(client: Client) -> None:
    assert client.query("SELECT {x:UInt8} + 1, {s:String}", parameters={"x": 4, "s": "it's"}).result_rows == [
        (5, "it's")]


def test_command_insert_and_summary(client: Client) -> None:
    created = client.command("CREATE TABLE IF NOT EXISTS ins (a Int64, s String) ENGINE = MergeTree ORDER BY a")
    assert isinstance(created, QuerySummary)
    summary = client.insert("ins", [[1, "a"], [2, "b"]], column_names=["a", "s"])
    assert summary.written_rows == 2
    client.insert_arrow("ins", pa.table({"a": [3], "s": ["c"]}))
    client.command("INSERT INTO ins (a, s) VALUES (4, 'd')")
    client.raw_insert("ins", ["a", "s"], b"5\te\n", fmt="TabSeparated")
    assert client.query("SELECT a, s FROM ins ORDER BY a").result_rows == [
        (1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]
    assert client.command("SELECT count() FROM ins") == 5


@pytest.mark.parametrize("compress", ["lz4", "zstd", "gzip"])  # clickhouse-connect cannot write deflate
def test_compression_both_ways(server: TestServerProcess, compress: str) -> None:
    client = connect(server, compress=compress)
    table = f"comp_{compress}"
    client.command(f"CREATE TABLE {table} (a UInt64) ENGINE = MergeTree ORDER BY a")
    client.insert(table, [[i] for i in range(50000)], column_names=["a"])
    assert client.query(f"SELECT sum(a), count() FROM {table}").result_rows == [(sum(range(50000)), 50000)]
    with client.query_column_block_stream(f"SELECT a FROM {table}", settings={"max_block_size": 5000}) as stream:
        assert sum(len(block[0]) for block in stream) == 50000


def test_settings_apply_to_one_request_only(client: Client) -> None:
    assert client.command("SELECT getSetting('max_threads')", settings={"max_threads": 3}) == 3
    assert client.command("SELECT getSetting('max_threads')") != 3


def test_readonly_is_enforced(client: Client) -> None:
    client.command("CREATE TABLE IF NOT EXISTS ro (a Int64) ENGINE = MergeTree ORDER BY a")
    refused = ["INSERT INTO ro VALUES (1)", "SELECT * FROM file('/etc/hostname', 'LineAsString')",
               "SELECT 1 SETTINGS max_threads = 7", "SELECT 1 SETTINGS readonly = 0", "SET max_threads = 7",
               "DROP TABLE ro"]
    for sql in refused:
        with pytest.raises(DatabaseError) as caught:
            client.command(sql, settings={"readonly": 1})
        assert "READONLY" in str(caught.value) or "ACCESS_DENIED" in str(caught.value), sql
    assert client.command("SELECT count() FROM ro", settings={"readonly": 1}) == 0
    client.command("INSERT INTO ro VALUES (1)")  # readonly did not stick to anything


def test_errors_carry_clickhouse_text_and_status(server: TestServerProcess, client: Client) -> None:
    with pytest.raises(DatabaseError) as caught:
        client.query("SELEC 1")
    assert "Code: 62. DB::Exception" in str(caught.value) and "(SYNTAX_ERROR) (version 26." in str(caught.value)
    assert "ch-test-server" not in str(caught.value)
    status, headers, body = http(server, "/", b"SELECT * FROM no_such_table")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (404, "60")
    assert body.startswith(b"Code: 60. DB::Exception:")
    assert http(server, "/", b"SELEC 1")[0] == 400
    assert http(server, "/", b"SELECT throwIf(1)")[0] == 500


def test_error_after_streaming_started_raises(client: Client) -> None:
    sql = "SELECT throwIf(number = 50000, 'boom mid-stream') AS x FROM numbers(100000)"
    with pytest.raises(DatabaseError, match="boom mid-stream"):
        with client.query_column_block_stream(sql, settings={"max_block_size": 1000}) as stream:
            for _ in stream:
                pass


def test_database_parameter(server: TestServerProcess, client: Client) -> None:
    client.command("CREATE DATABASE IF NOT EXISTS other")
    client.command("CREATE TABLE IF NOT EXISTS other.t (a Int64) ENGINE = MergeTree ORDER BY a")
    other = connect(server, database="other")
    other.insert("t", [[7]], column_names=["a"])
    assert other.command("SELECT currentDatabase()") == "other"
    assert other.command("SELECT sum(a) FROM t") == 7


def test_kill_by_query_id_cancels_a_running_query(client: Client) -> None:
    tag, query_id = f"t:{uuid.uuid4()}", str(uuid.uuid4())
    thread, outcome = in_thread(lambda: client.query(f"/* {tag} */ {LONG_QUERY}", settings={"query_id": query_id}))
    rows = wait_for(lambda: running(client, tag), "the query in system.processes")
    assert rows[0][0].startswith(f"/* {tag} */ SELECT")  # the client's own text comes first
    answer = client.command(f"KILL QUERY ON CLUSTER default WHERE query_id = '{query_id}' ASYNC")
    assert answer[:2] == ["waiting", query_id]
    thread.join(30)
    assert getattr(outcome.get("error"), "code", None) == 394
    assert client.command("KILL QUERY WHERE query_id = 'no-such-query' SYNC") == ""


def test_kill_by_comment_passes_through(client: Client) -> None:
    tag = f"t:{uuid.uuid4()}"
    thread, outcome = in_thread(lambda: client.query(f"/* {tag} */ {LONG_QUERY}"))
    wait_for(lambda: running(client, tag), "the query in system.processes")
    client.command(f"KILL QUERY WHERE query LIKE '/* {tag} */%' ASYNC")
    thread.join(30)
    assert getattr(outcome.get("error"), "code", None) == 394


def test_kill_a_paused_stream(server: TestServerProcess, client: Client) -> None:
    tag, query_id = f"t:{uuid.uuid4()}", str(uuid.uuid4())
    reader = connect(server)
    stream = reader.query_column_block_stream(f"/* {tag} */ SELECT number FROM numbers(10000000000)",
                                              settings={"query_id": query_id, "max_block_size": 1000})
    with stream:
        next(iter(stream))  # one block read, then the client stops reading: the server pauses on a full socket
        wait_for(lambda: running(client, tag), "the streamed query in system.processes")
        assert client.command(f"KILL QUERY WHERE query_id = '{query_id}'")[1] == query_id
    wait_for(lambda: not running(client, tag), "the killed stream to end")


def test_sessions_keep_state_and_lock(server: TestServerProcess) -> None:
    session = str(uuid.uuid4())
    first, second = connect(server, session_id=session), connect(server, session_id=session)
    first.command("CREATE TEMPORARY TABLE tmp (a Int64)")
    first.command("INSERT INTO tmp VALUES (1)")
    assert second.command("SELECT count() FROM tmp") == 1
    tag, query_id = f"t:{uuid.uuid4()}", str(uuid.uuid4())
    thread, _ = in_thread(lambda: first.query(f"/* {tag} */ {LONG_QUERY}", settings={"query_id": query_id}))
    observer = connect(server)
    wait_for(lambda: running(observer, tag), "the session's query in system.processes")
    with pytest.raises(DatabaseError) as caught:
        second.command("SELECT 1")
    assert caught.value.code == 373 and "SESSION_IS_LOCKED" in str(caught.value)
    observer.command(f"KILL QUERY WHERE query_id = '{query_id}'")
    thread.join(30)


def test_credentials_are_checked_and_never_logged(tmp_path: Path) -> None:
    with TestServerProcess(tmp_path, password="s3cret-pw") as protected:
        assert connect(protected, username="default", password="s3cret-pw").command("SELECT 1") == 1
        with pytest.raises(DatabaseError, match="AUTHENTICATION_FAILED"):
            connect(protected, username="default", password="wrong")
        assert "s3cret-pw" not in protected.log()


def test_restart_keeps_data(server: TestServerProcess) -> None:
    client = connect(server)
    client.command("CREATE TABLE IF NOT EXISTS kept (a Int64) ENGINE = MergeTree ORDER BY a")
    client.insert("kept", [[42]], column_names=["a"])
    server.restart()
    assert connect(server).command("SELECT sum(a) FROM kept") == 42
