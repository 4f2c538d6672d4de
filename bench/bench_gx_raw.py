"""What does the raw_layer checkpoint cost as raw grows, when 100,000 rows are new?

A run checks the batches committed since the last passed run (the ledger says
which), not the whole table. For each size of raw (default 1,000,000 and
10,000,000 rows), side by side in one run:

- **every batch** (``--full``, what each run cost before the window, and what
  the first run costs): recorded as passed, so the next run starts after it;
- **the window**: ``--new-events`` more rows (default 100,000, in batches of
  10,000) committed after it, then the checkpoint --repeat times without
  recording, so each run checks the same window.

Rows are loaded with COPY as the administrator, each batch with its ledger row
and a few quarantined lines, then VACUUM ANALYZE (setup, not measured). Each run
is in process, the way ``python -m expectations run raw_layer`` does it (connect
and check as ecom_auditor, open the GX context, run, write Data Docs).

Prints figures, never passes or fails on time. Runs in a database of its own
(default ``ecommerce_bench_gx``) on the configured server, created if missing
with the DDL of sql/, so the warehouse's own data is never touched:

    python bench/bench_gx_raw.py
    python bench/bench_gx_raw.py --sizes 1000000,5000000 --repeat 5
"""

from __future__ import annotations

import io
import logging
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import click  # noqa: E402

from pipeline import cli, db  # noqa: E402

log = logging.getLogger("bench_gx_raw")

BATCH_ROWS = 1_000_000
REJECTS_PER_BATCH = 10
QUERY_ID = "00000000-0000-4000-8000-0000000bec00"
COLUMNS = (
    "event_id, event_type, user_id, user_name, product_id, product_name, category, price, "
    "quantity, event_time, session_id, source_file, batch_id, query_id, ingested_at"
)
# Mostly views, as in a real funnel.
EVENT_TYPES = ["view"] * 13 + ["add_to_cart"] * 5 + ["purchase"] * 2
CATEGORIES = ["home", "furniture", "grocery", "electronics", "office", "sports", "books"]
PRODUCTS = 5_000
USERS = 200_000


def batch_csv(
    batch_id: int, first: int, rows: int, start: datetime, ingested_at: str
) -> io.StringIO:
    """``rows`` valid events as COPY CSV: the contract's fields + source_file, batch_id,
    query_id, ingested_at."""
    source_file = f"bench-{batch_id:06d}.csv"
    lineage = f",{source_file},{batch_id},{QUERY_ID},{ingested_at}\n"
    lines = []
    for i in range(first, first + rows):
        product = (i * 7919) % PRODUCTS + 1
        user = (i * 104_729) % USERS + 1
        kind = EVENT_TYPES[i % len(EVENT_TYPES)]
        at = (start + timedelta(milliseconds=100 * i)).isoformat()
        lines.append(
            f"{i:08x}-{batch_id:04x}-4000-8000-00000000bec0,{kind},{user},User {user},"
            f"{product},Product {product},{CATEGORIES[product % len(CATEGORIES)]},"
            f"{product % 500}.99,{1 if kind != 'purchase' else i % 3 + 1},{at},s-{i // 6}" + lineage
        )
    return io.StringIO("".join(lines))


def ensure_database(name: str) -> None:
    db.ensure_database(name)
    db.apply_schema()


def truncate() -> None:
    """Empty raw and the checkpoints' history; a partition for rows ingested in the past."""
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute(db.TRUNCATE_RAW + ", quality.checkpoint_runs")
        cur.execute("select raw.ensure_partitions(null, now() - interval '30 days')")
        conn.commit()


