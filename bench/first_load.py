"""First load of the workspace in Chromium until it is interactive, against a static page served by the same UI
server (the baseline, measured in the same run). Target: interactive in under 2 s.

Starts the whole app as `make run` does (scripts/run.sh) on free ports; run it with `python -m bench.first_load`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from bench.server import ROOT, free_port

ROUNDS = 5


def _start(data_dir: Path) -> tuple[subprocess.Popen, str]:
    api_port, ui_port = free_port(), free_port()
    env = {**os.environ, "BQLITE_DATA_DIR": str(data_dir), "BQLITE_API_PORT": str(api_port),
           "BQLITE_UI_PORT": str(ui_port), "BQLITE_SAMPLE_ROWS": "2000",
           "BQLITE_CORS_ORIGINS": f'["http://127.0.0.1:{ui_port}"]',
           "PATH": f"{ROOT / '.venv/bin'}:{ROOT / '.tools/bun/node_modules/.bin'}:{os.environ['PATH']}"}
    process = subprocess.Popen([str(ROOT / "scripts/run.sh")], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    ui = f"http://127.0.0.1:{ui_port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if httpx.get(ui, timeout=2).status_code == 200 and httpx.get(
                    f"http://127.0.0.1:{api_port}/health", timeout=2).status_code == 200:
                return process, ui
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError("the app did not start")


def main() -> None:
    data_dir = ROOT / "data" / "bench" / "first-load"
    data_dir.mkdir(parents=True, exist_ok=True)
    process, ui = _start(data_dir)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
            static, interactive = [], []
            for _ in range(ROUNDS):
                page = browser.new_page()       # a fresh page each round: no in-memory cache
                started = time.perf_counter()
                page.goto(f"{ui}/404.html", wait_until="load")
                static.append(time.perf_counter() - started)
                page.close()
                page = browser.new_page()
                started = time.perf_counter()
                page.goto(ui)
                # Interactive: the editor is mounted (after hydration) and Run is enabled.
                page.get_by_role("textbox", name="SQL editor").wait_for()
                page.get_by_role("button", name="Run").wait_for(state="visible")
                interactive.append(time.perf_counter() - started)
                page.close()
            browser.close()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    best, median = min(interactive), sorted(interactive)[len(interactive) // 2]
    print(f"workspace interactive: best {best * 1000:.0f} ms, median {median * 1000:.0f} ms (target < 2000 ms); "
          f"static page {min(static) * 1000:.0f} ms; ratio {median / min(static):.1f}")


if __name__ == "__main__":
    main()
