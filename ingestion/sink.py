"""The exactly-once sink: one micro-batch, one PostgreSQL transaction.

``foreachBatch`` is at-least-once: after a crash Spark replays the last batch
whose commit marker it had not written, with the same batch id and the same
files. This sink makes the write idempotent: the batch's valid rows (COPY into
raw.ecommerce_events), its rejects (COPY into raw.ecommerce_events_rejected),
its ledger row (raw.ingestion_batches) and a row per part it read
(raw.ingestion_file_parts) commit in one transaction. A (query_id, batch_id)
already in the ledger is skipped as a replay; a part already committed (read
again under a new checkpoint) is left out of the batch. The delivery whose
last part commits is marked loaded, with its totals, in the same transaction.

The batch DataFrame is evaluated exactly once: its Arrow record batches are
COPYed as Spark produces them (ingestion.collect), so PostgreSQL works while
Spark still reads and validates the rest of the batch.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

import psycopg2
import psycopg2.errors
import psycopg2.extras
import pyarrow as pa
import pyarrow.compute as pc

from ingestion import copy_input, ledger
from ingestion.collect import arrow_batches
from ingestion.parts import Part
from pipeline import db, partitions
from pipeline.errors import UserError, first_line

log = logging.getLogger(__name__)
T = TypeVar("T")


class SinkError(UserError):
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
    empty: bool = False  # no part at all: nothing written, nothing recorded
    spark_seconds: float = 0.0  # until Spark's last record batch (COPY running alongside)
    db_seconds: float = 0.0  # after it: rejects, ledger, commit
    part_names: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)  # deliveries loaded by this batch

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


class _PartsCommitted(Exception):
    """Parts of this batch were committed before (under another query): leave them out."""

    def __init__(self, parts: set[str]) -> None:
        super().__init__(", ".join(sorted(parts)))
        self.parts = parts


class Housekeeping(Protocol):
    """What the sink asks of the intake (ingestion.intake.Intake) around a commit."""

    def committed(self, parts: list[str], completed: list[str]) -> None:
        """The parts' rows are committed; ``completed`` deliveries are loaded."""

    def released(self, delivery_id: str = "") -> list[Path]:
        """The parts handed to Spark and not yet committed."""

    def in_flight_note(self) -> str:
        """' (files in flight: ...)' for an error line, or ''."""


