"""The stream's Prometheus metrics, scraped while it runs and parsed by prometheus_client itself."""

from __future__ import annotations

import os
import signal

import pytest

from pipeline import contract
from tests.support.metrics import free_port, scrape
from tests.support.streaming import (
    Folders,
    deliver,
    loaded_files,
    reset_raw,
    start_stream,
    wait_for,
)


@pytest.fixture
def stream(warehouse, tmp_path):
    reset_raw()
    folders = Folders(tmp_path)
    folders.inputs.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    port = free_port()
    log = tmp_path / "stream.log"
    process = start_stream(folders, "--trigger", "0.2", "--metrics-port", str(port), log_path=log)
    try:
        yield (folders, outside, process, log), port
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=120)


def test_the_stream_serves_its_metrics(stream):
    running, port = stream
    good = "00000000-0000-4000-8000-00000000000{},view,1,Ann,2,Desk,Office,9.50,1,{},s1"
    lines = [good.format(1, "2026-11-25T10:00:00Z"), good.format(2, "yesterday")]
    deliver(running, "a.csv", "\n".join([contract.CSV_HEADER, *lines]) + "\n")
    deliver(running, "b.csv", "event_id,event_id\n1,2\n")  # a column twice: quarantined whole
    wait_for(lambda: loaded_files("a.csv") and loaded_files("b.csv"), running, "both files")

    def scraped():
        found = scrape(port)
        return found if found.get(("ecom_ingest_files_total", (("outcome", "loaded"),))) else None

    metrics = wait_for(scraped, running, "the loaded file in the metrics")
    assert metrics[("ecom_ingest_rows_total", (("outcome", "in"),))] == 2
    assert metrics[("ecom_ingest_rows_total", (("outcome", "loaded"),))] == 1
    assert metrics[("ecom_ingest_rows_total", (("outcome", "quarantined"),))] == 1
    assert metrics[("ecom_ingest_files_total", (("outcome", "claimed"),))] == 1
    assert metrics[("ecom_ingest_files_total", (("outcome", "quarantined"),))] == 1
    assert metrics[("ecom_ingest_files_quarantined_total", (("kind", "header"),))] == 1
    assert metrics[("ecom_ingest_batches_total", ())] >= 1
    assert (
        metrics[("ecom_ingest_batch_seconds_count", ())]
        == metrics[("ecom_ingest_batches_total", ())]
    )
    assert metrics[("ecom_ingest_files_waiting", ())] == 0
    assert metrics[("ecom_ingest_files_in_flight", ())] == 0
    assert metrics[("ecom_ingest_last_commit_timestamp_seconds", ())] > 1.7e9
    assert metrics[("ecom_ingest_lag_seconds", ())] > 0
