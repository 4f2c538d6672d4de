"""What `make demo` runs, on a smaller seed: it finishes green and its report tells the truth."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from expectations import checkpoints, suites
from pipeline import settings
from tests.support.streaming import REPO_ROOT, query

pytestmark = pytest.mark.integration


def run_demo(folder, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ecom.demo",
            *extra,
            "--events",
            "8000",
            "--seed",
            "3",
            "--folder",
            str(folder),
        ],
        cwd=REPO_ROOT,
        env=settings.environment(),
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def demo(warehouse, tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    result = run_demo(folder, "--reset")  # other tests' streams are in the test warehouse
    result.folder = folder
    return result


def test_demo_finishes_green(demo):
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "all green." in demo.stdout
    assert re.search(r"dbt build   PASS=\d+ WARN=0 ERROR=0", demo.stdout)
    raw_layer = sum(len(suites.SUITES[table]()) for table in checkpoints.get("raw_layer").tables)
    assert f"raw_layer: {raw_layer}/{raw_layer} expectations passed" in demo.stdout


def test_report_numbers_match_the_warehouse(demo):
    match = re.search(
        r"Ingestion\s+([\d,]+) rows loaded, ([\d,]+) quarantined; ([\d,]+) distinct", demo.stdout
    )
    assert match, demo.stdout
    loaded, rejected, distinct = (int(group.replace(",", "")) for group in match.groups())
    assert loaded == query("select count(*) from raw.ecommerce_events")[0][0]
    assert rejected == query("select count(*) from raw.ecommerce_events_rejected")[0][0] > 0
    assert distinct == query("select count(distinct event_id) from raw.ecommerce_events")[0][0]
    revenue = re.search(r"revenue ([\d,]+\.\d\d)", demo.stdout).group(1).replace(",", "")
    staged = query(
        "select sum(unit_price * quantity) from staging.stg_ecommerce__events where event_type = 'purchase'"
    )[0][0]
    assert f"{staged:.2f}" == revenue


def test_report_numbers_match_what_was_generated(demo):
    """The generator's manifest is the ground truth: every line loaded or quarantined, once."""
    manifest = [
        json.loads(line) for line in (demo.folder / "manifest.jsonl").read_text().splitlines()
    ]
    match = re.search(r"Ingestion\s+([\d,]+) rows loaded, ([\d,]+) quarantined", demo.stdout)
    loaded, rejected = (int(group.replace(",", "")) for group in match.groups())
    assert loaded + rejected == sum(entry["rows"] for entry in manifest)
    assert rejected == sum(entry["bad_rows"] for entry in manifest) > 0
    duplicates = sum(entry["duplicate_rows"] for entry in manifest)
    distinct = re.search(r"; ([\d,]+) distinct events", demo.stdout).group(1).replace(",", "")
    assert int(distinct) == loaded - duplicates > 0


def test_demo_twice_gives_the_same_report(demo, tmp_path):
    again = run_demo(tmp_path)
    assert again.returncode == 0

    def body(text: str) -> str:  # the report without its timings
        return re.sub(r"\(\d+\.\ds\)", "", text.split("=" * 72, 2)[-1].split("Steps:")[0])

    assert body(again.stdout) == body(demo.stdout)


def test_demo_never_wipes_another_stream_without_reset(demo, tmp_path):
    """`make demo` after `make live` stopped instead of deleting what live mode loaded."""
    from pipeline import db

    with db.connection(None) as conn, conn.cursor() as cur:
        cur.execute(
            "insert into raw.ingestion_batches (stream_name, query_id, batch_id, files, rows_in, "
            "rows_loaded, rows_rejected, started_at) values ('ecommerce_events', "
            "'00000000-0000-4000-8000-0000000000aa', 0, array['live.csv'], 7, 7, 0, now())"
        )
        cur.execute("select count(*) from raw.ecommerce_events")
        (events_before,) = cur.fetchone()
        conn.commit()
    result = run_demo(tmp_path / "again")
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert "micro-batches of other streams" in last and "--reset" in last, last
    assert (
        query("select count(*) from raw.ingestion_batches where stream_name <> 'demo'")[0][0] == 1
    )
    assert query("select count(*) from raw.ecommerce_events")[0][0] == events_before
