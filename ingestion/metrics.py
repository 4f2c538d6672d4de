"""Prometheus metrics of the streaming job, served on loopback when a port is given.

``python -m ingestion --metrics-port 9464`` serves ``http://127.0.0.1:9464/metrics``
(``ECOM_METRICS_PORT``; off unless set; ``--metrics-host 0.0.0.0`` in a
container, whose port the Compose stack publishes on the host's loopback). Counts are since the job started (a
monitoring system takes their rate); the ledger in PostgreSQL has the totals.

=============================================  =========  ==========================================
metric                                         type       what
=============================================  =========  ==========================================
``ecom_ingest_rows_total{outcome}``            counter    rows in, ``loaded`` and ``quarantined``
``ecom_ingest_files_total{outcome}``           counter    files ``claimed``, ``loaded``,
                                                          ``quarantined`` (whole files)
``ecom_ingest_files_quarantined_total{kind}``  counter    whole files quarantined, by kind of reason
                                                          (ingestion.inspection.QUARANTINE_KINDS)
``ecom_ingest_batches_total``                  counter    micro-batches committed
``ecom_ingest_batch_seconds``                  histogram  seconds per committed micro-batch
``ecom_ingest_lag_seconds``                    gauge      at the last commit: now minus the newest
                                                          event it loaded
``ecom_ingest_files_waiting``                  gauge      complete files not claimed yet
``ecom_ingest_files_in_flight``                gauge      files claimed and not loaded yet
``ecom_ingest_last_commit_timestamp_seconds``  gauge      Unix time of the last commit
=============================================  =========  ==========================================
"""

from __future__ import annotations

import logging
import threading

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from pipeline.errors import UserError

log = logging.getLogger(__name__)

BATCH_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class MetricsError(UserError):
    """The metrics port could not be opened."""


def serve(port: int, registry: CollectorRegistry, host: str = "127.0.0.1") -> None:
    """Serve ``registry`` on ``host``:``port`` (a daemon thread), or say why not in one line."""
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise MetricsError(
            f"cannot serve metrics on {host}:{port} ({exc.strerror or exc}); "
            "choose another --metrics-port"
        ) from exc
    log.info("metrics: http://%s:%d/metrics", host, port)


class JobMetrics:
    """What the job counts, read at each scrape; batch seconds observed as batches commit."""

    def __init__(self, summary, intake) -> None:
        self.registry = CollectorRegistry()
        self._summary = summary  # ingestion.job.JobSummary
        self._intake = intake  # ingestion.intake.Intake
        self._lock = threading.Lock()
        self.batch_seconds = Histogram(
            "ecom_ingest_batch_seconds",
            "Seconds per committed micro-batch.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(self)

    def collect(self):
        summary, intake = self._summary, self._intake
        yield _counters(
            "ecom_ingest_rows",
            "Input rows since start, by outcome.",
            "outcome",
            {
                "in": summary.rows_in,
                "loaded": summary.rows_loaded,
                "quarantined": summary.rows_rejected,
            },
        )
        yield _counters(
            "ecom_ingest_files",
            "Files since start, by outcome.",
            "outcome",
            {
                "claimed": intake.claimed,
                "loaded": summary.files_loaded,
                "quarantined": intake.quarantined,
            },
        )
        yield _counters(
            "ecom_ingest_files_quarantined",
            "Whole files quarantined since start, by kind of reason.",
            "kind",
            dict(sorted(dict(intake.quarantined_by).items())),
        )
        yield CounterMetricFamily(
            "ecom_ingest_batches", "Micro-batches committed since start.", value=summary.batches
        )
        if summary.lag_seconds is not None:
            yield GaugeMetricFamily(
                "ecom_ingest_lag_seconds",
                "At the last commit: now minus the newest event it loaded.",
                value=summary.lag_seconds,
            )
        yield GaugeMetricFamily(
            "ecom_ingest_files_waiting", "Complete files not claimed yet.", value=intake.waiting()
        )
        yield GaugeMetricFamily(
            "ecom_ingest_files_in_flight",
            "Files claimed and not loaded yet.",
            value=intake.in_flight_count(),
        )
        if summary.last_commit_at is not None:
            yield GaugeMetricFamily(
                "ecom_ingest_last_commit_timestamp_seconds",
                "Unix time of the last commit.",
                value=summary.last_commit_at,
            )


def _counters(name: str, text: str, label: str, values: dict[str, float]) -> CounterMetricFamily:
    """One counter family, a sample per label value."""
    family = CounterMetricFamily(name, text, labels=[label])
    for value, count in values.items():
        family.add_metric([value], count)
    return family
