"""How much does an incremental dbt run cost as history grows?

Loads 1,000,000 synthetic valid events into raw.ecommerce_events (COPY, as the
administrator: setup, not measured), builds everything with --full-refresh,
then times incremental runs that each follow 10,000 new events (new sessions,
~2% late events for the last three days, ~1% replays of events already
loaded). Then grows raw to 5,000,000 events, times the full refresh at that
size and the same incremental runs again. An incremental run should cost the
size of the new data, not of history: the ratio of the two medians (target
<= 1.5) says whether it does.

History rows carry ingested_at = event_time, as if streamed over past days;
new events get the loading transaction's now(). Every chunk commits with its
raw.ingestion_batches row, as the stream's batches do: staging finds the new
batches through the ledger.

Prints figures, never passes or fails on time. Runs in a database of its own
(default ``ecommerce_bench``) on the configured server, created if missing with
the DDL of sql/, so the warehouse's own data is never touched:

    python bench/bench_dbt_incremental.py            # 1M then 5M, 10k per run
    python bench/bench_dbt_incremental.py --sizes 200000 1000000 --repeat 5
"""

from __future__ import annotations

import io
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import click  # noqa: E402

from pipeline import cli, db, settings  # noqa: E402

log = logging.getLogger("bench_dbt_incremental")

DBT_PROJECT = REPO_ROOT / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"
COLUMNS = (
    "event_id, event_type, user_id, user_name, product_id, product_name, category, price, "
    "quantity, event_time, session_id, source_file, batch_id, query_id"
)
QUERY_ID = "00000000-0000-4000-8000-00000000be4c"
HISTORY_COLUMNS = COLUMNS + ", ingested_at"
EVENTS_PER_DAY = 50_000  # a steady stream: more history means more days, not fuller days
PRODUCTS = 5_000
USERS = 200_000
CATEGORIES = [
    "home",
    "furniture",
    "grocery",
    "electronics",
    "office",
    "sports",
    "garden",
    "toys",
    "books",
    "beauty",
]


class EventFactory:
    """Synthetic valid events in browsing sessions, fast (plain random, no Faker)."""

    def __init__(self, seed: int, start: datetime) -> None:
        self.rng = random.Random(seed)
        self.clock = start.timestamp()
        self.sessions = 0
        self.batches = 0
        self.recent: deque[str] = deque(maxlen=5_000)  # events that may be replayed

    def _session(self, started: float) -> list[str]:
        """One session's events as CSV lines of the contract's 11 fields."""
        rng = self.rng
        self.sessions += 1
        session_id = f"b-{self.sessions:09d}"
        user_id = rng.randint(1, USERS)
        at = started
        lines = []
        for position in range(rng.randint(1, 10)):
            product_id = int(rng.random() ** 2 * PRODUCTS) + 1  # some products sell more
            roll = rng.random()
            if position == 0 or roll < 0.65:
                kind, quantity = "view", 1
            elif roll < 0.88:
                kind, quantity = "add_to_cart", 1
            else:
                kind, quantity = "purchase", rng.randint(1, 3)
            event_time = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            h = f"{rng.getrandbits(128):032x}"
            event_id = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:]}"
            lines.append(
                f"{event_id},{kind},{user_id},User {user_id},{product_id},"
                f"Product {product_id},{CATEGORIES[product_id % len(CATEGORIES)]},"
                f"{product_id % 500 + 0.99:.2f},{quantity},{event_time},{session_id}"
            )
            at += rng.uniform(2, 90)
        return lines

    def batch(
        self, events: int, late_share: float = 0.0, replay_share: float = 0.0, history: bool = False
    ) -> io.StringIO:
        """About ``events`` rows as COPY CSV (contract fields + source_file, batch_id[, ingested_at]).

        The stream clock moves on with them. ``history`` rows were ingested
        when they happened (ingested_at = event_time), as if streamed over
        past days; other rows get the loading transaction's now().
        """
        self.batches += 1
        lineage = f",bench-{self.batches:06d}.csv,{self.batches},{QUERY_ID}"
        step = 86_400 / EVENTS_PER_DAY * 5.5  # seconds between session starts (~5.5 events each)
        replays = [
            self.rng.choice(self.recent)
            for _ in range(int(events * replay_share) if self.recent else 0)
        ]
        target = events - len(replays)
        lines: list[str] = []
        while len(lines) < int(target * late_share):  # late: sessions of the last three days
            lines.extend(self._session(self.clock - self.rng.uniform(0, 3 * 86_400)))
        while len(lines) < target:
            self.clock += step * self.rng.uniform(0.5, 1.5)
            lines.extend(self._session(self.clock))
        self.recent.extend(lines[-2_000:])
        lines.extend(replays)  # verbatim copies of recent events, as from another file
        if history:
            body = "".join(f"{line}{lineage},{line.split(',')[9]}\n" for line in lines)
        else:
            body = "".join(f"{line}{lineage}\n" for line in lines)
        return io.StringIO(body)


def load(factory: EventFactory, events: int, history: bool = False, **shares: float) -> int:
    """COPY about ``events`` events in chunks, one transaction per chunk of <= 1M."""
    loaded = 0
    columns = HISTORY_COLUMNS if history else COLUMNS
    with db.connection() as conn, conn.cursor() as cur:
        while loaded < events:
            chunk = min(1_000_000, events - loaded)
            data = factory.batch(chunk, history=history, **shares)
            rows = data.getvalue().count("\n")
            cur.copy_expert(f"copy raw.ecommerce_events ({columns}) from stdin (format csv)", data)
            cur.execute(
                "insert into raw.ingestion_batches (stream_name, query_id, batch_id, files, "
                "rows_in, rows_loaded, rows_rejected, started_at) "
                "values ('bench', %s, %s, %s, %s, %s, 0, now())",
                (QUERY_ID, factory.batches, [f"bench-{factory.batches:06d}.csv"], rows, rows),
            )
            conn.commit()
            loaded += rows
    return loaded


