"""raw partitioned by ingestion time: retention drops only what dbt has staged, and
staging and the marts do not notice.

Batches are written as the sink writes them (rows, rejects, ledger row in one
transaction), some with a start time days ago. `ecom maintain` drops the
partitions older than the retention once the ledger shows their batches staged;
incremental dbt runs then give exactly the marts they gave before, and exactly
the marts an independent computation gives once more events arrive (some of
them duplicates of events whose partition is gone).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pipeline import contract, db
from tests.support.marts import (
    MARTS,
    REPO_ROOT,
    expected_marts,
    make_events,
    mart_rows,
    query,
    run_dbt,
    truncate_raw,
)

pytestmark = pytest.mark.integration

COLUMNS = (*contract.FIELD_NAMES, "source_file", "batch_id", "query_id", "ingested_at")
QUERY = str(uuid.UUID(int=0x5A))
QUARANTINE = (
    "select rejected_date, reason, rejected_lines from marts.fct_quarantine_daily order by 1, 2"
)


def _batch(events, rejects: int, batch_id: int, at: datetime) -> None:
    """A committed batch: its rows and ``rejects`` quarantined lines, its ledger row;
    ``at`` stands for the start of its transaction (ingested_at, xact_started_at)."""
    source_file = f"partitioned-{batch_id}.csv"
    rows = [
        (
            *e.values(),
            source_file,
            batch_id,
            QUERY,
            at,
        )
        for e in events
    ]
    with db.connection() as conn, conn.cursor() as cur:
        cur.executemany(
            "insert into raw.ecommerce_events ({}) values ({})".format(
                ", ".join(COLUMNS), ", ".join(["%s"] * len(COLUMNS))
            ),
            rows,
        )
        cur.executemany(
            "insert into raw.ecommerce_events_rejected (source_file, line_number, raw_line, "
            "reasons, batch_id, query_id, rejected_at) values (%s, %s, 'x', %s, %s, %s, %s)",
            [(source_file, n + 2, ["invalid_price"], batch_id, QUERY, at) for n in range(rejects)],
        )
        cur.execute(
            "insert into raw.ingestion_batches (stream_name, query_id, batch_id, files, rows_in, "
            "rows_loaded, rows_rejected, started_at, xact_started_at) "
            "values ('partitions', %s, %s, %s, %s, %s, %s, %s, %s)",
            (QUERY, batch_id, [source_file], len(rows) + rejects, len(rows), rejects, at, at),
        )
        conn.commit()


def _maintain(retention_days: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "ecom", "maintain", "--retention-days", retention_days],
        env=dict(os.environ),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def trimmable(warehouse):
    """raw emptied; afterwards the partitions tests write old rows into are back,
    and the record of drops (which makes staging refuse a full refresh) is gone."""
    truncate_raw()
    yield
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute("truncate raw.partitions_dropped")
        cur.execute("select raw.ensure_partitions(null, '2000-01-01')")
        conn.commit()
    run_dbt("run", "--full-refresh", "--select", "staging")


def test_retention_drops_only_staged_partitions_and_the_marts_do_not_change(trimmable):
    events = make_events(2211, sessions=600)
    old, recent, later = events[:1500], events[1500:2500], events[2500:3000]
    now = datetime.now(UTC)
    _batch(old[:800], 3, 0, now - timedelta(days=3))
    _batch(old[800:], 2, 1, now - timedelta(days=2))
    _batch(recent, 1, 2, now)

    # staging has not read these batches yet: nothing is dropped
    kept = _maintain("0.00001")
    assert "0 dropped" in kept.stdout, kept.stdout
    assert "is old enough but kept" in kept.stderr, kept.stderr

    run_dbt("run", "--full-refresh")
    before = {mart: mart_rows(mart) for mart in MARTS}
    quarantine_before = query(QUARANTINE)
    assert before == expected_marts(old + recent)

    # a batch ingested after the run, in today's partition, is not staged: it stays
    _batch(later[:200], 0, 3, datetime.now(UTC))
    dropped = _maintain("0.00001")
    assert "2 dropped" in dropped.stdout, dropped.stdout + dropped.stderr
    assert sorted(query("select table_name, rows from raw.partitions_dropped")) == [
        ("ecommerce_events", len(old)),
        ("ecommerce_events_rejected", 5),
    ]
    assert query("select count(*) from raw.ecommerce_events") == [(len(recent) + 200,)]
    assert query("select min(range_from) from raw.partitions")[0][0] > now - timedelta(days=1)

    # the raw checkpoint leaves out the batches whose rows retention dropped
    checked = subprocess.run(
        [sys.executable, "-m", "expectations", "run", "raw_layer"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]

    # the drop is invisible downstream; the rows that came after it are staged once
    run_dbt("run")
    assert query(QUARANTINE) == quarantine_before
    # later: new events, and duplicates of events whose partition is gone
    _batch(later[200:] + old[:50], 0, 4, datetime.now(UTC))
    run_dbt("run")
    assert {mart: mart_rows(mart) for mart in MARTS} == expected_marts(events[:3000])
    assert query("select count(*) from staging.stg_ecommerce__events") == [(3000,)]
    assert query("select count(*) from staging.stg_ecommerce__events_rejected") == [(6,)]

    for model in ("stg_ecommerce__events", "stg_ecommerce__events_rejected"):
        refused = run_dbt("run", "--full-refresh", "--select", model, check=False)
        assert refused.returncode != 0
        assert f"{model} refuses --full-refresh" in refused.stdout, refused.stdout[-3000:]
    assert query("select count(*) from staging.stg_ecommerce__events") == [(3000,)]
