"""The streaming job: read the inputs folder, validate, write each micro-batch exactly once."""

from __future__ import annotations

import json
import logging
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.errors import StreamingQueryException
from pyspark.sql import functions as F

from ingestion import checkpoint, source
from ingestion.intake import Intake
from ingestion.sink import BatchResult, BatchWriter
from ingestion.transform import for_sink, transform
from pipeline import db, partitions, settings
from pipeline.config import default, megabytes
from pipeline.errors import UserError

log = logging.getLogger(__name__)

MULTILINE_TRIGGER_SECONDS = 2.0


@dataclass
class JobConfig:
    input_dir: Path
    checkpoint_dir: Path
    archive_dir: Path
    quarantine_dir: Path | None = None  # default: pipeline.settings.quarantine_dir()
    master: str = default("spark_master")
    trigger_seconds: float = default("trigger_seconds")
    once: bool = False
    max_files_per_trigger: int = default("max_files_per_trigger")
    max_bytes_per_trigger: int = megabytes(default("max_mb_per_trigger"))
    processed: str = default("processed_files")  # archive | delete
    archive_days: float = default("archive_days")  # 0: archived files are kept for ever
    escape: str | None = None  # ingestion.dialect: a backslash, or None (RFC 4180's "")
    naive_timezone: str | None = None  # the zone of times written without one (IANA name)
    settle_seconds: float = default("settle_seconds")
    part_bytes: int = megabytes(default("part_mb"))
    stream_name: str = "ecommerce_events"
    db_retry_seconds: float = 120.0
    metrics_port: int | None = None  # Prometheus metrics (ingestion.metrics)
    metrics_host: str = default("metrics_host")
    spark_conf: dict[str, str] = field(default_factory=dict)


_SUMMARY_LOCK = threading.Lock()


@dataclass
class JobSummary:
    batches: int = 0
    replayed: int = 0
    rows_in: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    files_loaded: int = 0
    lag_seconds: float | None = None  # of the last batch
    last_commit_at: float | None = None  # Unix time
    batch_seconds: object = None  # a prometheus_client Histogram, when metrics are served

    def add(self, result: BatchResult) -> None:
        with _SUMMARY_LOCK:  # the two queries' batches run on their own threads
            self._add(result)

    def _add(self, result: BatchResult) -> None:
        if result.replayed:
            self.replayed += 1
            return
        self.batches += 1
        self.files_loaded += len(result.completed)
        self.last_commit_at = time.time()
        if result.lag_seconds is not None:
            self.lag_seconds = result.lag_seconds
        if self.batch_seconds is not None:
            self.batch_seconds.observe(result.seconds)
        self.rows_in += result.rows_in
        self.rows_loaded += result.rows_loaded
        self.rows_rejected += result.rows_rejected


class IngestionError(UserError):
    """The job stopped for a reason the user can act on; the message says which."""


def _query_id_reader(checkpoint_dir: Path):
    """Spark's query id, from the checkpoint's metadata file (written before batch 0)."""
    cached: list[str] = []

    def query_id() -> str:
        if not cached:
            metadata = (checkpoint_dir / "metadata").read_text().splitlines()[0]
            cached.append(json.loads(metadata)["id"])
        return cached[0]

    return query_id


def check_database(naive_timezone: str | None = None) -> None:
    """Fail fast, with one line, if the loader cannot reach its tables (or PostgreSQL
    does not know the zone of naive times)."""
    with db.connection("loader") as conn, conn.cursor() as cur:
        try:
            cur.execute("select 1 from raw.ingestion_batches limit 1")
            partitions.ensure(conn)  # raw's partitions ahead of the first rows
        except Exception as exc:  # noqa: BLE001 - reported as one line
            raise IngestionError(
                f"the loader role cannot read raw.ingestion_batches or create raw's partitions "
                f"({str(exc).strip()}); run 'make db' to bring the schema and grants up to date"
            ) from exc
        if naive_timezone is not None:
            cur.execute("select count(*) from pg_timezone_names where name = %s", (naive_timezone,))
            if cur.fetchone()[0] == 0:
                raise IngestionError(
                    f"PostgreSQL does not know the time zone {naive_timezone!r} "
                    "(--naive-timezone): give an IANA name it lists in pg_timezone_names"
                )


