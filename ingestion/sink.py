"""The exactly-once sink: one micro-batch, one PostgreSQL transaction.

``foreachBatch`` is at-least-once: after a crash Spark replays the last batch
whose commit marker it had not written, with the same batch id and the same
files. This sink makes the write idempotent: the batch's valid rows (COPY into
raw.ecommerce_events), its rejects (COPY into raw.ecommerce_events_rejected)
and its ledger row (raw.ingestion_batches) commit in one transaction, and a
(query_id, batch_id) already in the ledger is skipped as a replay.

The batch DataFrame is evaluated exactly once (``toArrow``): every further
step works on that Arrow table on the driver.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ingestion.transform import EVENT_COLUMNS
from pipeline import db

log = logging.getLogger(__name__)
T = TypeVar("T")

EVENTS_COPY = (
    "copy raw.ecommerce_events ({}, source_file, batch_id) from stdin with (format csv)".format(
        ", ".join(EVENT_COLUMNS)
    )
)
REJECTS_COPY = (
    "copy raw.ecommerce_events_rejected (source_file, line_number, raw_line, reasons, batch_id) "
    "from stdin with (format csv)"
)
_CSV = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")


class SinkError(RuntimeError):
    """The batch could not be committed; it was not, and will be replayed on restart."""


@dataclass
class BatchResult:
    batch_id: int
    files: int
    rows_in: int
    rows_loaded: int
    rows_rejected: int
    seconds: float
    lag_seconds: float | None
    replayed: bool = False
    spark_seconds: float = 0.0  # read + validate (the one Spark action)
    db_seconds: float = 0.0  # the transaction

    def log_line(self) -> str:
        if self.replayed:
            return f"batch {self.batch_id}: already committed (a replay after a restart); skipped"
        rate = self.rows_in / self.seconds if self.seconds > 0 else 0.0
        lag = f"{self.lag_seconds:.1f}s" if self.lag_seconds is not None else "-"
        return (
            f"batch {self.batch_id}: {self.files} files, {self.rows_in} rows in, "
            f"{self.rows_loaded} loaded, {self.rows_rejected} rejected, {self.seconds:.2f}s, "
            f"{rate:,.0f} rows/s (spark {self.spark_seconds:.2f}s, db {self.db_seconds:.2f}s), "
            f"lag {lag}"
        )


def _csv_bytes(table: pa.Table) -> io.BytesIO:
    buffer = io.BytesIO()
    if table.num_rows:
        pacsv.write_csv(table, buffer, _CSV)
    buffer.seek(0)
    return buffer


def split_batch(table: pa.Table, batch_id: int) -> tuple[pa.Table, pa.Table]:
    """(valid rows for raw.ecommerce_events, rejects), in their COPY column order."""
    table = table.filter(table["is_data"])
    valid = pc.equal(pc.list_value_length(table["reasons"]), 0)
    batch_column = pa.array([batch_id] * table.num_rows, pa.int64())
    table = table.append_column("batch_id", batch_column)
    good = table.filter(valid).select([*EVENT_COLUMNS, "source_file", "batch_id"])
    bad = table.filter(pc.invert(valid))
    reasons = pc.binary_join_element_wise("{", pc.binary_join(bad["reasons"], ","), "}", "")
    bad = pa.table(
        {
            "source_file": bad["source_file"],
            "line_number": bad["line_number"],
            "raw_line": bad["raw_line"],
            "reasons": reasons,
            "batch_id": bad["batch_id"],
        }
    )
    return good, bad


class BatchWriter:
    """The ``foreachBatch`` function. Holds one loader connection across batches."""

    def __init__(
        self,
        stream_name: str,
        query_id: Callable[[], str],
        retry_seconds: float = 120.0,
        on_batch: Callable[[BatchResult], None] | None = None,
        processed: Callable[[list[str]], None] | None = None,  # called with file names
    ) -> None:
        self.stream_name = stream_name
        self._query_id = query_id
        self.retry_seconds = retry_seconds
        self.on_batch = on_batch
        self.processed = processed
        self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __call__(self, batch_df, batch_id: int) -> None:
        started = datetime.now(UTC)
        clock = time.perf_counter()
        if self._retrying(batch_id, lambda: self._committed(batch_id)):
            # Replayed after a crash that followed the database commit: write
            # nothing, but finish the housekeeping of its files (those already
            # archived are skipped: spark.sql.files.ignoreMissingFiles).
            names = batch_df.select("source_file").distinct().toArrow()["source_file"]
            files = names.to_pylist()
            result = BatchResult(batch_id, len(files), 0, 0, 0, 0.0, None, replayed=True)
        else:
            table = batch_df.toArrow()  # the one action on the batch: one pass over its files
            spark_seconds = time.perf_counter() - clock
            files = pc.unique(table["source_file"]).to_pylist() if table.num_rows else []
            result = self.write(table, batch_id, sorted(files), started)
            result.spark_seconds = spark_seconds
            result.db_seconds = time.perf_counter() - clock - spark_seconds
        result.seconds = time.perf_counter() - clock
        log.info("%s", result.log_line())
        if self.processed:
            self.processed(files)
        if self.on_batch:
            self.on_batch(result)

    def _committed(self, batch_id: int) -> bool:
        conn = self._connection()
        with conn.cursor() as cur:
            cur.execute(
                "select 1 from raw.ingestion_batches where query_id = %s and batch_id = %s",
                (self._query_id(), batch_id),
            )
            found = cur.fetchone() is not None
        conn.rollback()
        return found

    def write(
        self, table: pa.Table, batch_id: int, files: list[str], started: datetime
    ) -> BatchResult:
        """Commit the batch's rows, rejects and ledger row in one transaction."""
        good, bad = split_batch(table, batch_id)
        lag = None
        if good.num_rows:
            newest = pc.max(table["event_at"]).as_py()
            if newest is not None:
                if newest.tzinfo is None:
                    newest = newest.replace(tzinfo=UTC)
                lag = (datetime.now(UTC) - newest).total_seconds()
        rows_in = good.num_rows + bad.num_rows
        result = BatchResult(batch_id, len(files), rows_in, good.num_rows, bad.num_rows, 0.0, lag)
        query_id = self._query_id()
        committed = self._retrying(
            batch_id, lambda: self._commit(query_id, batch_id, files, good, bad, result, started)
        )
        result.replayed = not committed
        return result

    def _retrying(self, batch_id: int, action: Callable[[], T]) -> T:
        """Run ``action``, reconnecting with backoff while PostgreSQL is unreachable."""
        deadline = time.monotonic() + self.retry_seconds
        delay = 1.0
        while True:
            try:
                return action()
            except (
                psycopg2.OperationalError,
                psycopg2.InterfaceError,
                db.DatabaseUnavailable,
            ) as exc:
                self.close()
                reason = (
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                )
                if time.monotonic() + delay > deadline:
                    raise SinkError(
                        f"PostgreSQL unreachable for {self.retry_seconds:.0f}s while writing batch "
                        f"{batch_id} ({reason}); nothing of it was committed, and it is replayed "
                        "when the job starts again"
                    ) from exc
                log.warning(
                    "batch %s: PostgreSQL unreachable (%s); retrying in %.0fs",
                    batch_id,
                    reason,
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, 15.0)

    def _connection(self):
        if self._conn is None or self._conn.closed:
            self._conn = db.connect("loader")
        return self._conn

    def _commit(self, query_id, batch_id, files, good, bad, result, started) -> bool:
        """Write the batch in one transaction; False when it was already committed."""
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "select 1 from raw.ingestion_batches where query_id = %s and batch_id = %s",
                    (query_id, batch_id),
                )
                if cur.fetchone() is not None:
                    conn.rollback()
                    return False
                if good.num_rows:
                    cur.copy_expert(EVENTS_COPY, _csv_bytes(good))
                if bad.num_rows:
                    cur.copy_expert(REJECTS_COPY, _csv_bytes(bad))
                cur.execute(
                    "insert into raw.ingestion_batches (stream_name, query_id, batch_id, files, "
                    "rows_in, rows_loaded, rows_rejected, started_at) "
                    "values (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        self.stream_name,
                        query_id,
                        batch_id,
                        files,
                        result.rows_in,
                        result.rows_loaded,
                        result.rows_rejected,
                        started,
                    ),
                )
            conn.commit()
            return True
        except BaseException:
            if not conn.closed:
                with contextlib.suppress(psycopg2.Error):
                    conn.rollback()
            raise
