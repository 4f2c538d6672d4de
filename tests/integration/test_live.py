"""`make live`: generator, stream, dbt cycles and checkpoints together, stopped with Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ingestion import files as intake_files
from pipeline import db, settings
from tests.support.marts import run_dbt
from tests.support.metrics import free_port, scrape
from tests.support.streaming import REPO_ROOT, query, reset_raw

pytestmark = pytest.mark.integration

STATUS = re.compile(
    r"cycle (\d+) +in ([\d,]+) ev/s \| loaded ([\d,]+) .* freshness (-|[\d.]+s) \| GX (ok|FAILED|not)"
)


def _live_env(folder: Path) -> dict[str, str]:
    """The settings, with live mode's inputs, checkpoint and dbt output in ``folder``."""
    env = settings.environment()
    env.update(
        ECOM_INPUT_DIR=str(folder / "inputs"),
        ECOM_MANIFEST=str(folder / "manifest.jsonl"),
        ECOM_CHECKPOINT_DIR=str(folder / "checkpoint"),
        ECOM_ARCHIVE_DIR=str(folder / "archive"),
        DBT_TARGET_PATH=str(folder / "dbt-target"),
        DBT_LOG_PATH=str(folder / "dbt-logs"),
    )
    return env


SCRAPED: dict[str, dict] = {}  # the metrics, scraped by the fixture while live mode runs


@pytest.fixture(scope="module")
def live(warehouse, tmp_path_factory):
    """Run live mode until it has printed a few cycles with fresh marts, then press Ctrl-C."""
    reset_raw()
    run_dbt("run", "--full-refresh")  # staging and marts start from the empty raw layer
    folder = tmp_path_factory.mktemp("live")
    env = _live_env(folder)
    port = free_port(2)  # live mode serves on port, its stream on port + 1
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ecom.live",
            "--rate",
            "2000",
            "--every",
            "2",
            "--checkpoint-every",
            "20",
            "--bad-rate",
            "0.01",
            "--duplicate-rate",
            "0.01",
            "--metrics-port",
            str(port),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    fresh_cycles = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = STATUS.search(line)
        if match and match.group(4) != "-" and match.group(5) == "ok":
            fresh_cycles += 1
            if fresh_cycles >= 3:
                SCRAPED["live"] = scrape(port)  # while it runs
                SCRAPED["stream"] = scrape(port + 1)
                process.send_signal(signal.SIGINT)
                break
    try:
        rest, _ = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        process.kill()
        rest, _ = process.communicate()
    output = "".join(lines) + rest
    children = [int(pid) for pid in re.findall(r"started the \w+ \(pid (\d+)\)", output)]
    return process.returncode, output, folder, children


def test_it_serves_its_metrics_and_the_streams(live):
    code, output, _, _ = live
    assert code == 0, output[-3000:]
    metrics = SCRAPED["live"]
    assert metrics[("ecom_live_dbt_cycle_seconds_count", ())] >= 3
    assert 0 < metrics[("ecom_live_mart_freshness_seconds", ())] < 120
    from ecom.live_gx import CHECKPOINTS

    for name in CHECKPOINTS:
        assert metrics[("ecom_live_checkpoint_success", (("checkpoint", name),))] == 1
        assert metrics[("ecom_live_checkpoint_failed_expectations", (("checkpoint", name),))] == 0
    stream = SCRAPED["stream"]
    assert stream[("ecom_ingest_rows_total", (("outcome", "loaded"),))] > 0
    assert stream[("ecom_ingest_batches_total", ())] >= 1


def test_it_runs_cycles_and_stops_cleanly_on_ctrl_c(live):
    code, output, _, children = live
    assert code == 0, output[-3000:]
    assert len(STATUS.findall(output)) >= 4, output[-3000:]  # 3 fresh cycles and the last one
    assert "last dbt cycle" in output
    assert len(children) == 2
    for pid in children:  # the generator and the stream are gone, not orphaned
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_every_generated_row_is_loaded_or_quarantined_once(live):
    _, output, folder, _ = live
    entries = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    generated = sum(entry["rows"] for entry in entries)
    summary = re.search(
        r"generated ([\d,]+) events, loaded ([\d,]+) rows, quarantined ([\d,]+); (\d+) files? left",
        output,
    )
    assert summary, output[-2000:]
    said_generated, loaded, rejected, left = (int(g.replace(",", "")) for g in summary.groups())
    assert said_generated == generated > 0
    in_flight = set(intake_files.in_flight(folder / "checkpoint"))  # claimed, not loaded yet
    assert left == len(list((folder / "inputs").glob("*.csv"))) + len(in_flight)
    waiting = sum(
        entry["rows"]
        for entry in entries
        if (folder / "inputs" / entry["file"]).exists() or entry["file"] in in_flight
    )
    files = [entry["file"] for entry in entries]
    in_raw = query(
        "select (select count(*) from raw.ecommerce_events where source_file = any(%s)), "
        "(select count(*) from raw.ecommerce_events_rejected where source_file = any(%s))",
        (files, files),
    )[0]
    assert in_raw == (loaded, rejected)
    assert loaded + rejected + waiting == generated
    assert rejected > 0  # the bad rows went to quarantine, not nowhere