def build_query(spark, config: JobConfig, intake: Intake, writer: BatchWriter, multiline: bool):
    """Define and start one streaming query over the intake's parts (not yet waited on).

    The job runs two: one over plain parts (the contract's own header, one line a
    record: the JVM's path), one over the rest (another header or delimiter,
    multi-line records, backslash escapes: read by ingestion.dialect in a Python
    UDF, which only they pay for). The intake puts every part of a delivery in
    the same one.
    """
    folder = intake.multiline_dir if multiline else intake.plain_dir
    files = (
        spark.readStream.format(source.NAME)
        .option("maxFilesPerTrigger", str(config.max_files_per_trigger))
        .option("maxBytesPerTrigger", str(config.max_bytes_per_trigger))
        .option("tasks", str(spark.sparkContext.defaultParallelism))
        .load(str(folder.resolve()))
        .select("source_file", F.col("content").cast("string").alias("content"))
    )
    writer_stream = (
        for_sink(transform(files, multiline, config.escape or "", config.naive_timezone), multiline)
        .writeStream.queryName(writer.stream_name)
        .option("checkpointLocation", str(_checkpoint(config, multiline).resolve()))
        .foreachBatch(writer)
    )
    if config.once:
        writer_stream = writer_stream.trigger(availableNow=True)
    else:
        # The multi-line query's own triggers cost the plain one latency
        # (docs/performance.md): files with multi-line records are rare.
        seconds = max(config.trigger_seconds, MULTILINE_TRIGGER_SECONDS if multiline else 0)
        writer_stream = writer_stream.trigger(processingTime=f"{int(seconds * 1000)} milliseconds")
    return writer_stream.start()


def _checkpoint(config: JobConfig, multiline: bool) -> Path:
    return config.checkpoint_dir / "multiline" if multiline else config.checkpoint_dir


def _intake(config: JobConfig) -> Intake:
    quarantine = config.quarantine_dir or settings.quarantine_dir()
    return Intake(
        config.input_dir,
        config.checkpoint_dir / "intake",  # ingestion.intake.in_flight reads it there
        config.archive_dir,
        quarantine,
        processed=config.processed,
        archive_days=config.archive_days,
        settle_seconds=config.settle_seconds,
        part_bytes=config.part_bytes,
        escape=config.escape,
        naive_timezone=config.naive_timezone,
    )


