"""The ingestion runs unchanged on a real Spark standalone cluster (master + worker on loopback)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pyspark
import pytest

from tests.support.metrics import free_port
from tests.support.streaming import (
    Folders,
    expected_from_files,
    generate,
    ingest_once,
    loaded_event_ids,
    query,
    reset_raw,
)

pytestmark = pytest.mark.integration

SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"


def _wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port} after {timeout}s")


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory):
    """A standalone master and one worker (1 core, 1 GiB), started with pyspark's own spark-class."""
    work = tmp_path_factory.mktemp("spark-worker")
    master_port, master_ui, worker_ui = free_port(), free_port(), free_port()
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", SPARK_NO_DAEMONIZE="1")
    logs = [open(work / "master.log", "wb"), open(work / "worker.log", "wb")]  # noqa: SIM115
    master = subprocess.Popen(
        [
            str(SPARK_CLASS),
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(master_port),
            "--webui-port",
            str(master_ui),
        ],
        env=env,
        stdout=logs[0],
        stderr=subprocess.STDOUT,
    )
    _wait_for_port(master_port)
    url = f"spark://127.0.0.1:{master_port}"
    worker = subprocess.Popen(
        [
            str(SPARK_CLASS),
            "org.apache.spark.deploy.worker.Worker",
            url,
            "--host",
            "127.0.0.1",
            "--cores",
            "1",
            "--memory",
            "1g",
            "--webui-port",
            str(worker_ui),
            "--work-dir",
            str(work / "work"),
        ],
        env=env,
        stdout=logs[1],
        stderr=subprocess.STDOUT,
    )
    _wait_for_port(worker_ui)
    time.sleep(2)  # the worker registers with the master
    yield url, work / "work"
    for process in (worker, master):
        process.terminate()
        process.wait(timeout=30)
    for log in logs:
        log.close()


def test_ingestion_on_a_standalone_cluster_is_exact(warehouse, spark_cluster, tmp_path):
    url, work_dir = spark_cluster
    reset_raw()
    folders = Folders(tmp_path)
    generate(
        folders,
        "--events",
        "20000",
        "--rows-per-file",
        "2000",
        "--seed",
        "21",
        "--bad-rate",
        "0.02",
        "--duplicate-rate",
        "0.02",
    )
    files = sorted(folders.inputs.glob("*.csv"))
    expected_ids, invalid = expected_from_files(files)
    result = ingest_once(
        folders,
        "--master",
        url,
        "--max-files-per-trigger",
        "4",
        "--conf",
        "spark.executor.memory=512m",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"master {url}" in result.stderr
    assert loaded_event_ids() == expected_ids
    assert query("select count(*) from raw.ecommerce_events_rejected") == [(invalid,)]
    assert query("select count(*) from raw.ingestion_batches") == [(3,)]
    # the work was done by an executor the worker launched, not in the driver
    executor_logs = list(work_dir.glob("app-*/*/stderr"))
    assert executor_logs, "no executor ran on the worker"
    assert any("Finished task" in p.read_text(errors="replace") for p in executor_logs)
