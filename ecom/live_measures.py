"""What live mode measures and reports: the totals of a run, the ledger since it
started, the marts' freshness, files waiting, and its Prometheus metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ecom.live_gx import GxStatus
from pipeline import db, settings

# A cycle starts on the first stream commit within a window around its time.
COMMIT_POLL_SECONDS = 0.05


@dataclass
class Totals:
    loaded: int = 0
    rejected: int = 0
    generated: int = 0
    freshness: list[float] = field(default_factory=list)  # the cycles before the stop
    final_freshness: float | None = None  # the last cycle, after the stop
    cycle_seconds: list[float] = field(default_factory=list)
    dbt_seconds: list[float] = field(default_factory=list)
    partitions_dropped: int = 0  # raw's, by --raw-retention-days


def wait_for_commit(until: float, stop: Callable[[], bool] = lambda: False) -> bool:
    """Whether a loader transaction commits a batch before ``until`` (a
    monotonic time); polls the ledger's newest transaction id (an index read)."""
    with db.connection("auditor") as conn, conn.cursor() as cur:
        conn.autocommit = True

        def newest() -> int | None:
            cur.execute("select max(xact_id) from raw.ingestion_batches")
            return cur.fetchone()[0]

        before = newest()
        while not stop() and time.monotonic() < until:
            time.sleep(max(0.0, min(COMMIT_POLL_SECONDS, until - time.monotonic())))
            if newest() != before:
                return True
    return False


def ledger_since(started_at: datetime) -> tuple[int, int]:
    """Rows loaded and quarantined since ``started_at``."""
    with db.connection("auditor") as conn, conn.cursor() as cur:
        cur.execute(
            "select coalesce(sum(rows_loaded), 0), coalesce(sum(rows_rejected), 0) "
            "from raw.ingestion_batches where committed_at >= %s",
            (started_at,),
        )
        loaded, rejected = cur.fetchone()
    return int(loaded), int(rejected)


def freshness(started_at: datetime) -> float | None:
    """Now minus the newest event in the marts; None until the marts hold one of this run's."""
    with db.connection("analyst") as conn, conn.cursor() as cur:
        cur.execute(
            "select extract(epoch from clock_timestamp() - max(last_event_at))::float8 "
            "from marts.fct_revenue_hourly having max(last_event_at) >= %s",
            (started_at,),
        )
        row = cur.fetchone()
        return row[0] if row else None


def waiting_files(input_dir: Path) -> int:
    """Files not loaded yet: in the inputs folder, or claimed by the stream and in flight."""
    from ingestion import files, watcher

    spark_checkpoint = settings.checkpoint_dir()  # where the stream keeps its parts in flight
    return len(watcher.waiting_files(input_dir)) + len(files.in_flight(spark_checkpoint))


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class LiveMetrics:
    """Live mode's Prometheus metrics (the stream serves its own, ingestion.metrics)."""

    def __init__(self, gx: GxStatus) -> None:
        from prometheus_client import CollectorRegistry, Histogram

        self._gx = gx
        self.registry = CollectorRegistry()
        self.dbt_seconds = Histogram(
            "ecom_live_dbt_cycle_seconds",
            "Seconds of each dbt cycle.",
            buckets=(0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60, 120),
            registry=self.registry,
        )
        self.freshness: float | None = None
        self.registry.register(self)

    def serve(self, port: int) -> None:
        from ingestion import metrics

        metrics.serve(port, self.registry)

    def cycle(self, dbt_seconds: float, freshness: float | None) -> None:
        self.dbt_seconds.observe(dbt_seconds)
        if freshness is not None:
            self.freshness = freshness

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        if self.freshness is not None:
            yield GaugeMetricFamily(
                "ecom_live_mart_freshness_seconds",
                "After the last dbt cycle: now minus the newest event in the marts.",
                value=self.freshness,
            )
        latest = dict(self._gx.latest)
        success = GaugeMetricFamily(
            "ecom_live_checkpoint_success",
            "The last run of each Great Expectations checkpoint: 1 passed, 0 failed.",
            labels=["checkpoint"],
        )
        failed = GaugeMetricFamily(
            "ecom_live_checkpoint_failed_expectations",
            "Failed expectations in the last run of each checkpoint.",
            labels=["checkpoint"],
        )
        for name, (passed, total, ok, _) in sorted(latest.items()):
            success.add_metric([name], 1.0 if ok else 0.0)
            failed.add_metric([name], total - passed)
        yield success
        yield failed
