"""The core promise: every generated row is loaded or quarantined exactly once,
through kill -9 of the streaming job and restarts of PostgreSQL.

Like Flink's tests of its exactly-once JDBC sink: the real generator writes
files while the real streaming job is killed at random moments and started
again; at the end the multiset of loaded event_ids must equal the multiset of
valid lines in every file the generator wrote, and the quarantine must hold
every invalid line.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import pytest

from ecom import localdb
from ingestion import files
from tests.support.streaming import (
    REPO_ROOT,
    Folders,
    expected_from_files,
    ingest_once,
    loaded_event_ids,
    python_module,
    query,
    reset_raw,
    start_stream,
)

pytestmark = pytest.mark.integration


def _start_generator(folders: Folders, seed: int) -> subprocess.Popen:
    return subprocess.Popen(
        python_module(
            "generator",
            "--output-dir",
            str(folders.inputs),
            "--manifest",
            str(folders.manifest),
            "--rate",
            "4000",
            "--interval",
            "0.25",
            "--seed",
            str(seed),
            "--bad-rate",
            "0.01",
            "--duplicate-rate",
            "0.02",
            "--quiet",
        ),
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )


def _batches() -> int:
    return query("select count(*) from raw.ingestion_batches")[0][0]


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def _stop_generator(generator: subprocess.Popen) -> None:
    generator.send_signal(signal.SIGINT)
    _, stderr = generator.communicate(timeout=60)
    assert generator.returncode == 0, stderr


def _all_files_written(folders: Folders) -> list:
    names = [line for line in folders.manifest.read_text().splitlines() if line]
    files = sorted(folders.archive.glob("*.csv"))
    assert len(files) == len(names), "every generated file was archived exactly once"
    assert not list(folders.inputs.glob("*.csv")), "nothing is left waiting"
    return files


def _assert_exactly_once(folders: Folders) -> tuple[int, int]:
    files = _all_files_written(folders)
    expected_ids, invalid = expected_from_files(files)
    loaded = loaded_event_ids()
    assert sum(loaded.values()) == sum(expected_ids.values())
    assert loaded == expected_ids, "loaded event_ids differ from the valid generated lines"
    assert query("select count(*) from raw.ecommerce_events_rejected") == [(invalid,)]
    ledger = query(
        "select coalesce(sum(rows_loaded), 0), coalesce(sum(rows_rejected), 0) "
        "from raw.ingestion_batches"
    )
    assert ledger == [(sum(expected_ids.values()), invalid)]
    return sum(expected_ids.values()), invalid


def test_kill_9_at_random_moments_loses_and_doubles_nothing(warehouse, tmp_path):
    reset_raw()
    folders = Folders(tmp_path)
    rng = random.Random(20261125)
    log = tmp_path / "stream.log"
    generator = _start_generator(folders, seed=3)
    kills = 0
    try:
        for _ in range(6):
            stream = start_stream(
                folders, "--trigger", "0.2", "--max-files-per-trigger", "2", log_path=log
            )
            before = _batches()
            _wait_for(lambda b=before: _batches() > b, 90, "a batch to commit")
            time.sleep(rng.uniform(0.0, 1.5))  # somewhere in a later batch, or between two
            os.killpg(stream.pid, signal.SIGKILL)
            stream.wait(timeout=30)
            kills += 1
    finally:
        _stop_generator(generator)
    result = ingest_once(folders)
    assert result.returncode == 0, result.stderr
    loaded, rejected = _assert_exactly_once(folders)
    assert kills == 6 and loaded > 10_000 and rejected > 0
    print(f"kill -9 x{kills}: {loaded} rows loaded, {rejected} quarantined, exactly once")


def test_postgres_restart_while_streaming_loses_and_doubles_nothing(warehouse, tmp_path):
    reset_raw()
    folders = Folders(tmp_path)
    log = tmp_path / "stream.log"
    generator = _start_generator(folders, seed=4)
    stream = start_stream(folders, "--trigger", "0.2", "--max-files-per-trigger", "2", log_path=log)
    try:
        _wait_for(lambda: _batches() > 0, 90, "a first batch")
        localdb.down()
        time.sleep(3)  # the job keeps reading files and retrying its batch meanwhile
        localdb.up()
        restarted_at = _batches()
        _wait_for(lambda: _batches() > restarted_at + 2, 90, "batches after the restart")
    finally:
        _stop_generator(generator)
    # drained: nothing waits in the inputs folder, and nothing claimed is still in flight
    _wait_for(
        lambda: not list(folders.inputs.glob("*.csv")) and not files.in_flight(folders.checkpoint),
        90,
        "the stream to drain its inputs",
    )
    stream.send_signal(signal.SIGTERM)
    assert stream.wait(timeout=90) == 0
    text = log.read_text(errors="replace")
    assert "PostgreSQL unreachable" in text, "the outage was noticed and retried"
    assert "SIGTERM received" in text and "stopped:" in text
    _assert_exactly_once(folders)
