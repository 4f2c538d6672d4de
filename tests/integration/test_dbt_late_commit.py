"""Staging follows the batch ledger: a batch is staged once, however late or long its transaction.

A loader transaction writes its rows (ingested_at = now(), the start of the
transaction) and its raw.ingestion_batches row together, and they become
visible at its commit. A batch that began first and committed last lands
behind everything staging has seen by time; staging finds it through the
ledger (its xact_id is at least the xmin staging read with), not by time.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from pipeline import contract, db
from tests.support.marts import make_events, query, run_dbt, truncate_raw

pytestmark = pytest.mark.integration

COLUMNS = (*contract.FIELD_NAMES, "source_file", "batch_id", "query_id")
QUERY_A = str(uuid.UUID(int=0xA))
QUERY_B = str(uuid.UUID(int=0xB))


def _batch(conn, events, query_id: str, batch_id: int, at: datetime | None = None) -> None:
    """A batch as the sink writes it: its rows, then its ledger row, in ``conn``'s transaction.

    ``at`` stands for a transaction that starts then: it is the rows'
    ingested_at and the ledger's xact_started_at, which are both now() otherwise.
    """
    source_file = f"batch-{query_id[-1]}-{batch_id}.csv"
    columns = COLUMNS + (("ingested_at",) if at else ())
    rows = [
        (
            *e.values(),
            source_file,
            batch_id,
            query_id,
            *((at,) if at else ()),
        )
        for e in events
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "insert into raw.ecommerce_events ({}) values ({})".format(
                ", ".join(columns), ", ".join(["%s"] * len(columns))
            ),
            rows,
        )
        cur.execute(
            "insert into raw.ingestion_batches (stream_name, query_id, batch_id, files, rows_in, "
            "rows_loaded, rows_rejected, started_at, xact_started_at) "
            "values ('late-commit', %s, %s, %s, %s, %s, 0, now(), coalesce(%s, now()))",
            (query_id, batch_id, [source_file], len(rows), len(rows), at),
        )


def _committed(events, query_id: str, batch_id: int, at: datetime | None = None) -> None:
    with db.connection(None) as conn:
        _batch(conn, events, query_id, batch_id, at)
        conn.commit()


def _staged() -> list[str]:
    return [row[0] for row in query("select event_id from staging.stg_ecommerce__events")]


def _stage() -> None:
    run_dbt("run", "--select", "stg_ecommerce__events")


@pytest.fixture
def events(warehouse):
    truncate_raw()
    return make_events(77)[:400]


def test_a_batch_committed_after_a_later_one_is_staged_once(events):
    first, slow_batch, fast_batch = events[:100], events[100:200], events[200:300]
    _committed(first, QUERY_A, 0)
    run_dbt("run", "--full-refresh", "--select", "stg_ecommerce__events")

    slow = db.connect(None)
    try:
        _batch(slow, slow_batch, QUERY_A, 1)  # its transaction, and its ingested_at, start now
        # another query's batch with the same batch_id commits first
        _committed(fast_batch, QUERY_B, 1)
        _stage()
        assert sorted(_staged()) == sorted(e.event_id for e in first + fast_batch)
        slow.commit()
    finally:
        slow.close()
    _stage()
    staged = _staged()
    assert len(staged) == len(set(staged)) == 300
    assert set(staged) == {e.event_id for e in first + slow_batch + fast_batch}
    # each row staged with its own batch: batch_id 1 of both queries
    assert sorted(
        query(
            "select query_id::text, batch_id, count(*) from staging."
            "stg_ecommerce__events group by 1, 2"
        )
    ) == [
        (QUERY_A, 0, 100),
        (QUERY_A, 1, 100),
        (QUERY_B, 1, 100),
    ]


def test_a_transaction_open_longer_than_any_lookback_is_staged(events):
    """Batches an hour, two and three hours later commit and are staged while it stays open."""
    first, slow_batch, later = events[:100], events[100:200], events[200:]
    _committed(first, QUERY_A, 0)
    run_dbt("run", "--full-refresh", "--select", "stg_ecommerce__events")

    slow = db.connect(None)
    try:
        _batch(slow, slow_batch, QUERY_A, 1)
        (started,) = query("select now()")[0]
        for hour, chunk in enumerate((later[:70], later[70:140], later[140:]), start=1):
            _committed(chunk, QUERY_A, 1 + hour, at=started + timedelta(hours=hour))
            _stage()
        assert len(_staged()) == 300
        slow.commit()
    finally:
        slow.close()
    (newest,) = query("select max(ingested_at) from staging.stg_ecommerce__events")[0]
    assert newest - started > timedelta(hours=2, minutes=59)  # what staging had seen by time

    _stage()
    staged = _staged()
    assert len(staged) == len(set(staged)) == 400
    assert set(staged) == {e.event_id for e in events}
    # the next run finds nothing new, and stages nothing twice
    _stage()
    assert len(_staged()) == 400


def test_a_row_no_ledger_batch_accounts_for_is_not_staged(events):
    _committed(events[:100], QUERY_A, 0)
    with db.connection(None) as conn:
        _batch(conn, events[100:110], QUERY_A, 1)
        with conn.cursor() as cur:  # the ledger row goes, the rows stay
            cur.execute("delete from raw.ingestion_batches where batch_id = 1")
        conn.commit()
    run_dbt("run", "--full-refresh", "--select", "stg_ecommerce__events")
    assert len(_staged()) == 100


def test_staging_built_before_the_ledger_cursor_catches_up_in_one_run(events):
    """A staging table of an older release (no staging_xmin column): nothing pending is lost."""
    _committed(events[:100], QUERY_A, 0)
    run_dbt("run", "--full-refresh", "--select", "stg_ecommerce__events")
    with db.connection(None) as conn, conn.cursor() as cur:
        cur.execute("alter table staging.stg_ecommerce__events drop column staging_xmin")
        conn.commit()
    _committed(events[100:200], QUERY_A, 1, at=datetime.fromisoformat("2026-01-01T00:00:00+00:00"))

    _stage()
    staged = _staged()
    assert len(staged) == len(set(staged)) == 200
    # the column is back, set on the rows this run staged; the next run starts from it
    assert query("select count(staging_xmin) from staging.stg_ecommerce__events") == [(100,)]
    _committed(events[200:300], QUERY_A, 2)
    _stage()
    assert len(_staged()) == 300
