"""The ledgers, and every statement the job runs on them.

- ``raw.ingestion_files``: a row per delivery (a file as claimed), with its status;
- ``raw.ingestion_file_parts``: a row per part committed, with its batch;
- ``raw.ingestion_batches``: a row per committed micro-batch.

A delivery moves through named transitions only::

    (new) --register--> claimed --complete--> loaded
    (new) --register--> loaded        an empty file: nothing for Spark
    (new) --register--> quarantined   the whole file: not CSV text, a bad header, a link

``register`` runs on the intake's own connection; the sink's statements take the cursor
of its batch's transaction, so that rows, rejects and ledger rows commit together.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

import psycopg2
import psycopg2.extras

from pipeline import db

FileStatus = Literal["claimed", "loaded", "quarantined"]
CLAIMED: FileStatus = "claimed"
LOADED: FileStatus = "loaded"
QUARANTINED: FileStatus = "quarantined"
STATUSES: tuple[FileStatus, ...] = (CLAIMED, LOADED, QUARANTINED)


@dataclass(frozen=True)
class NewDelivery:
    """A claimed file, inspected, as it enters raw.ingestion_files."""

    delivery_id: str
    source_file: str  # the name as given (ingestion.parts.display_name)
    size_bytes: int
    sha256: str | None
    modified_at: datetime
    parts: int
    reason: str | None  # why it is quarantined, or a note on the whole file
    quarantined: bool
    header: str | None
    delimiter: str | None
    compression: str | None
    decompressed_bytes: int | None
    naive_timezone: str | None

    @property
    def status(self) -> FileStatus:
        if self.quarantined:
            return QUARANTINED
        return CLAIMED if self.parts else LOADED


class FileLedger:
    """The intake's side of raw.ingestion_files, on its own autocommit connection."""

    def __init__(self, connect: Callable[[], object] | None = None) -> None:
        self._connect = connect or (lambda: db.connect("loader"))
        self._conn = None

    def connection(self):
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
            self._conn.autocommit = True
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg2.Error):
                self._conn.close()
            self._conn = None

    def status(self, delivery_id: str) -> FileStatus | None:
        """The delivery's status, or None when it was never registered."""
        with self.connection().cursor() as cur:
            cur.execute(
                "select status from raw.ingestion_files where delivery_id = %s", (delivery_id,)
            )
            row = cur.fetchone()
        return row[0] if row else None

    def committed_parts(self, delivery_id: str) -> set[int]:
        with self.connection().cursor() as cur:
            cur.execute(
                "select part from raw.ingestion_file_parts where delivery_id = %s", (delivery_id,)
            )
            return {row[0] for row in cur.fetchall()}

    def settled(self, delivery_ids: list[str]) -> set[str]:
        """Those of ``delivery_ids`` no longer claimed (loaded or quarantined)."""
        if not delivery_ids:
            return set()
        with self.connection().cursor() as cur:
            cur.execute(
                "select delivery_id from raw.ingestion_files "
                "where delivery_id = any(%s) and status <> %s",
                (delivery_ids, CLAIMED),
            )
            return {row[0] for row in cur.fetchall()}

    def register(self, deliveries: list[NewDelivery]) -> None:
        """Record new deliveries, in one transaction; one registered before is left as it is."""
        if not deliveries:
            return
        rows = []
        for one in deliveries:
            counts = 0 if one.status == LOADED else None
            rows.append(
                (
                    one.delivery_id,
                    one.source_file,
                    one.size_bytes,
                    one.sha256,
                    one.modified_at,
                    one.parts,
                    one.status,
                    one.reason,
                    counts,
                    counts,
                    counts,
                    one.status,
                    one.header,
                    one.delimiter,
                    one.compression,
                    one.decompressed_bytes,
                    one.naive_timezone,
                )
            )
        with self.connection().cursor() as cur:
            psycopg2.extras.execute_values(
                cur,
                "insert into raw.ingestion_files (delivery_id, source_file, size_bytes, sha256, "
                "modified_at, parts, status, reason, rows_in, rows_loaded, rows_rejected, "
                "completed_at, header, delimiter, compression, decompressed_bytes, "
                "naive_timezone) values %s on conflict (delivery_id) do nothing",
                rows,
                template="(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                f"case when %s <> '{CLAIMED}' then clock_timestamp() end, %s, %s, %s, %s, %s)",
                page_size=len(rows),
            )


# -- the sink's statements, inside its batch's transaction ---------------------------


def batch_committed(cur, query_id: str, batch_id: int) -> bool:
    """Is this micro-batch in the ledger already (a replay after a crash)?"""
    cur.execute(
        "select 1 from raw.ingestion_batches where query_id = %s and batch_id = %s",
        (query_id, batch_id),
    )
    return cur.fetchone() is not None


@dataclass(frozen=True)
class BatchRow:
    stream_name: str
    query_id: str
    batch_id: int
    files: list[str]
    rows_in: int
    rows_loaded: int
    rows_rejected: int
    started_at: datetime


