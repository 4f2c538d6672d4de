"""The exactly-once sink: one micro-batch, one PostgreSQL transaction.

``foreachBatch`` is at-least-once: after a crash Spark replays the last batch
whose commit marker it had not written, with the same batch id and the same
files. This sink makes the write idempotent: the batch's valid rows (COPY into
raw.ecommerce_events), its rejects (COPY into raw.ecommerce_events_rejected)
and its ledger row (raw.ingestion_batches) commit in one transaction, and a
(query_id, batch_id) already in the ledger is skipped as a replay.

The batch DataFrame is evaluated exactly once: its Arrow record batches are
COPYed as Spark produces them (ingestion.collect), so PostgreSQL works while
Spark still reads and validates the rest of the batch.
"""

from __future__ import annotations

import contextlib
import io
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ingestion.collect import arrow_batches
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
    spark_seconds: float = 0.0  # until Spark's last record batch (COPY running alongside)
    db_seconds: float = 0.0  # after it: rejects, ledger, commit
    file_names: list[str] = field(default_factory=list)

    def log_line(self) -> str:
        if self.replayed:
            return f"batch {self.batch_id}: already committed (a replay after a restart); skipped"
        rate = self.rows_in / self.seconds if self.seconds > 0 else 0.0
        lag = f"{self.lag_seconds:.1f}s" if self.lag_seconds is not None else "-"
        return (
            f"batch {self.batch_id}: {self.files} files, {self.rows_in} rows in, "
            f"{self.rows_loaded} loaded, {self.rows_rejected} rejected, {self.seconds:.2f}s, "
            f"{rate:,.0f} rows/s (read+copy {self.spark_seconds:.2f}s, commit {self.db_seconds:.2f}s), "
            f"lag {lag}"
        )


def _csv_bytes(table: pa.Table) -> io.BytesIO:
    buffer = io.BytesIO()
    if table.num_rows:
        pacsv.write_csv(table, buffer, _CSV)
    buffer.seek(0)
    return buffer


def _concatenated(strings: pa.Array) -> bytes:
    """The bytes of a string array without nulls, back to back (its data buffer)."""
    if len(strings) == 0:
        return b""
    offsets = strings.buffers()[1]
    first = int.from_bytes(offsets[strings.offset * 4 : strings.offset * 4 + 4], "little")
    last_at = (strings.offset + len(strings)) * 4
    last = int.from_bytes(offsets[last_at : last_at + 4], "little")
    return strings.buffers()[2][first:last].to_pybytes()


@dataclass
class SplitBatch:
    """One Arrow record batch of validated lines, ready for COPY."""

    events_csv: bytes  # CSV records for raw.ecommerce_events (EVENTS_COPY's columns)
    loaded: int
    rejects: pa.Table  # REJECTS_COPY's columns
    files: set[str]
    newest_event_at: datetime | None


def split_batch(table: pa.Table, batch_id: int) -> SplitBatch:
    """Split validated lines (ingestion.transform.for_sink) into COPY input."""
    files = set(pc.unique(table["source_file"]).to_pylist()) if table.num_rows else set()
    table = table.filter(table["is_data"])
    valid = pc.is_null(table["reasons"])
    good = table.filter(valid)
    # A plain valid line is already a CSV record: append the lineage columns to it.
    plain = good.filter(pc.is_valid(good["copy_line"]))
    source = pc.binary_join_element_wise(
        '"', pc.replace_substring(plain["source_file"], '"', '""'), '"', ""
    )
    records = pc.binary_join_element_wise(plain["copy_line"], source, f"{batch_id}\n", ",")
    events_csv = _concatenated(records.combine_chunks())
    # Valid lines with quoted fields go through the CSV writer.
    quoted = good.filter(pc.is_null(good["copy_line"]))
    if quoted.num_rows:
        fields = quoted["fields"]
        quoted = pa.table(
            {
                **{name: pc.list_element(fields, i) for i, name in enumerate(EVENT_COLUMNS)},
                "source_file": quoted["source_file"],
                "batch_id": pa.array([batch_id] * quoted.num_rows, pa.int64()),
            }
        )
        events_csv += _csv_bytes(quoted).getvalue()
    bad = table.filter(pc.invert(valid))
    rejects = pa.table(
        {
            "source_file": bad["source_file"],
            "line_number": bad["line_number"],
            "raw_line": bad["raw_line"],
            "reasons": bad["reasons"],
            "batch_id": pa.array([batch_id] * bad.num_rows, pa.int64()),
        }
    )
    newest = pc.max(good["event_at"]).as_py() if good.num_rows else None
    if newest is not None and newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    return SplitBatch(events_csv, good.num_rows, rejects, files, newest)