class BatchWriter:
    """The ``foreachBatch`` function. Holds one loader connection across batches.

    The batch DataFrame holds validated records (ingestion.transform.for_sink);
    ``source_file`` is the name of the part (ingestion.intake) they came from.
    """

    def __init__(
        self,
        stream_name: str,
        query_id: Callable[[], str],
        retry_seconds: float = 120.0,
        on_batch: Callable[[BatchResult], None] | None = None,
        intake: Housekeeping | None = None,
    ) -> None:
        self.stream_name = stream_name
        self._query_id = query_id
        self.retry_seconds = retry_seconds
        self.on_batch = on_batch
        self.intake = intake
        self._conn = None
        self._origins: dict[str, tuple[str, str | None]] = {}
        self._lookup = None

    def close(self) -> None:
        for conn in (self._conn, self._lookup):
            if conn is not None:
                conn.close()
        self._conn = self._lookup = None

    def __call__(self, batch_df, batch_id: int) -> None:
        started = datetime.now(UTC)
        clock = time.perf_counter()
        try:
            result = self._retrying(batch_id, lambda: self._write(batch_df, batch_id, started))
        except (SinkError, db.DatabaseUnavailable):
            raise
        except Exception as exc:
            where = self.intake.in_flight_note() if self.intake is not None else ""
            raise SinkError(f"batch {batch_id} failed: {_describe_error(exc)}{where}") from exc
        result.seconds = time.perf_counter() - clock
        if result.empty:
            return
        log.info("%s", result.log_line())
        if self.intake is not None:
            self.intake.committed(result.part_names, result.completed)
        if self.on_batch:
            self.on_batch(result)

    def _write(self, validated, batch_id: int, started: datetime) -> BatchResult:
        skip: set[str] = set()
        ensured = False
        while True:
            try:
                return self.write(validated, batch_id, started, skip)
            except _PartsCommitted as committed:
                log.warning(
                    "batch %s: parts already committed are left out: %s", batch_id, committed
                )
                skip |= committed.parts
            except psycopg2.errors.CheckViolation as exc:
                # raw has no partition for now(): the maintenance that creates them
                # ahead has not run for a while. Create them, then write again, once.
                if "no partition of relation" not in str(exc) or ensured:
                    raise
                ensured = True
                log.warning("batch %s: %s; creating raw's partitions", batch_id, first_line(exc))
                partitions.ensure(self._connection())

    def write(
        self, validated, batch_id: int, started: datetime, skip: set[str] | None = None
    ) -> BatchResult:
        """Stream the batch into PostgreSQL and commit it with its ledger rows, in one transaction.

        The batch is evaluated once: its record batches are COPYed as Spark
        produces them. A batch already in the ledger (a replay after a crash
        that followed the commit) writes nothing; its parts are only listed,
        to finish their housekeeping.
        """
        skip = skip or set()
        self._origins.clear()
        clock = time.perf_counter()
        query_id = self._query_id()
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                if ledger.batch_committed(cur, query_id, batch_id):
                    return self._replayed(cur, query_id, batch_id)
            result = BatchResult(batch_id, 0, 0, 0, 0, 0.0, None)
            parts: dict[str, copy_input.PartCounts] = {}
            rejects: list[pa.Table] = []
            newest = None
            events = copy_input.EventsCopy(conn)
            try:
                for record_batch in arrow_batches(validated):
                    table = pa.Table.from_batches([record_batch])
                    if skip:
                        keep = pc.invert(pc.is_in(table["source_file"], pa.array(sorted(skip))))
                        table = table.filter(keep)
                    if table.num_rows:
                        self._look_up(pc.unique(table["source_file"]).to_pylist())
                    part = copy_input.split_batch(table, query_id, batch_id, self._origin)
                    events.send(part.events_csv)
                    for name, counts in part.parts.items():
                        total = parts.setdefault(name, copy_input.PartCounts())
                        total.loaded += counts.loaded
                        total.rejected += counts.rejected
                    if part.rejects.num_rows:
                        rejects.append(part.rejects)
                    result.rows_loaded += part.loaded
                    result.rows_rejected += part.rejects.num_rows
                    if part.newest_event_at and (newest is None or part.newest_event_at > newest):
                        newest = part.newest_event_at
            finally:
                events.finish()
            result.spark_seconds = time.perf_counter() - clock
            if not parts:  # the sources' first trigger finds nothing: no batch to record
                conn.rollback()
                result.empty = True
                return result
            result.rows_in = result.rows_loaded + result.rows_rejected
            result.part_names = sorted(parts)
            files = sorted({self._origin(name)[0] for name in parts})
            result.files = len(files)
            if newest is not None:
                result.lag_seconds = (datetime.now(UTC) - newest).total_seconds()
            with conn.cursor() as cur:
                if rejects:
                    cur.copy_expert(
                        copy_input.REJECTS_COPY, copy_input.csv_bytes(pa.concat_tables(rejects))
                    )
                ledger.record_batch(
                    cur,
                    ledger.BatchRow(
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
                result.completed = self._record_parts(cur, query_id, batch_id, parts)
            conn.commit()
            result.db_seconds = time.perf_counter() - clock - result.spark_seconds
            return result
        except BaseException:
            if not conn.closed:
                with contextlib.suppress(psycopg2.Error):
                    conn.rollback()
            raise

    def _record_parts(
        self, cur, query_id: str, batch_id: int, parts: dict[str, copy_input.PartCounts]
    ):
        """The parts' ledger rows; the deliveries they complete, marked loaded (their ids)."""
        rows = []
        for name, counts in parts.items():
            info = Part.parse(name)
            if info is None:
                continue  # not a part of the intake's (a test's own folder)
            rows.append(
                (
                    info.delivery_id,
                    info.part,
                    query_id,
                    batch_id,
                    counts.loaded + counts.rejected,
                    counts.loaded,
                    counts.rejected,
                )
            )
        if not rows:
            return []
        inserted = ledger.record_parts(cur, rows)
        if len(inserted) < len(rows):
            raise _PartsCommitted(
                {
                    name
                    for name in parts
                    if (info := Part.parse(name)) and (info.delivery_id, info.part) not in inserted
                }
            )
        return ledger.complete(cur, {row[0] for row in rows})

    def _replayed(self, cur, query_id: str, batch_id: int) -> BatchResult:
        committed = ledger.batch_parts(cur, query_id, batch_id)
        deliveries = sorted({delivery for delivery, _ in committed})
        completed = ledger.loaded(cur, deliveries)
        self._conn.rollback()
        result = BatchResult(batch_id, 0, 0, 0, 0, 0.0, None, replayed=True)
        prefix = {(delivery, part) for delivery, part in committed}
        if self.intake is not None:
            result.part_names = sorted(
                path.name
                for path in self.intake.released()
                if (info := Part.parse(path.name)) and (info.delivery_id, info.part) in prefix
            )
        result.completed = completed
        result.files = len(deliveries)
        return result

    def _origin(self, part_name: str) -> tuple[str, str | None]:
        """(the file's name as given, delivery id) of a part; a plain name stands for itself."""
        if part_name not in self._origins:
            self._look_up([part_name])
        return self._origins[part_name]

    def _look_up(self, part_names: list[str]) -> None:
        """Cache the origins of these parts, in one query (a batch's cache: ``write`` clears it,
        so that it holds one batch's parts, not every part ever seen)."""
        wanted: dict[str, list[str]] = {}
        for name in part_names:
            if name in self._origins:
                continue
            info = Part.parse(name)
            if info is None:
                self._origins[name] = (name, None)
            else:
                wanted.setdefault(info.delivery_id, []).append(name)
        if not wanted:
            return
        # its own connection: the batch's is busy with the COPY
        if self._lookup is None or self._lookup.closed:
            self._lookup = db.connect("loader")
            self._lookup.autocommit = True
        with self._lookup.cursor() as cur:
            found = ledger.source_files(cur, sorted(wanted))
        for delivery_id, names in wanted.items():
            if delivery_id not in found:
                raise SinkError(
                    f"part {names[0]} has no delivery in raw.ingestion_files; "
                    "was the intake folder copied from another warehouse?"
                )
            for name in names:
                self._origins[name] = (found[delivery_id], delivery_id)

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
                reason = first_line(exc)
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


def _describe_error(exc: BaseException) -> str:
    """The cause of a failure in one line: a Java exception's own message, not Py4J's frame."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        with contextlib.suppress(Exception):
            return first_line(java.toString(), type(exc).__name__)
    return first_line(exc)
