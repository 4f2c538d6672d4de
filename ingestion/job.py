"""The streaming job: read the inputs folder, validate, write each micro-batch exactly once."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.errors import StreamingQueryException
from pyspark.sql import functions as F

from ingestion import source
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


_LOCKS: list = []  # the open lock files of this process's checkpoints


def lock_checkpoint(checkpoint_dir: Path) -> None:
    """One job per checkpoint: a second one stops at once, with one line (an exclusive
    ``flock`` on ``<checkpoint>/lock``, held until the process exits)."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    handle = open(checkpoint_dir / "lock", "a+")  # noqa: SIM115 - held for the process
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise IngestionError(
            f"the checkpoint {checkpoint_dir} is in use by another job (pid {holder}); "
            "stop it first, or give this one its own --checkpoint-dir and --input-dir"
        ) from exc
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    _LOCKS.append(handle)


def claim_checkpoint(checkpoint_dir: Path, input_dir: Path) -> None:
    """A checkpoint belongs to one inputs folder: refuse to mix them up, in one clear line."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    marker = checkpoint_dir / "ecom_input_dir"
    wanted = str(input_dir.resolve())
    if marker.exists():
        owner = marker.read_text().strip()
        if owner != wanted:
            raise IngestionError(
                f"the checkpoint {checkpoint_dir} belongs to the inputs folder {owner}; "
                f"give {wanted} its own --checkpoint-dir (the checkpoint also holds the "
                "files in flight from that folder: do not delete it while the job has some)"
            )
    elif not (checkpoint_dir / "metadata").exists():  # a new checkpoint
        marker.write_text(wanted + "\n")
    if (checkpoint_dir / "metadata").exists() and not (checkpoint_dir / "intake").exists():
        # Written by a release before the intake: Spark read the inputs folder
        # itself. Every file it committed was archived, every other one is still
        # in the inputs folder, so a new checkpoint loses and doubles nothing.
        old = checkpoint_dir.with_name(f"{checkpoint_dir.name}.before-intake-{int(time.time())}")
        checkpoint_dir.rename(old)
        checkpoint_dir.mkdir()
        marker_text = f"{wanted}\n"
        (checkpoint_dir / "ecom_input_dir").write_text(marker_text)
        log.warning(
            "the checkpoint %s was written before the job claimed its files; moved to %s, "
            "and a new one started (files it had not committed are still in %s)",
            checkpoint_dir,
            old,
            input_dir,
        )


SOURCE_MARKER = "ecom_source"
SOURCE_KIND = "intake part sequence (ingestion.source)"
_SPARK_STATE = ("metadata", "offsets", "commits", "sources", "state", "multiline")


def claim_source(checkpoint_dir: Path) -> None:
    """Spark's state in the checkpoint is for the intake's part sequence (ingestion.source).

    A checkpoint of a release before read the parts with Spark's file source,
    whose offsets mean nothing here. That state is dropped (the intake's own
    state, ``intake/``, is kept): every part it committed is in the ledger and
    deleted, every other one is still in ``intake/parts`` and is read again
    (ingestion.sink leaves out a part the ledger already has)."""
    marker = checkpoint_dir / SOURCE_MARKER
    if marker.exists():
        return
    if (checkpoint_dir / "metadata").exists():
        for name in _SPARK_STATE:
            path = checkpoint_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        log.warning(
            "the checkpoint %s held Spark's file-source state of a release before; dropped it "
            "(the files in flight are kept and read again; nothing is lost or doubled)",
            checkpoint_dir,
        )
    marker.write_text(SOURCE_KIND + "\n")


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
    from ingestion.spark import build_session

    check_database(config.naive_timezone)
    claim_checkpoint(config.checkpoint_dir, config.input_dir)
    lock_checkpoint(config.checkpoint_dir)
    claim_source(config.checkpoint_dir)
    summary = JobSummary()
    intake = _intake(config)
    if config.metrics_port:
        from ingestion import metrics

        served = metrics.JobMetrics(summary, intake)
        summary.batch_seconds = served.batch_seconds
        metrics.serve(config.metrics_port, served.registry, config.metrics_host)
    intake.start_watching()  # before the first listing: no file falls between the two
    intake.recover()
    writers = [
        BatchWriter(
            config.stream_name + ("_multiline" if multiline else ""),
            _query_id_reader(_checkpoint(config, multiline)),
            retry_seconds=config.db_retry_seconds,
            on_batch=summary.add,
            intake=intake,
        )
        for multiline in (False, True)
    ]
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
        if config.once:
            intake_thread.result()  # every file present is claimed (or quarantined)
        queries = [
            build_query(spark, config, intake, writer, multiline)
            for writer, multiline in zip(writers, (False, True), strict=True)
        ]
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
    return summary


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