class _Thread(threading.Thread):
    """A thread whose exception is raised again by ``result()``."""

    def __init__(self, target, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:  # handed to the main thread
            self.error = exc

    def result(self) -> None:
        self.join()
        if self.error is not None:
            raise self.error


def run(config: JobConfig) -> JobSummary:
    """Run the job until it is done (--once) or stopped (SIGINT/SIGTERM)."""
    check_database(config.naive_timezone)
    checkpoint.claim_checkpoint(config.checkpoint_dir, config.input_dir)
    checkpoint.lock_checkpoint(config.checkpoint_dir)
    checkpoint.claim_source(config.checkpoint_dir)
    summary = JobSummary()
    intake = _intake(config)
    if config.metrics_port:
        _serve_metrics(config, summary, intake)
    intake.start_watching()  # before the first listing: no file falls between the two
    intake.recover()
    writers = [_writer(config, summary, intake, multiline) for multiline in (False, True)]
    stop = threading.Event()
    stop_intake = threading.Event()
    if config.once:
        intake_thread = _Thread(lambda: intake.drain(stop), "intake")
    else:
        intake_thread = _Thread(lambda: intake.run(stop_intake), "intake")
    intake_thread.start()  # claims while Spark starts

    def request_stop(signum, _frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.info(
            "%s received: finishing the current batch, then stopping", signal.Signals(signum).name
        )
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    spark = None
    try:
        spark = _start_spark(config)
        if config.once:
            intake_thread.result()  # every file present is claimed (or quarantined)
        queries = [
            build_query(spark, config, intake, writer, multiline)
            for writer, multiline in zip(writers, (False, True), strict=True)
        ]
        _await(queries, stop, intake)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop.set()
        stop_intake.set()
        if intake_thread.is_alive():
            intake_thread.join(timeout=30)
        for writer in writers:
            writer.close()
        intake.close()
        if spark is not None:
            spark.stop()
    _log_summary(summary, intake)
    return summary


def _writer(config: JobConfig, summary: JobSummary, intake: Intake, multiline: bool):
    """The sink of one of the two queries (plain parts, or those the Python path reads)."""
    return BatchWriter(
        config.stream_name + ("_multiline" if multiline else ""),
        _query_id_reader(_checkpoint(config, multiline)),
        retry_seconds=config.db_retry_seconds,
        on_batch=summary.add,
        intake=intake,
    )


def _serve_metrics(config: JobConfig, summary: JobSummary, intake: Intake) -> None:
    from ingestion import metrics

    served = metrics.JobMetrics(summary, intake)
    summary.batch_seconds = served.batch_seconds
    metrics.serve(config.metrics_port, served.registry, config.metrics_host)


def _start_spark(config: JobConfig):
    """The Spark session, with the intake's source registered."""
    from ingestion.spark import build_session

    clock = time.monotonic()
    spark = build_session(config.master, **config.spark_conf)
    spark.dataSource.register(source.IntakeParts)
    if spark.sparkContext.uiWebUrl:
        # SPARK_LOCAL_IP (127.0.0.1 unless set) keeps it on loopback
        log.info("Spark UI: %s", spark.sparkContext.uiWebUrl)
    log.info(
        "Spark %s up in %.1fs (master %s); watching %s (and its subfolders) for *.csv%s",
        spark.version,
        time.monotonic() - clock,
        config.master,
        config.input_dir,
        " (once: everything present, then exit)" if config.once else "",
    )
    return spark


def _await(queries: list, stop: threading.Event, intake: Intake) -> None:
    """Wait for the queries: until they end (--once), a stop is asked (each finishes
    its batch first, for up to a minute) or one fails (IngestionError, one line)."""
    while any(query.isActive for query in queries):
        if stop.is_set():
            deadline = time.monotonic() + 60
            for query in queries:
                while query.status.get("isTriggerActive") and time.monotonic() < deadline:
                    time.sleep(0.1)
                query.stop()
            break
        try:
            for query in queries:
                query.awaitTermination(0.25)
        except StreamingQueryException:
            pass  # reported just below
        if any(query.exception() is not None for query in queries):
            break
    for query in queries:
        exception = query.exception()
        if exception is not None:
            for other in queries:
                other.stop()
            raise IngestionError(_describe(exception, intake))


def _log_summary(summary: JobSummary, intake: Intake) -> None:
    log.info(
        "stopped: %d batches, %d rows in, %d loaded, %d rejected%s; %d files claimed%s",
        summary.batches,
        summary.rows_in,
        summary.rows_loaded,
        summary.rows_rejected,
        f", {summary.replayed} replayed batches skipped" if summary.replayed else "",
        intake.claimed,
        f", {intake.quarantined} quarantined whole" if intake.quarantined else "",
    )


def _describe(exception, intake: Intake | None = None) -> str:
    """The streaming query's failure in one line: the cause's own message and where."""
    text = str(exception.desc if hasattr(exception, "desc") else exception)
    for line in text.splitlines():
        for marker in ("SinkError: ", "DatabaseUnavailable: ", "IngestionError: "):
            if marker in line:
                return line.split(marker, 1)[1].strip()
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    # Py4J's "An exception was raised by the Python Proxy" ends with the
    # Python traceback, whose last exception line is the cause.
    causes = [line for line in lines if re.match(r"^[A-Za-z_][\w.$]*(Error|Exception)\b", line)]
    cause = causes[-1] if causes else (lines[0] if lines else repr(exception))
    where = intake.in_flight_note() if intake is not None else ""
    return f"the streaming query failed: {cause}{where}"
