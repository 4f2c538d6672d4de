"""`ecom stream --spark-ui`: Spark's web UI, on loopback only, and off without the flag."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.metrics import free_port
from tests.support.streaming import REPO_ROOT, Folders

pytestmark = pytest.mark.integration


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.append(address)
    return found


LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


@pytest.mark.parametrize("enabled", [True, False])
def test_the_spark_ui_is_behind_a_flag_and_on_loopback(warehouse, tmp_path, enabled):
    folders = Folders(tmp_path)
    folders.inputs.mkdir(parents=True)
    port = free_port()
    flags = ["--spark-ui", "--spark-ui-port", str(port)] if enabled else []
    job = subprocess.Popen(
        [sys.executable, "-m", "ecom", "stream", *folders.ingestion_args(), *flags],
        cwd=REPO_ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = job.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "watching" in line:
                break
        assert any("watching" in line for line in lines), "".join(lines)
        time.sleep(1)
        if enabled:
            assert any("Spark UI: http://" in line and f":{port}" in line for line in lines), lines
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/jobs/", timeout=10) as page:
                assert page.status == 200
            addresses = _listening(port)
            assert addresses and set(addresses) <= LOOPBACK, addresses
        else:
            # the job logs the UI's address whenever Spark has one
            assert not any("Spark UI" in line for line in lines), lines
    finally:
        os.killpg(job.pid, signal.SIGTERM)
        job.wait(timeout=60)
