"""How long does the raw_layer checkpoint take on 5,000,000 landed events?

Loads N synthetic valid events (default 5,000,000) into raw.ecommerce_events
with COPY as the administrator, in 1,000,000-row batches each with its ledger
row in raw.ingestion_batches and a few quarantined lines, then VACUUM ANALYZE
(setup, not measured). Then runs the raw_layer checkpoint --repeat times, in
process, the way ``python -m expectations run raw_layer`` does (connect and
check as ecom_auditor, open the GX context, run, write Data Docs), and prints
per run the checkpoint's own time and the whole run's. Target: under 30 s.

Prints figures, never passes or fails on time. Runs in a database of its own
(default ``ecommerce_bench_gx``) on the configured server, created if missing
with the DDL of sql/, so the warehouse's own data is never touched:

    python bench/bench_gx_raw.py
    python bench/bench_gx_raw.py --events 1000000 --repeat 5
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from pipeline import cli, db  # noqa: E402

log = logging.getLogger("bench_gx_raw")

BATCH_ROWS = 1_000_000
REJECTS_PER_BATCH = 10
QUERY_ID = "00000000-0000-4000-8000-0000000bec00"
COLUMNS = (
    "event_id, event_type, user_id, user_name, product_id, product_name, category, price, "
    "quantity, event_time, session_id, source_file, batch_id, query_id"
)
# Mostly views, as in a real funnel.
EVENT_TYPES = ["view"] * 13 + ["add_to_cart"] * 5 + ["purchase"] * 2
CATEGORIES = ["home", "furniture", "grocery", "electronics", "office", "sports", "books"]
PRODUCTS = 5_000
USERS = 200_000


def batch_csv(batch_id: int, first: int, rows: int, start: datetime) -> io.StringIO:
    """``rows`` valid events as COPY CSV: the contract's fields + source_file, batch_id, query_id."""
    source_file = f"bench-{batch_id:06d}.csv"
    lineage = f",{source_file},{batch_id},{QUERY_ID}\n"
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


def load(events: int) -> None:
    """Truncate raw, then COPY ``events`` events in batches, each with its ledger row."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute(db.TRUNCATE_RAW)
        conn.commit()
        loaded, batch_id = 0, 0
        while loaded < events:
            rows = min(BATCH_ROWS, events - loaded)
            cur.copy_expert(
                f"copy raw.ecommerce_events ({COLUMNS}) from stdin (format csv)",
                batch_csv(batch_id, loaded, rows, start),
            )
            cur.execute(
                "insert into raw.ecommerce_events_rejected "
                "(source_file, line_number, raw_line, reasons, batch_id, query_id) "
                "select %s, n + 1, 'not,a,valid,line', array['malformed_csv_row'], %s, %s "
                "from generate_series(1, %s) as n",
                (f"bench-{batch_id:06d}.csv", batch_id, QUERY_ID, REJECTS_PER_BATCH),
            )
            cur.execute(
                "insert into raw.ingestion_batches (stream_name, query_id, batch_id, files, "
                "rows_in, rows_loaded, rows_rejected, started_at) "
                "values ('bench', %s, %s, %s, %s, %s, %s, now())",
                (
                    QUERY_ID,
                    batch_id,
                    [f"bench-{batch_id:06d}.csv"],
                    rows + REJECTS_PER_BATCH,
                    rows,
                    REJECTS_PER_BATCH,
                ),
            )
            conn.commit()
            loaded += rows
            batch_id += 1
            log.info("loaded %s events", f"{loaded:,}")


def settle() -> None:
    """VACUUM ANALYZE as setup: autovacuum after a bulk load would skew the timings."""
    with db.connection() as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("vacuum analyze")


def table_size() -> str:
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute("select pg_size_pretty(pg_total_relation_size('raw.ecommerce_events'))")
        return cur.fetchone()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="checkpoint runs (median)")
    parser.add_argument("--database", default="ecommerce_bench_gx")
    parser.add_argument(
        "--skip-load", action="store_true", help="reuse the rows loaded by a previous run"
    )
    args = parser.parse_args()
    cli.configure_logging()
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    os.environ["PGDATABASE"] = args.database  # everything below, GX included, uses it
    ensure_database(args.database)
    if not args.skip_load:
        started = time.perf_counter()
        load(args.events)
        settle()
        log.info(
            "setup: %s events loaded in %.1fs", f"{args.events:,}", time.perf_counter() - started
        )

    started = time.perf_counter()
    from expectations import context, runner  # noqa: F401 - imports GX, timed on its own

    import_seconds = time.perf_counter() - started
    checkpoint_seconds, run_seconds = [], []
    for attempt in range(1, args.repeat + 1):
        started = time.perf_counter()
        (outcome,) = runner.run(["raw_layer"], record=False)
        run_seconds.append(time.perf_counter() - started)
        checkpoint_seconds.append(outcome.duration)
        for failure in outcome.failures:
            print(failure.line())
        log.info(
            "run %d: %s; checkpoint %.2fs, whole run %.2fs",
            attempt,
            outcome.summary(),
            outcome.duration,
            run_seconds[-1],
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
        f"raw_layer checkpoint on {args.events:,} rows of raw.ecommerce_events "
        f"({table_size()}), median of {args.repeat} runs:"
    )
    rows = [
        ("checkpoint.run() (GX, Data Docs included)", statistics.median(checkpoint_seconds)),
        ("whole run (pre-flight, context, checkpoint)", statistics.median(run_seconds)),
        ("python -m expectations run raw_layer (1 run)", cli_seconds),
        ("GX import, once per process", import_seconds),
    ]
    for label, seconds in rows:
        print(f"  {label:<46}{seconds:7.2f} s")
    print(f"  runs: {', '.join(f'{s:.2f}' for s in run_seconds)} s (whole run)")
    print(f"  {outcome.summary()}; CLI exit {cli_run.returncode}; target < 30 s")
    return 0


if __name__ == "__main__":
    cli.run_main(main, "bench_gx_raw")