def test_the_marts_caught_up_after_the_last_cycle(live):
    _, output, _, _ = live
    staged, distinct_raw = query(
        "select (select count(*) from staging.stg_ecommerce__events), "
        "(select count(distinct event_id) from raw.ecommerce_events)"
    )[0]
    assert staged == distinct_raw
    # fct_revenue_hourly was built by adding each cycle's new events: it equals
    # a recomputation from staging, hour by hour
    differences = query(
        """
        with recomputed as (
            select
                date_trunc('hour', event_at, 'UTC') as event_hour,
                count(*) as events,
                count(*) filter (where event_type = 'purchase') as orders,
                coalesce(sum(unit_price * quantity) filter (where event_type = 'purchase'), 0)
                    as revenue,
                max(event_at) as last_event_at
            from staging.stg_ecommerce__events
            group by 1
        )
        select count(*) from recomputed
        full join marts.fct_revenue_hourly as mart using (event_hour)
        where (recomputed.events, recomputed.orders, recomputed.revenue, recomputed.last_event_at)
            is distinct from (mart.events, mart.orders, mart.revenue, mart.last_event_at)
        """
    )[0][0]
    assert differences == 0


def test_it_reports_mart_freshness_and_checkpoints(live):
    _, output, _, _ = live
    freshness = re.search(r"mart freshness after each cycle: p50 ([\d.]+)s", output)
    assert freshness and 0 < float(freshness.group(1)) < 600, output[-2000:]
    assert re.search(r"checkpoints: [1-9]\d* runs, 0 with failures", output), output[-2000:]


def test_the_last_cycle_is_reported_apart_from_the_running_ones(live):
    # after the stop nothing newer arrives: its age of the newest event is the stop's
    _, output, _, _ = live
    fresh = [m for m in STATUS.findall(output) if m[3] != "-"]
    counted = re.search(r"mart freshness after each cycle: .* over (\d+) cycles?;", output)
    assert counted and int(counted.group(1)) == len(fresh) - 1, output[-2000:]
    last = re.search(r"last cycle, after the stop: .* marts is ([\d.]+)s old", output)
    assert last and f"{last.group(1)}s" == fresh[-1][3], output[-2000:]


def test_a_cycle_waits_for_the_next_commit_of_the_stream(warehouse):
    from ecom.live_measures import wait_for_commit

    assert not wait_for_commit(time.monotonic() + 0.3)  # no stream, no commit

    def commit_a_batch() -> None:
        time.sleep(0.3)
        with db.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "insert into raw.ingestion_batches (stream_name, query_id, batch_id, files, "
                "rows_in, rows_loaded, rows_rejected, started_at) "
                "values ('test', gen_random_uuid(), 0, '{}', 0, 0, 0, now())"
            )
            conn.commit()

    committer = threading.Thread(target=commit_a_batch)
    committer.start()
    try:
        assert wait_for_commit(time.monotonic() + 60)
    finally:
        committer.join()
        with db.connection() as conn, conn.cursor() as cur:
            cur.execute("delete from raw.ingestion_batches where stream_name = 'test'")
            conn.commit()


def test_children_do_not_outlive_live_mode_killed_with_9(warehouse, tmp_path):
    """kill -9 gives live mode no chance to stop its children: their parent-death
    signal (setpriv --pdeathsig) must, or the stream goes on loading unattended."""
    env = _live_env(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "ecom.live", "--rate", "500", "--checkpoint-every", "0"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    children: list[int] = []
    lines = []
    deadline = time.monotonic() + 180
    while len(children) < 2 and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        children += [int(pid) for pid in re.findall(r"started the \w+ \(pid (\d+)\)", line)]
    assert len(children) == 2, "".join(lines)[-3000:]
    process.kill()
    process.wait(timeout=30)
    alive = set(children)
    deadline = time.monotonic() + 90  # the stream finishes its batch on SIGTERM
    while alive and time.monotonic() < deadline:
        for pid in list(alive):
            try:
                os.kill(pid, 0)
                if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                    alive.discard(pid)  # exited, waiting for its reaper
            except (ProcessLookupError, FileNotFoundError):
                alive.discard(pid)
        time.sleep(0.5)
    for pid in alive:  # do not leave them running whatever the outcome
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not alive, f"children still running after live mode died: {sorted(alive)}"


def test_background_checkpoints_report_what_the_runner_recorded(live, tmp_path):
    """The checkpoints that run beside the cycles: their outcomes come from
    quality.checkpoint_runs, failures included."""
    from ecom.live_gx import CHECKPOINTS, BackgroundCheckpoints, GxStatus

    (product, rate) = query(
        "select product_id, view_to_purchase_rate from marts.conversion_rate_by_product "
        "where views > 0 limit 1"
    )[0]

    def set_rate(value: object) -> None:
        with db.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "update marts.conversion_rate_by_product set view_to_purchase_rate = %s "
                "where product_id = %s",
                (value, product),
            )
            conn.commit()

    set_rate(7)  # a rate that its counts do not give
    try:
        checks, status = BackgroundCheckpoints(tmp_path), GxStatus()
        checks.start()
        checks.collect(status, wait=300)
    finally:
        set_rate(rate)
    assert set(status.latest) == set(CHECKPOINTS), checks.log_path.read_text()[-2000:]
    assert status.failed_checkpoints == ["marts_layer"], checks.log_path.read_text()[-2000:]
    passed, total, _, _ = status.latest["marts_layer"]
    assert total - passed == 1
