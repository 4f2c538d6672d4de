"""COPY input from a micro-batch's Arrow rows, without Spark or PostgreSQL: the valid
events as CSV records for raw.ecommerce_events (streamed to COPY while Spark still
produces the rest), the rejects for raw.ecommerce_events_rejected, and the rows
of each part, which the sink records in the ledger in the same transaction."""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ingestion.transform import EVENT_COLUMNS

EVENTS_COPY = (
    "copy raw.ecommerce_events ({}, extra_columns, source_file, batch_id, delivery_id, query_id) "
    "from stdin with (format csv)".format(", ".join(EVENT_COLUMNS))
)
REJECTS_COPY = (
    "copy raw.ecommerce_events_rejected (source_file, line_number, raw_line, reasons, batch_id, "
    "delivery_id, query_id) from stdin with (format csv)"
)
_CSV = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")


def csv_bytes(table: pa.Table) -> io.BytesIO:
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


def _csv_field(plain: pa.Table):
    """The extra columns' JSON of plain lines as a CSV field: quoted, or empty (null)."""
    if "extra" not in plain.column_names:
        return pa.scalar("")
    extra = plain["extra"]
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(extra, '"', '""'), '"', "")
    return pc.coalesce(quoted, pa.scalar(""))


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@dataclass
class PartCounts:
    loaded: int = 0
    rejected: int = 0


@dataclass
class SplitBatch:
    """One Arrow record batch of validated records, ready for COPY."""

    events_csv: bytes  # CSV records for raw.ecommerce_events (EVENTS_COPY's columns)
    loaded: int
    rejects: pa.Table  # REJECTS_COPY's columns
    parts: dict[str, PartCounts]  # per part name (every part with a row here)
    newest_event_at: datetime | None


def _counts(column: pa.ChunkedArray) -> dict[str, int]:
    if len(column) == 0:
        return {}
    counts = pc.value_counts(column)
    return dict(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
    )


def split_batch(
    table: pa.Table,
    query_id: str,
    batch_id: int,
    origin: Callable[[str], tuple[str, str | None]],
) -> SplitBatch:
    """Split validated records (ingestion.transform.for_sink) into COPY input.

    ``origin`` maps a part's name to (the file's name as given, delivery id).
    """
    names = pc.unique(table["source_file"]).to_pylist() if table.num_rows else []
    value_set = pa.array(names, pa.string())
    origins = [origin(name) for name in names]
    files = pa.array([source for source, _ in origins], pa.string())
    deliveries = pa.array([delivery for _, delivery in origins], pa.string())
    # "<file>,<batch>,<delivery>,<query>\n" per part: the lineage a plain line needs
    suffixes = pa.array(
        [
            f"{_quoted(source)},{batch_id},{delivery or ''},{query_id}\n"
            for source, delivery in origins
        ],
        pa.string(),
    )

    def take(values: pa.Array, part_names) -> pa.Array:
        return pc.take(values, pc.index_in(part_names, value_set=value_set))

    parts = {name: PartCounts() for name in names}
    table = table.filter(table["is_data"])
    valid = pc.is_null(table["reasons"])
    good = table.filter(valid)
    # A plain valid line is already a CSV record: append the columns beyond the
    # contract (empty: null, as on the JVM's path) and the lineage columns to it.
    plain = good.filter(pc.is_valid(good["copy_line"]))
    records = pc.binary_join_element_wise(
        plain["copy_line"], _csv_field(plain), take(suffixes, plain["source_file"]), ","
    )
    events_csv = _concatenated(records.combine_chunks())
    # Valid lines with quoted fields go through the CSV writer.
    quoted = good.filter(pc.is_null(good["copy_line"]))
    if quoted.num_rows:
        fields = quoted["fields"]
        quoted = pa.table(
            {
                **{name: pc.list_element(fields, i) for i, name in enumerate(EVENT_COLUMNS)},
                "extra_columns": (
                    quoted["extra"]
                    if "extra" in quoted.column_names
                    else pa.nulls(quoted.num_rows, pa.string())
                ),
                "source_file": take(files, quoted["source_file"]),
                "batch_id": pa.array([batch_id] * quoted.num_rows, pa.int64()),
                "delivery_id": take(deliveries, quoted["source_file"]),
                "query_id": pa.array([query_id] * quoted.num_rows, pa.string()),
            }
        )
        events_csv += csv_bytes(quoted).getvalue()
    bad = table.filter(pc.invert(valid))
    rejects = pa.table(
        {
            "source_file": take(files, bad["source_file"]),
            "line_number": bad["line_number"],
            "raw_line": bad["raw_line"],
            "reasons": bad["reasons"],
            "batch_id": pa.array([batch_id] * bad.num_rows, pa.int64()),
            "delivery_id": take(deliveries, bad["source_file"]),
            "query_id": pa.array([query_id] * bad.num_rows, pa.string()),
        }
    )
    for name, count in _counts(good["source_file"]).items():
        parts[name].loaded = count
    for name, count in _counts(bad["source_file"]).items():
        parts[name].rejected = count
    newest = pc.max(good["event_at"]).as_py() if good.num_rows else None
    if newest is not None and newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    return SplitBatch(events_csv, good.num_rows, rejects, parts, newest)


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


class EventsCopy:
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
