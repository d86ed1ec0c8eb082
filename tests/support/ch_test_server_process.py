"""Run the ClickHouse test server (a test fixture over chdb) as a child process.

A subprocess, not a thread: chdb allows one data path per process, and the test process already runs embedded chdb
on its own path.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

_REPO = Path(__file__).resolve().parents[2]
_START_DEADLINE = 60.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class TestServerProcess:
    """`python -m tests.support.clickhouse_test_server` on `path`; start() returns once /ping answers."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, path: Path, port: int | None = None, host: str = "127.0.0.1", password: str | None = None,
                 tls: tuple[Path, Path] | None = None):
        """``tls`` = (certificate, key) PEM files serves HTTPS."""
        self.path = Path(path)
        self.host = host
        self.port = port or free_port(host)
        self.password = password
        self.tls = tls
        self._process: subprocess.Popen[bytes] | None = None
        self._log: tempfile._TemporaryFileWrapper[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> TestServerProcess:
        if self._process is not None and self._process.poll() is None:
            return self
        # The log goes to a file, not a pipe: an unread pipe would fill and block the server.
        self._log = tempfile.NamedTemporaryFile(prefix="ch-test-server-", suffix=".log")  # noqa: SIM115
        command = [sys.executable, "-m", "tests.support.clickhouse_test_server",
                   "--host", self.host, "--port", str(self.port), "--path", str(self.path)]
        if self.tls:
            command += ["--certfile", str(self.tls[0]), "--keyfile", str(self.tls[1])]
        env = dict(os.environ)
        if self.password is not None:
            env["CH_TEST_PASSWORD"] = self.password
        self._process = subprocess.Popen(command, cwd=_REPO, env=env, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + _START_DEADLINE
        while not self._ping():
            if self._process.poll() is not None:
                raise RuntimeError(f"The ClickHouse test server exited ({self._process.returncode}):\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"The ClickHouse test server did not answer /ping in {_START_DEADLINE:.0f}s:\n"
                                   f"{self.log()}")
            time.sleep(0.05)  # a poll interval: nothing to wait on but the port
        return self

    def stop(self) -> None:
        """Terminate the server and wait for it; the data dir stays for a restart."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> TestServerProcess:
        self.stop()
        return self.start()

    def log(self) -> str:
        """What the server wrote so far (one line per request)."""
        if self._log is None:
            return ""
        # pread through the open file: it survives a tmp cleaner, and leaves the offset the child shares alone.
        fd = self._log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def _ping(self) -> bool:
        try:
            # Only "is it up?": the tests judge the certificate themselves.
            context = ssl._create_unverified_context() if self.tls else None
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1, context=context) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def __enter__(self) -> TestServerProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