class _CopyFeed(io.RawIOBase):
    """A file for ``copy_expert`` that reads the chunks another thread puts in a queue."""

    def __init__(self) -> None:
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._chunk = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def put(self, data: bytes | None, alive: Callable[[], bool]) -> None:
        while True:
            try:
                self._queue.put(data, timeout=0.5)
                return
            except queue.Full:
                if not alive():  # the COPY ended early (an error): stop feeding it
                    return

    def read(self, size: int = -1) -> bytes:
        while not self._chunk and not self._done:
            item = self._queue.get()
            if item is None:
                self._done = True
            else:
                self._chunk = memoryview(item)
        size = len(self._chunk) if size is None or size < 0 else size
        data, self._chunk = self._chunk[:size], self._chunk[size:]
        return bytes(data)


class _EventsCopy:
    """COPY into raw.ecommerce_events on its own thread, fed chunk by chunk."""

    def __init__(self, conn) -> None:
        self.feed = _CopyFeed()
        self.error: BaseException | None = None
        self._cursor = conn.cursor()
        self._thread = threading.Thread(target=self._run, name="copy-events", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._cursor.copy_expert(EVENTS_COPY, self.feed, size=1 << 20)
        except BaseException as exc:  # handed to the batch thread in finish()
            self.error = exc

    def send(self, csv: bytes) -> None:
        if csv:
            self.feed.put(csv, self._thread.is_alive)

    def finish(self) -> None:
        self.feed.put(None, self._thread.is_alive)
        self._thread.join()
        self._cursor.close()
        if self.error is not None:
            raise self.error


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
        result = self._retrying(batch_id, lambda: self.write(batch_df, batch_id, started))
        result.seconds = time.perf_counter() - clock
        log.info("%s", result.log_line())
        if self.processed:
            self.processed(result.file_names)
        if self.on_batch:
            self.on_batch(result)

    def write(self, batch_df, batch_id: int, started: datetime) -> BatchResult:
        """Stream the batch into PostgreSQL and commit it with its ledger row, in one transaction.

        The batch is evaluated once: its record batches are COPYed as Spark
        produces them. A batch already in the ledger (a replay after a crash
        that followed the commit) writes nothing; its files are only listed,
        to finish their housekeeping.
        """
        clock = time.perf_counter()
        query_id = self._query_id()
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "select 1 from raw.ingestion_batches where query_id = %s and batch_id = %s",
                    (query_id, batch_id),
                )
                replay = cur.fetchone() is not None
            if replay:
                conn.rollback()
                names = batch_df.select("source_file").distinct().toArrow()["source_file"]
                result = BatchResult(batch_id, 0, 0, 0, 0, 0.0, None, replayed=True)
                result.file_names = sorted(names.to_pylist())
                result.files = len(result.file_names)
                return result
            result = BatchResult(batch_id, 0, 0, 0, 0, 0.0, None)
            files: set[str] = set()
            rejects: list[pa.Table] = []
            newest = None
            events = _EventsCopy(conn)
            try:
                for record_batch in arrow_batches(batch_df):
                    part = split_batch(pa.Table.from_batches([record_batch]), batch_id)
                    events.send(part.events_csv)
                    files |= part.files
                    if part.rejects.num_rows:
                        rejects.append(part.rejects)
                    result.rows_loaded += part.loaded
                    result.rows_rejected += part.rejects.num_rows
                    if part.newest_event_at and (newest is None or part.newest_event_at > newest):
                        newest = part.newest_event_at
            finally:
                events.finish()
            result.spark_seconds = time.perf_counter() - clock
            result.rows_in = result.rows_loaded + result.rows_rejected
            result.file_names = sorted(files)
            result.files = len(files)
            if newest is not None:
                result.lag_seconds = (datetime.now(UTC) - newest).total_seconds()
            with conn.cursor() as cur:
                if rejects:
                    cur.copy_expert(REJECTS_COPY, _csv_bytes(pa.concat_tables(rejects)))
                cur.execute(
                    "insert into raw.ingestion_batches (stream_name, query_id, batch_id, files, "
                    "rows_in, rows_loaded, rows_rejected, started_at) "
                    "values (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        self.stream_name,
                        query_id,
                        batch_id,
                        result.file_names,
                        result.rows_in,
                        result.rows_loaded,
                        result.rows_rejected,
                        started,
                    ),
                )
            conn.commit()
            result.db_seconds = time.perf_counter() - clock - result.spark_seconds
            return result
        except BaseException:
            if not conn.closed:
                with contextlib.suppress(psycopg2.Error):
                    conn.rollback()
            raise

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
