"""The real app, started the way `make run` starts it (scripts/run.sh), on free ports with its own data dir."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.server import ROOT, free_port

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"


@dataclass(frozen=True)
class LiveApp:
    api_url: str
    ui_url: str


def _wait_for(url: str, process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {timeout_s} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def ui_build_lock() -> Iterator[None]:
    """The UI build lives in the checkout's .web: two test sessions building it at once would corrupt it.

    Taken once per session (every app fixture depends on it) and held until the session ends."""
    with (ROOT / ".e2e.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def live_app(ui_build_lock: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    yield from _run_app(tmp_path_factory)


ADMIN_PASSWORD = "e2e-admin-password-1"


@pytest.fixture(scope="module")
def auth_app(ui_build_lock: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The app with ``BQLITE_AUTH=on`` and a known first admin, beside ``live_app`` (auth off).

    Its UI bakes in other ports, so it is built in a copy of the checkout's .web (REFLEX_WEB_WORKDIR): rebuilding
    the shared one would point a running ``live_app``'s pages at this backend."""
    web_dir = tmp_path_factory.mktemp("auth-web") / "web"
    if (ROOT / ".web").is_dir():  # reuse the installed packages; only the build itself is redone
        shared = ROOT / ".web"
        shutil.copytree(shared, web_dir, symlinks=True,
                        ignore=lambda folder, names: ["build"] if Path(folder) == shared else [])
    yield from _run_app(tmp_path_factory, name="auth-app", env={
        "BQLITE_AUTH": "on", "BQLITE_ADMIN_PASSWORD": ADMIN_PASSWORD, "REFLEX_WEB_WORKDIR": str(web_dir)})


def _run_app(tmp_path_factory: pytest.TempPathFactory, *, name: str = "live-app",
             env: dict[str, str] | None = None) -> Iterator[LiveApp]:
    data_dir = tmp_path_factory.mktemp(name)
    api_port, ui_port = free_port(), free_port()
    extra = env or {}
    env = {
        **os.environ, "BQLITE_DATA_DIR": str(data_dir), "BQLITE_API_PORT": str(api_port),
        "BQLITE_UI_PORT": str(ui_port), "BQLITE_STORAGE_PORT": str(free_port()), "BQLITE_SAMPLE_ROWS": "2000",
        "LOG_LEVEL": "INFO",
        "BQLITE_CORS_ORIGINS": f'["http://127.0.0.1:{ui_port}"]',
        "REFLEX_TELEMETRY_ENABLED": "false", "REFLEX_CHECK_LATEST_VERSION": "false",
        "PATH": f"{ROOT / '.venv/bin'}:{ROOT / '.tools/bun/node_modules/.bin'}:{os.environ['PATH']}",
        **extra,
    }
    log = data_dir / "app.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([str(ROOT / "scripts/run.sh")], cwd=ROOT, env=env, stdout=sink,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    app = LiveApp(api_url=f"http://127.0.0.1:{api_port}", ui_url=f"http://127.0.0.1:{ui_port}")
    try:
        _wait_for(f"{app.api_url}/health", process, log, timeout_s=300)
        _wait_for(app.ui_url, process, log, timeout_s=600)  # the first run builds the UI
        yield app
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited already (a failed start)
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()
