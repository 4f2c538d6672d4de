"""raw's partitions: created ahead, and dropped after a retention once dbt has staged them.

raw.ecommerce_events (by ingested_at) and raw.ecommerce_events_rejected (by
rejected_at) are range-partitioned, without a default partition (migration
0005). A row's time is now() of the loader transaction that wrote it, which the
batch ledger records as xact_started_at.

- :func:`ensure` creates the partitions from now to now + ``ahead``
  (raw.partitioning) through ``raw.ensure_partitions()``, a function the loader
  may call too: ``ecom db``, the streaming job (at start and every minute) and
  :func:`maintain` call it.
- :func:`drop_expired` drops a partition only when its upper bound is older than
  the retention **and** every batch that wrote into its range is staged by both
  staging models that read raw (:func:`unstaged_batches`). It detaches the partition concurrently (the loader goes
  on writing), checks the ledger again, then drops it and records it in
  raw.partitions_dropped; dbt staging refuses ``--full-refresh`` from then on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from psycopg2 import sql

from pipeline import cli, db
from pipeline.errors import UserError

log = logging.getLogger(__name__)

PARTITIONED = ("ecommerce_events", "ecommerce_events_rejected")
# The staging models that read raw, each remembering how far it has read.
STAGING_MODELS = ("staging.stg_ecommerce__events", "staging.stg_ecommerce__events_rejected")
# How often the streaming job makes sure partitions exist ahead of its rows.
ENSURE_SECONDS = 60.0


@dataclass(frozen=True)
class Partition:
    table_name: str
    partition_name: str
    range_from: datetime | None  # None: MINVALUE (the table of the release before 0005)
    range_to: datetime
    bytes: int


def retention_option(flag: str, help: str):
    """The retention option of ``ecom maintain`` and live mode: days, 0 drops nothing."""
    return cli.setting_option(flag, setting="raw_retention_days", type=cli.days, help=help)


def available(conn) -> bool:
    """Is raw partitioned (migration 0005)?"""
    with conn.cursor() as cur:
        cur.execute("select to_regprocedure('raw.ensure_partitions(timestamptz, timestamptz)')")
        return cur.fetchone()[0] is not None


def ensure(conn) -> int:
    """Create the partitions missing from now to now + ahead; returns how many (committed)."""
    with conn.cursor() as cur:
        cur.execute("select raw.ensure_partitions()")
        made = cur.fetchone()[0]
    conn.commit()
    if made:
        log.info("created %d partition%s of raw ahead", made, "" if made == 1 else "s")
    return made


def configure(conn, width: str | None, ahead: str | None) -> None:
    """Set raw's partition width and how far ahead partitions exist (PostgreSQL
    intervals such as '1 day', '1 hour'). Partitions that hold rows keep their
    bounds; after a change of width, or while a partition ahead is wider than the
    width, the empty ones from now on (all of them in a new warehouse, whose first
    partitions the migration made a day wide) are cut again in the width."""
    if width is None and ahead is None:
        return
    with conn.cursor() as cur:
        cur.execute("select width from raw.partitioning")
        (old_width,) = cur.fetchone()
        cur.execute(
            "update raw.partitioning set width = coalesce(%s::interval, width), "
            "ahead = coalesce(%s::interval, ahead) returning width, width::text, ahead::text, "
            "ahead >= 2 * width",
            (width, ahead),
        )
        changed, new_width, new_ahead, enough = cur.fetchone()
        if not enough:
            conn.rollback()
            raise UserError(
                f"raw partitions {new_width} wide must be created at least two widths ahead, "
                f"not {new_ahead} (ECOM_RAW_PARTITION_AHEAD)"
            )
        cur.execute(
            "select exists (select from raw.partitions where range_from > now() "
            "and range_to - range_from > (select width from raw.partitioning))"
        )
        (wider_ahead,) = cur.fetchone()
        if changed != old_width or wider_ahead:
            _cut_again(cur)
    conn.commit()
    log.info("raw partitions: %s each, created %s ahead", new_width, new_ahead)


def _cut_again(cur) -> None:
    """Drop each table's empty partitions from now on, cover the time from where
    the kept ones end to the new width's boundary before now with one partition,
    and create the rest ahead in the new width. Holds both tables' locks to the
    commit, so that no row lands meanwhile."""
    for parent in PARTITIONED:
        cur.execute(
            sql.SQL("lock table raw.{} in access exclusive mode").format(sql.Identifier(parent))
        )
        cur.execute(
            "select partition_name, range_from from raw.partitions "
            "where table_name = %s and range_to > now() and range_from is not null "
            "order by range_from desc",
            (parent,),
        )
        empty: list[tuple[str, datetime]] = []
        for name, low in cur.fetchall():
            cur.execute(sql.SQL("select exists (select from raw.{})").format(sql.Identifier(name)))
            if cur.fetchone()[0]:
                break
            empty.append((name, low))
        if not empty:
            continue
        for name, _ in empty:
            cur.execute(sql.SQL("drop table raw.{}").format(sql.Identifier(name)))
        start = empty[-1][1]
        cur.execute(
            "select to_timestamp(floor(extract(epoch from now()) / extract(epoch from width)) "
            "* extract(epoch from width)) from raw.partitioning"
        )
        (boundary,) = cur.fetchone()
        if boundary > start:
            cur.execute("select raw.add_partition(%s, %s, %s)", (parent, start, boundary))
        log.info("raw partitions of %s from %s on: cut again in the new width", parent, start)
    cur.execute("select raw.ensure_partitions()")


def partitions(conn) -> list[Partition]:
    with conn.cursor() as cur:
        cur.execute(
            "select table_name, partition_name, range_from, range_to, bytes from raw.partitions "
            "order by range_to, table_name"
        )
        return [Partition(*row) for row in cur.fetchall()]


def unstaged_batches(conn, partition: Partition) -> int | None:
    """How many batches that wrote into ``partition``'s time range are not staged
    yet; None while a staging model that reads raw does not exist.

    A batch's rows are staged when its transaction id is below the cursor of
    stg_ecommerce__events (the snapshot xmin its newest run stored), and its
    rejects when stg_ecommerce__events_rejected holds the batch."""
    with conn.cursor() as cur:
        for model in STAGING_MODELS:
            cur.execute("select to_regclass(%s) is not null", (model,))
            if not cur.fetchone()[0]:
                return None
        cur.execute(
            "select staging_xmin from staging.stg_ecommerce__events order by staged_at desc limit 1"
        )
        row = cur.fetchone()
        cur.execute(
            """
            select count(*) from raw.ingestion_batches as batches
            where batches.xact_started_at < %(range_to)s
                and (%(range_from)s::timestamptz is null
                    or batches.xact_started_at >= %(range_from)s)
                and (
                    (batches.rows_loaded > 0
                        and (%(cursor)s::bigint is null or batches.xact_id >= %(cursor)s))
                    or (batches.rows_rejected > 0 and not exists (
                        select 1 from staging.stg_ecommerce__events_rejected as staged
                        where staged.query_id = batches.query_id
                            and staged.batch_id = batches.batch_id
                    ))
                )
            """,
            {
                "range_from": partition.range_from,
                "range_to": partition.range_to,
                "cursor": row[0] if row else None,
            },
        )
        return cur.fetchone()[0]


def drop_expired(retention_days: float) -> list[Partition]:
    """Drop the partitions of raw older than ``retention_days`` whose batches are
    all staged (0: keep everything). Returns those dropped."""
    if retention_days <= 0:
        return []
    dropped: list[Partition] = []
    with db.connection() as conn:
        conn.autocommit = True  # DETACH ... CONCURRENTLY runs outside a transaction block
        with conn.cursor() as cur:
            cur.execute("select now() - %s * interval '1 day'", (retention_days,))
            horizon = cur.fetchone()[0]
        for partition in partitions(conn):
            if partition.range_to > horizon:
                continue
            unstaged = unstaged_batches(conn, partition)
            if unstaged != 0:
                log.info(
                    "retention: %s is old enough but kept: %s",
                    partition.partition_name,
                    "dbt has not staged raw yet"
                    if unstaged is None
                    else f"{unstaged} of its batches are not staged yet",
                )
                break  # the later partitions have at least those batches unstaged too
            if _drop(conn, partition):
                dropped.append(partition)
    return dropped


def _drop(conn, partition: Partition) -> bool:
    parent = sql.Identifier("raw", partition.table_name)
    child = sql.Identifier("raw", partition.partition_name)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("alter table {} detach partition {} concurrently").format(parent, child)
        )
        # A loader transaction that began before the bound and committed while the
        # detach waited for it is in the ledger now: look again.
        if unstaged_batches(conn, partition) != 0:
            log.warning("retention: %s is not staged after all; attached again", child)
            bound_from = (
                sql.SQL("minvalue")
                if partition.range_from is None
                else sql.Literal(partition.range_from)
            )
            cur.execute(
                sql.SQL("alter table {} attach partition {} for values from ({}) to ({})").format(
                    parent, child, bound_from, sql.Literal(partition.range_to)
                )
            )
            return False
        cur.execute(sql.SQL("select count(*) from {}").format(child))
        rows = cur.fetchone()[0]
        cur.execute("begin")
        cur.execute(sql.SQL("drop table {}").format(child))
        cur.execute(
            "insert into raw.partitions_dropped (table_name, partition_name, range_from, "
            "range_to, rows, bytes) values (%s, %s, %s, %s, %s, %s)",
            (
                partition.table_name,
                partition.partition_name,
                partition.range_from,
                partition.range_to,
                rows,
                partition.bytes,
            ),
        )
        cur.execute("commit")
    log.info(
        "retention: dropped %s (%s to %s, %d rows, %.1f MB)",
        partition.partition_name,
        partition.range_from.isoformat() if partition.range_from else "the beginning",
        partition.range_to.isoformat(),
        rows,
        partition.bytes / 1e6,
    )
    return True


def maintain(retention_days: float) -> tuple[int, list[Partition]]:
    """One maintenance step (as the administrator): partitions ahead, then retention."""
    clock = time.monotonic()
    with db.connection() as conn:
        made = ensure(conn)
    dropped = drop_expired(retention_days)
    log.debug("partition maintenance took %.2fs", time.monotonic() - clock)
    return made, dropped
