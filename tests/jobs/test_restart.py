"""A killed server loses nothing: running jobs fail with a reason, queued jobs run after restart."""

import json
import signal
import subprocess
import sys

import pytest


def spawn(data_dir, command: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.jobs.core_process", str(data_dir), command],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, timeout_s: float = 120) -> tuple[str, str]:
    """Its output once it exits; a process that hangs is killed, not left behind."""
    try:
        return process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise


@pytest.mark.timeout(180)
def test_kill_mid_job_then_restart(tmp_path):
    server = spawn(tmp_path, "submit-and-hang")
    ids = json.loads(server.stdout.readline())
    server.send_signal(signal.SIGKILL)
    server.wait(10)

    restarted = spawn(tmp_path, "resume")
    out, err = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, err
    jobs = json.loads(out)
    interrupted, resumed = jobs[ids["running"]], jobs[ids["queued"]]
    assert interrupted["status"] == "failed"
    assert interrupted["error"] == "interrupted by restart"
    assert resumed["status"] == "completed" and resumed["rows_returned"] == 1


@pytest.mark.timeout(180)
def test_stopping_the_server_mid_job_says_so_and_queued_jobs_resume(tmp_path):
    server = spawn(tmp_path, "submit-and-stop")
    out, err = finish(server)   # a stop that never reached the engine would hang here
    assert server.returncode == 0, err
    ids = json.loads(out)

    restarted = spawn(tmp_path, "resume")
    out, err = finish(restarted)
    assert restarted.returncode == 0, err
    jobs = json.loads(out)
    stopped, resumed = jobs[ids["running"]], jobs[ids["queued"]]
    assert stopped["status"] == "failed"
    assert stopped["error"] == "stopped by server shutdown"
    assert resumed["status"] == "completed" and resumed["rows_returned"] == 1


@pytest.mark.timeout(180)
def test_query_over_the_memory_limit_fails_clearly_and_the_server_stays_up(tmp_path):
    process = spawn(tmp_path, "memory")
    out, err = process.communicate(timeout=150)
    assert process.returncode == 0, err
    heavy, light = json.loads(out)
    assert heavy["status"] == "failed"
    assert "memory" in heavy["error"].lower()
    assert light["status"] == "completed"