def settle() -> None:
    """VACUUM ANALYZE as setup: autovacuum after a bulk load would skew the timings."""
    with db.connection() as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("vacuum analyze")


def dbt(*args: str) -> tuple[float, float]:
    """Run dbt; (wall seconds of the command, seconds dbt reports for its nodes)."""
    env = settings.environment()
    state = settings.state_dir() / "bench-dbt"
    env.update(DBT_TARGET_PATH=str(state / "target"), DBT_LOG_PATH=str(state / "logs"))
    started = time.perf_counter()
    result = subprocess.run(
        [str(DBT), *args, "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT)],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-5000:] + result.stderr[-2000:])
        raise SystemExit(f"dbt {' '.join(args)} failed (exit {result.returncode})")
    run_results = json.loads((state / "target" / "run_results.json").read_text())
    return wall, run_results["elapsed_time"]


def ensure_database(name: str) -> None:
    db.ensure_database(name)
    db.apply_schema()
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute(db.TRUNCATE_RAW)
        # raw is partitioned by ingested_at: one partition for the history's older times
        cur.execute("select raw.ensure_partitions(null, '2000-01-01')")
        conn.commit()


def measure(factory: EventFactory, increment: int, repeat: int) -> dict[str, float]:
    runs, run_nodes = [], []
    for _ in range(repeat):
        load(factory, increment, late_share=0.02, replay_share=0.01)
        wall, nodes = dbt("run")
        runs.append(wall)
        run_nodes.append(nodes)
        log.info("  dbt run after %s new events: %.2fs (dbt: %.2fs)", increment, wall, nodes)
    load(factory, increment, late_share=0.02, replay_share=0.01)
    build_wall, build_nodes = dbt("build")
    log.info(
        "  dbt build after %s new events: %.2fs (dbt: %.2fs)", increment, build_wall, build_nodes
    )
    return {
        "run": statistics.median(runs),
        "run_min": min(runs),
        "run_dbt": statistics.median(run_nodes),
        "build": build_wall,
        "build_dbt": build_nodes,
    }


@click.command(cls=cli.Command, help=__doc__.splitlines()[0])
@click.option("--sizes", type=int, nargs=2, default=(1_000_000, 5_000_000))
@click.option("--increment", type=int, default=10_000)
@click.option("--repeat", type=int, default=5, help="incremental runs per size (median)")
@click.option("--database", default="ecommerce_bench")
@click.option("--seed", type=int, default=1)
def main(**options) -> int:
    args = SimpleNamespace(**options)
    cli.configure_logging()
    load_at_start = os.getloadavg()
    os.environ["PGDATABASE"] = args.database  # everything below, dbt included, uses it
    ensure_database(args.database)

    factory = EventFactory(args.seed, datetime(2026, 1, 1, tzinfo=UTC))
    results: dict[int, dict[str, float]] = {}
    loaded = 0
    for size in args.sizes:
        started = time.perf_counter()
        loaded += load(factory, size - loaded, history=True)
        log.info(
            "loaded raw up to %s events in %.1fs (setup)",
            f"{loaded:,}",
            time.perf_counter() - started,
        )
        settle()
        wall, nodes = dbt("build", "--full-refresh")
        log.info(
            "dbt build --full-refresh at %s events: %.1fs (dbt: %.1fs)", f"{loaded:,}", wall, nodes
        )
        settle()
        results[size] = {"full_refresh": wall, **measure(factory, args.increment, args.repeat)}
        loaded = db_count()

    small, big = args.sizes
    a, b = results[small], results[big]
    print()
    print(f"incremental dbt, {args.increment:,} new events per run (median of {args.repeat} runs)")
    print(f"{'':34}{small:>12,}{big:>12,}   ratio")
    for key, label in (
        ("run", "dbt run, wall s"),
        ("run_min", "dbt run, wall s, fastest"),
        ("run_dbt", "dbt run, as dbt reports s"),
        ("build", "dbt build (with tests), wall s"),
        ("build_dbt", "dbt build, as dbt reports s"),
        ("full_refresh", "dbt build --full-refresh, wall s"),
    ):
        print(f"{label:34}{a[key]:>12.2f}{b[key]:>12.2f}{b[key] / a[key]:>8.2f}")
    print()
    print(
        f"incremental dbt run ratio {big:,} / {small:,} events: {b['run'] / a['run']:.2f} (target <= 1.5)"
    )
    print(f"full refresh at {big:,} events: {b['full_refresh']:.1f}s")
    print(
        "load average (1/5/15 min) at the start: {:.1f} {:.1f} {:.1f}, at the end: "
        "{:.1f} {:.1f} {:.1f} on {} CPUs (other work on the machine skews the figures)".format(
            *load_at_start, *os.getloadavg(), os.cpu_count()
        )
    )
    return 0


def db_count() -> int:
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute("select count(*) from raw.ecommerce_events")
        return cur.fetchone()[0]


if __name__ == "__main__":
    cli.run(main, "bench_dbt_incremental")
