"""A loader transaction that commits after a later one: staging still stages its rows, once.

Every row of a loader transaction gets ingested_at = now(), the start of its
transaction, and becomes visible at its commit. A batch that began first and
committed last therefore lands behind staging's watermark; the lookback
(var staging_lookback_minutes) is what brings it in on the next run.
"""

from __future__ import annotations

import time

import pytest

from pipeline import contract, db
from tests.support.marts import make_events, query, run_dbt, truncate_raw

pytestmark = pytest.mark.integration

COLUMNS = (*contract.FIELD_NAMES, "source_file", "batch_id")
INSERT = "insert into raw.ecommerce_events ({}) values ({})".format(
    ", ".join(COLUMNS), ", ".join(["%s"] * len(COLUMNS))
)


def _insert(conn, events, batch_id: int) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            INSERT,
            [
                (
                    e.event_id,
                    e.event_type,
                    e.user_id,
                    e.user_name,
                    e.product_id,
                    e.product_name,
                    e.category,
                    e.price,
                    e.quantity,
                    e.time_text,
                    e.session_id,
                    f"batch-{batch_id}.csv",
                    batch_id,
                )
                for e in events
            ],
        )


def _staged() -> list[str]:
    return [row[0] for row in query("select event_id from staging.stg_ecommerce__events")]


def test_a_batch_committed_behind_the_watermark_is_staged_once(warehouse):
    truncate_raw()
    events = make_events(77)[:300]
    first, slow_batch, fast_batch = events[:100], events[100:200], events[200:]
    with db.connection(None) as conn:
        _insert(conn, first, 0)
        conn.commit()
    run_dbt("run", "--full-refresh", "--select", "stg_ecommerce__events")

    slow = db.connect(None)
    try:
        _insert(slow, slow_batch, 1)  # its transaction, and its ingested_at, start now
        time.sleep(0.05)
        with db.connection(None) as fast:
            _insert(fast, fast_batch, 2)
            fast.commit()
        run_dbt("run", "--select", "stg_ecommerce__events")
        watermark = query("select max(ingested_at) from staging.stg_ecommerce__events")[0][0]
        assert sorted(_staged()) == sorted(e.event_id for e in first + fast_batch)
        slow.commit()  # now visible, with an ingested_at behind the watermark
    finally:
        slow.close()
    with db.connection(None) as conn, conn.cursor() as cur:
        cur.execute(
            "select count(*) from raw.ecommerce_events where batch_id = 1 and ingested_at < %s",
            (watermark,),
        )
        assert cur.fetchone()[0] == 100  # the case the lookback is for

    run_dbt("run", "--select", "stg_ecommerce__events")
    staged = _staged()
    assert len(staged) == len(set(staged)) == 300
    assert set(staged) == {e.event_id for e in events}
