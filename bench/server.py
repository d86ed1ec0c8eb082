"""Start the real backend (``reflex run --backend-only``) on a free port with its own data dir."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_backend(data_dir: Path, *, sample_rows: int = 1_000_000, extra_env: dict[str, str] | None = None,
                    startup_timeout_s: float = 300) -> Iterator[str]:
    """Yield the base URL of a backend serving the REST API; stop it afterwards."""
    port = free_port()
    env = {
        **os.environ, "BQLITE_DATA_DIR": str(data_dir), "BQLITE_API_PORT": str(port),
        "BQLITE_SAMPLE_ROWS": str(sample_rows), "LOG_LEVEL": "WARNING",
        # Each backend its own Storage Read API port, so several (and a `make run`) can run side by side.
        "BQLITE_STORAGE_PORT": str(free_port()),
        "REFLEX_TELEMETRY_ENABLED": "false", "REFLEX_CHECK_LATEST_VERSION": "false",
        **(extra_env or {}),
    }
    env["PATH"] = f"{ROOT / '.venv/bin'}:{ROOT / '.tools/bun/node_modules/.bin'}:{env['PATH']}"
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / "backend.log", "ab")
    process = subprocess.Popen(
        ["reflex", "run", "--env", "prod", "--backend-only", "--backend-port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"backend exited with {process.returncode}; see {data_dir / 'backend.log'}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("backend did not become healthy")
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
        log.close()