def record_batch(cur, batch: BatchRow) -> None:
    cur.execute(
        "insert into raw.ingestion_batches (stream_name, query_id, batch_id, files, "
        "rows_in, rows_loaded, rows_rejected, started_at) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            batch.stream_name,
            batch.query_id,
            batch.batch_id,
            batch.files,
            batch.rows_in,
            batch.rows_loaded,
            batch.rows_rejected,
            batch.started_at,
        ),
    )


def record_parts(cur, rows: list[tuple[str, int, str, int, int, int, int]]) -> set[tuple[str, int]]:
    """Insert (delivery_id, part, query_id, batch_id, rows_in, rows_loaded, rows_rejected)
    rows; returns the (delivery_id, part) pairs inserted (a part committed before is not)."""
    inserted = psycopg2.extras.execute_values(
        cur,
        "insert into raw.ingestion_file_parts (delivery_id, part, query_id, batch_id, "
        "rows_in, rows_loaded, rows_rejected) values %s "
        "on conflict (delivery_id, part) do nothing returning delivery_id, part",
        rows,
        fetch=True,
    )
    return {(delivery, part) for delivery, part in inserted}


def complete(cur, delivery_ids: Iterable[str]) -> list[str]:
    """claimed -> loaded: the deliveries of ``delivery_ids`` whose every part is committed,
    with their totals. Returns their ids."""
    cur.execute(
        f"""
        with totals as (
            select delivery_id, count(*) as parts, sum(rows_in) as rows_in,
                sum(rows_loaded) as rows_loaded, sum(rows_rejected) as rows_rejected
            from raw.ingestion_file_parts
            where delivery_id = any(%s)
            group by delivery_id
        )
        update raw.ingestion_files as files
        set status = '{LOADED}', rows_in = totals.rows_in, rows_loaded = totals.rows_loaded,
            rows_rejected = totals.rows_rejected, completed_at = clock_timestamp()
        from totals
        where files.delivery_id = totals.delivery_id
            and files.parts = totals.parts and files.status = '{CLAIMED}'
        returning files.delivery_id
        """,
        (sorted(delivery_ids),),
    )
    return [row[0] for row in cur.fetchall()]


def batch_parts(cur, query_id: str, batch_id: int) -> list[tuple[str, int]]:
    """(delivery_id, part) of every part a committed micro-batch holds."""
    cur.execute(
        "select delivery_id, part from raw.ingestion_file_parts "
        "where query_id = %s and batch_id = %s",
        (query_id, batch_id),
    )
    return cur.fetchall()


def loaded(cur, delivery_ids: list[str]) -> list[str]:
    cur.execute(
        "select delivery_id from raw.ingestion_files where delivery_id = any(%s) and status = %s",
        (delivery_ids, LOADED),
    )
    return [row[0] for row in cur.fetchall()]


def source_files(cur, delivery_ids: list[str]) -> dict[str, str]:
    """delivery_id -> the file's name as given, for those registered."""
    cur.execute(
        "select delivery_id, source_file from raw.ingestion_files where delivery_id = any(%s)",
        (sorted(delivery_ids),),
    )
    return dict(cur.fetchall())


# -- what `python -m ingestion status` reports ------------------------------------------


class BatchTotals(NamedTuple):
    batches: int
    rows_in: int
    rows_loaded: int
    rows_rejected: int
    newest: datetime | None


def batch_totals(cur) -> BatchTotals:
    cur.execute(
        "select count(*), coalesce(sum(rows_in), 0), coalesce(sum(rows_loaded), 0), "
        "coalesce(sum(rows_rejected), 0), max(committed_at) from raw.ingestion_batches"
    )
    return BatchTotals(*cur.fetchone())


def file_totals(cur) -> tuple[int, int, int, int]:
    """(files loaded, their rows, files quarantined whole, files in flight)."""
    cur.execute(
        "select count(*) filter (where status = %(loaded)s), "
        "coalesce(sum(rows_in) filter (where status = %(loaded)s), 0), "
        "count(*) filter (where status = %(quarantined)s), "
        "count(*) filter (where status = %(claimed)s) from raw.ingestion_files",
        {"loaded": LOADED, "quarantined": QUARANTINED, "claimed": CLAIMED},
    )
    return cur.fetchone()


def quarantined_files(cur, limit: int) -> list[tuple[str, str, datetime]]:
    """(name, reason, claimed at) of the newest files quarantined whole."""
    cur.execute(
        "select source_file, reason, claimed_at from raw.ingestion_files "
        "where status = %s order by claimed_at desc limit %s",
        (QUARANTINED, limit),
    )
    return cur.fetchall()


def last_batches(cur, limit: int) -> list[tuple]:
    """The newest micro-batches: stream, batch, files, rows in / loaded / rejected,
    committed at, seconds."""
    cur.execute(
        "select stream_name, batch_id, cardinality(files), rows_in, rows_loaded, rows_rejected, "
        "committed_at, extract(epoch from committed_at - started_at) "
        "from raw.ingestion_batches order by committed_at desc limit %s",
        (limit,),
    )
    return cur.fetchall()
