"""`make run` supervises its two processes (scripts/supervise.sh, used by scripts/run.sh).

Fake servers stand in for `reflex run` (a parent that forks a worker, as reflex does) and the UI server, so no UI is
built: what is tested is the supervision itself, through the same shell functions run.sh calls.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A server like `reflex run`: the process we start forks the worker that actually serves, then waits.
FAKE_SERVER = """
import subprocess, sys, time
from pathlib import Path
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
Path(sys.argv[1]).write_text(f"{__import__('os').getpid()} {worker.pid}")
time.sleep(3600)
"""

SUPERVISOR = """
set -euo pipefail
source "$ROOT/scripts/supervise.sh"
supervise_start "the fake backend" "$PYTHON" "$DIR/server.py" "$DIR/backend.pids"
supervise_start "the fake UI" "$PYTHON" "$DIR/server.py" "$DIR/ui.pids"
supervise_wait
"""


@dataclass
class Supervised:
    supervisor: subprocess.Popen
    backend: tuple[int, int]  # (the process we started, its worker)
    ui: tuple[int, int]


def _pids(path: Path, supervisor: subprocess.Popen) -> tuple[int, int]:
    deadline = time.monotonic() + 60
    while not (path.exists() and len(path.read_text().split()) == 2):
        assert supervisor.poll() is None, supervisor.communicate()
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)
    parent, worker = path.read_text().split()
    return int(parent), int(worker)


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[Supervised]:
    (tmp_path / "server.py").write_text(FAKE_SERVER)
    env = {**os.environ, "ROOT": str(ROOT), "DIR": str(tmp_path), "PYTHON": sys.executable,
           "SUPERVISE_GRACE_S": "20"}
    # Its own session, as a terminal's foreground job: Ctrl+C is a SIGINT to this group.
    supervisor = subprocess.Popen(["bash", "-c", SUPERVISOR], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        yield Supervised(supervisor, _pids(tmp_path / "backend.pids", supervisor),
                         _pids(tmp_path / "ui.pids", supervisor))
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait()


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan may wait to be reaped, but it serves nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_when_the_backend_parent_dies_its_worker_and_the_ui_are_stopped(supervised: Supervised):
    os.kill(supervised.backend[0], signal.SIGKILL)  # what left the worker serving on :8000 before
    _, stderr = supervised.supervisor.communicate(timeout=120)
    assert supervised.supervisor.returncode == 1
    assert "the fake backend" in stderr and "exited unexpectedly" in stderr and "stopping the fake UI" in stderr
    assert not any(_running(pid) for pid in (*supervised.backend, *supervised.ui))


def test_when_the_ui_dies_the_backend_is_stopped(supervised: Supervised):
    os.kill(supervised.ui[0], signal.SIGTERM)
    _, stderr = supervised.supervisor.communicate(timeout=120)
    assert supervised.supervisor.returncode == 1
    assert "the fake UI" in stderr and "stopping the fake backend" in stderr
    assert not any(_running(pid) for pid in (*supervised.backend, *supervised.ui))


def test_ctrl_c_stops_both_and_exits_130(supervised: Supervised):
    os.killpg(supervised.supervisor.pid, signal.SIGINT)  # the terminal's Ctrl+C reaches only the foreground group
    _, stderr = supervised.supervisor.communicate(timeout=120)
    assert supervised.supervisor.returncode == 130
    assert "exited unexpectedly" not in stderr
    assert not any(_running(pid) for pid in (*supervised.backend, *supervised.ui))


def test_run_sh_uses_the_supervisor():
    # run.sh itself needs a built UI and reflex; it must at least go through these functions, never bare `&`.
    script = (ROOT / "scripts/run.sh").read_text()
    assert "source scripts/supervise.sh" in script and "supervise_wait" in script
    assert script.count("supervise_start ") == 3
    assert not [line for line in script.splitlines() if line.rstrip().endswith("&") and "#" not in line]
    assert subprocess.run(["bash", "-n", str(ROOT / "scripts/run.sh")]).returncode == 0
