"""The project-managed PostgreSQL: up, down, up again, crash recovery.

These run ``ecom`` (as ``python -m ecom``) in subprocesses against a cluster of their
own (another state folder and port), exactly as ``make up`` / ``make down`` do.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def own_cluster():
    state = REPO_ROOT / ".warehouse" / "test-localdb"
    env = dict(os.environ)
    env.update(
        ECOM_STATE_DIR=str(state),
        ECOM_ENV_FILE=str(state / ".env"),
        ECOM_LOCAL_PGPORT="auto",
    )

    def pipeline(*args: str, **extra_env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ecom", *args],
            env={**env, **extra_env},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    pipeline.state = state  # type: ignore[attr-defined]
    yield pipeline
    pipeline("destroy")


def _select_one(pipeline) -> str:
    result = pipeline("psql", "-XAtc", "select 40 + 2")
    return result.stdout.strip()


def test_up_down_up(own_cluster):
    first = own_cluster("up")
    assert first.returncode == 0, first.stderr
    assert "ready:" in first.stderr
    assert _select_one(own_cluster) == "42"
    env_file = own_cluster.state / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600

    again = own_cluster("up")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stderr

    down = own_cluster("down")
    assert down.returncode == 0, down.stderr
    assert own_cluster("status").returncode == 1

    up = own_cluster("up")
    assert up.returncode == 0, up.stderr
    assert _select_one(own_cluster) == "42"


def test_refuses_anything_but_passwords_on_loopback(own_cluster):
    assert own_cluster("up").returncode == 0
    data = own_cluster.state / "postgres" / "data"
    hba = [
        line.split()
        for line in (data / "pg_hba.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {entry[-1] for entry in hba} == {"scram-sha-256"}
    assert {entry[-2] for entry in hba if entry[0] == "host"} == {"127.0.0.1/32"}
    shown = own_cluster("psql", "-XAtc", "show listen_addresses").stdout.strip()
    assert shown == "127.0.0.1"


def test_recovers_after_a_crash(own_cluster):
    assert own_cluster("up").returncode == 0
    pidfile = own_cluster.state / "postgres" / "data" / "postmaster.pid"
    pid = int(pidfile.read_text().splitlines()[0])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    assert pidfile.exists(), "a crashed postmaster leaves its pid file behind"
    result = own_cluster("up")
    assert result.returncode == 0, result.stderr
    assert _select_one(own_cluster) == "42"


def test_stale_pid_file_of_another_program_is_recovered(own_cluster):
    assert own_cluster("up").returncode == 0
    assert own_cluster("down").returncode == 0
    pidfile = own_cluster.state / "postgres" / "data" / "postmaster.pid"
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        pidfile.write_text(f"{sleeper.pid}\n")
        result = own_cluster("up")
        assert result.returncode == 0, result.stderr
        assert _select_one(own_cluster) == "42"
    finally:
        sleeper.kill()


def _recorded_port(own_cluster) -> int:
    for line in (own_cluster.state / ".env").read_text().splitlines():
        if line.startswith("PGPORT="):
            return int(line.partition("=")[2])
    raise AssertionError("no PGPORT in .env")


def _blocking(port: int):
    import socket

    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", port))
    blocker.listen()
    return blocker


def test_port_taken_moves_to_a_free_port_and_records_it(own_cluster):
    assert own_cluster("up").returncode == 0
    assert own_cluster("down").returncode == 0
    before = _recorded_port(own_cluster)
    with _blocking(before):
        result = own_cluster("up")
        assert result.returncode == 0, result.stderr
        assert f"port {before} on 127.0.0.1 is taken" in result.stderr
        after = _recorded_port(own_cluster)
        assert after != before
        assert _select_one(own_cluster) == "42"


def test_pinned_port_taken_is_one_clear_line(own_cluster):
    assert own_cluster("down").returncode == 0
    port = _recorded_port(own_cluster)
    with _blocking(port):
        result = own_cluster("up", ECOM_LOCAL_PGPORT=str(port))
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr
    assert "Traceback" not in result.stderr