def load(events: int, *, first: int, batch_id: int, batch_rows: int, past: bool = False) -> int:
    """COPY ``events`` events from number ``first`` on, in batches of ``batch_rows`` from
    ``batch_id`` on, each in one transaction with its rejects and ledger row, as the
    loader commits them. Returns the next batch id. ``past``: as if ingested a day ago
    and earlier (rows, rejects and ledger alike), in a partition of their own."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with db.connection() as conn, conn.cursor() as cur:
        loaded = 0
        while loaded < events:
            rows = min(batch_rows, events - loaded)
            cur.execute(
                "select case when %s then now() - interval '1 day' - %s * interval '1 minute' "
                "else now() end",
                (past, (events - loaded) // batch_rows),
            )
            (ingested_at,) = cur.fetchone()
            cur.copy_expert(
                f"copy raw.ecommerce_events ({COLUMNS}) from stdin (format csv)",
                batch_csv(batch_id, first + loaded, rows, start, ingested_at.isoformat()),
            )
            cur.execute(
                "insert into raw.ecommerce_events_rejected (source_file, line_number, raw_line, "
                "reasons, batch_id, query_id, rejected_at) "
                "select %s, n + 1, 'not,a,valid,line', array['malformed_csv_row'], %s, %s, %s "
                "from generate_series(1, %s) as n",
                (f"bench-{batch_id:06d}.csv", batch_id, QUERY_ID, ingested_at, REJECTS_PER_BATCH),
            )
            cur.execute(
                "insert into raw.ingestion_batches (stream_name, query_id, batch_id, files, "
                "rows_in, rows_loaded, rows_rejected, started_at, xact_started_at) "
                "values ('bench', %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    QUERY_ID,
                    batch_id,
                    [f"bench-{batch_id:06d}.csv"],
                    rows + REJECTS_PER_BATCH,
                    rows,
                    REJECTS_PER_BATCH,
                    ingested_at,
                    ingested_at,
                ),
            )
            conn.commit()
            loaded += rows
            batch_id += 1
            if loaded % BATCH_ROWS == 0 or loaded == events:
                log.info("loaded %s events", f"{first + loaded:,}")
    return batch_id


def settle() -> None:
    """VACUUM ANALYZE as setup: autovacuum after a bulk load would skew the timings."""
    with db.connection() as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("vacuum analyze")


def table_size() -> str:
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute(
            "select pg_size_pretty(sum(bytes)) from raw.partitions "
            "where table_name = 'ecommerce_events'"
        )
        return cur.fetchone()[0]


def checkpoint(*, full: bool = False, record: bool = False) -> tuple[float, float, str]:
    """One raw_layer run: the checkpoint's own seconds, the whole run's, the summary."""
    from expectations import runner

    started = time.perf_counter()
    (outcome,) = runner.run(["raw_layer"], record=record, full=full)
    seconds = time.perf_counter() - started
    for failure in outcome.failures:
        print(failure.line())
    log.info("%s; whole run %.2fs", outcome.summary(), seconds)
    return outcome.duration, seconds, outcome.summary()


@click.command(cls=cli.Command, help=__doc__.splitlines()[0])
@click.option(
    "--sizes", default="1000000,10000000", help="rows in raw before the new ones, ascending"
)
@click.option("--new-events", type=int, default=100_000)
@click.option("--repeat", type=int, default=3, help="runs on the window (median)")
@click.option("--database", default="ecommerce_bench_gx")
@click.option(
    "--history",
    type=click.Choice(["past", "today"]),
    default="past",
    help="when the rows before the new ones were ingested: a day ago and earlier, in "
    "a partition of their own (default), or today, in the new rows' partition",
)
def main(**options) -> int:
    args = SimpleNamespace(**options)
    sizes = [int(size) for size in args.sizes.split(",")]
    cli.configure_logging()
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    os.environ["PGDATABASE"] = args.database  # everything below, GX included, uses it
    ensure_database(args.database)
    truncate()

    figures = []
    loaded, batch_id = 0, 0
    for size in sizes:
        started = time.perf_counter()
        batch_id = load(
            size - loaded,
            first=loaded,
            batch_id=batch_id,
            batch_rows=BATCH_ROWS,
            past=args.history == "past",
        )
        loaded = size
        settle()
        log.info("setup: raw holds %s events (%.1fs)", f"{loaded:,}", time.perf_counter() - started)
        full, full_run, _ = checkpoint(full=True, record=True)
        batch_id = load(args.new_events, first=loaded, batch_id=batch_id, batch_rows=10_000)
        loaded += args.new_events
        settle()
        runs = [checkpoint() for _ in range(args.repeat)]
        figures.append(
            (
                loaded,
                table_size(),
                full,
                full_run,
                statistics.median(run[0] for run in runs),
                statistics.median(run[1] for run in runs),
                runs[-1][2],
            )
        )

    started = time.perf_counter()
    cli_run = subprocess.run(
        [sys.executable, "-m", "expectations", "run", "raw_layer", "--no-record"],
        cwd=REPO_ROOT,
        env={**os.environ},
        capture_output=True,
        text=True,
    )
    cli_seconds = time.perf_counter() - started

    print()
    print(
        f"raw_layer checkpoint, every batch (--full) beside the window of the "
        f"{args.new_events:,} rows committed since the last passed run "
        f"(checkpoint.run(), Data Docs included; whole run in brackets; window: median of "
        f"{args.repeat}); the rows before them ingested "
        f"{'a day ago and earlier' if args.history == 'past' else 'today'}:"
    )
    print(f"  {'rows in raw':>12}  {'size':>8}  {'every batch':>18}  {'the window':>18}")
    for rows, size, full, full_run, window, window_run, _ in figures:
        print(
            f"  {rows:>12,}  {size:>8}  {full:>7.2f} s ({full_run:5.2f})  "
            f"{window:>7.2f} s ({window_run:5.2f})"
        )
    print(f"  last window run: {figures[-1][6]}")
    print(
        f"  python -m expectations run raw_layer --no-record: {cli_seconds:.2f} s, exit "
        f"{cli_run.returncode}"
    )
    return 0


if __name__ == "__main__":
    cli.run(main, "bench_gx_raw")
