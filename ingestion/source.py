"""The intake's parts as a Spark streaming source whose offsets are the intake's part sequence.

Why not Spark's file source: it remembers every file it ever read (its
``sources/0`` log keeps each path for ever, and every 10th batch rewrites all
of them into one compact file), so a stream that runs for months carries a
checkpoint, a driver heap and a per-batch cost that grow with every file ever
ingested. Here that tracking is redundant: the intake owns file identity and
the PostgreSQL ledger makes every part exactly-once (ingestion.sink).

So the intake numbers each part it releases (``<sequence>.<part name>``, the
sequence never goes back, ingestion.parts.Sequence), and a micro-batch's
offset is one number: the highest sequence it covers. Spark keeps its offset
and commit logs for the last ``spark.sql.streaming.minBatchesToRetain``
batches (100), a few hundred bytes each, whatever the number of files.

A batch takes the parts with a sequence above the previous offset, in order,
up to ``maxFilesPerTrigger`` parts and ``maxBytesPerTrigger`` bytes (at least
one part). A replay (Spark re-runs a batch after a crash) lists the same range
again: a part missing from it was committed and deleted (the intake deletes a
part only after its commit), and a part still there but committed is left out
by the sink.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadMaxFiles,
    SupportsTriggerAvailableNow,
)

from ingestion.parts import sequence_of

NAME = "ecom_intake_parts"
SCHEMA = "source_file string, content binary"
_BATCH_BYTES = 16 << 20  # Arrow record batches sent to the JVM: about this size


class IntakeParts(DataSource):
    """``spark.readStream.format("ecom_intake_parts").load(<a parts folder>)``.

    Options: ``maxFilesPerTrigger`` (default 1000), ``maxBytesPerTrigger``
    (default 256 MB), ``tasks`` (partitions per batch at least, when there are
    parts enough: the cores), ``partitionBytes`` (8 MB: a task's share).
    """

    @classmethod
    def name(cls) -> str:
        return NAME

    def schema(self) -> str:
        return SCHEMA

    def streamReader(self, schema) -> DataSourceStreamReader:
        return _Reader(self.options)  # case-insensitive keys


class _Group(InputPartition):
    def __init__(self, folder: str, names: list[str]) -> None:
        super().__init__(names)
        self.folder = folder
        self.names = names


class _Reader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    def __init__(self, options) -> None:
        self.folder = options["path"]
        self.max_files = int(options.get("maxFilesPerTrigger", "1000"))
        self.max_bytes = int(options.get("maxBytesPerTrigger", str(256 << 20)))
        self.tasks = max(1, int(options.get("tasks", "2")))
        self.partition_bytes = max(1, int(options.get("partitionBytes", str(8 << 20))))
        self._sizes: dict[str, int] = {}  # of the parts in the folder (listed once each)
        self._target: int | None = None  # Trigger.AvailableNow: nothing after this

    # -- offsets -------------------------------------------------------------------

    def initialOffset(self) -> dict:
        return {"sequence": -1}

    def getDefaultReadLimit(self):
        return ReadMaxFiles(self.max_files)

    def prepareForTriggerAvailableNow(self) -> None:
        parts = self._list()
        self._target = parts[-1][0] if parts else -1

    def latestOffset(self, start: dict, limit) -> dict:
        after = start["sequence"]
        if isinstance(limit, ReadAllAvailable):
            max_files, max_bytes = None, None
        else:
            max_files = limit.max_files if isinstance(limit, ReadMaxFiles) else self.max_files
            max_bytes = self.max_bytes
        end, files, size = after, 0, 0
        for sequence, name in self._list():
            if sequence <= after:
                continue
            if self._target is not None and sequence > self._target:
                break
            part_bytes = self._sizes.get(name, 0)
            if files and (
                (max_files is not None and files >= max_files)
                or (max_bytes is not None and size + part_bytes > max_bytes)
            ):
                break
            end, files, size = sequence, files + 1, size + part_bytes
        return {"sequence": end}

    def reportLatestOffset(self) -> dict | None:
        parts = self._list()
        return {"sequence": parts[-1][0]} if parts else None

    def _list(self) -> list[tuple[int, str]]:
        """(sequence, name) of the parts in the folder, in order; sizes cached by name."""
        found = []
        sizes = {}
        with os.scandir(self.folder) as entries:
            for entry in entries:
                sequence = sequence_of(entry.name)
                if sequence is None:
                    continue
                size = self._sizes.get(entry.name)
                if size is None:
                    try:
                        size = entry.stat().st_size
                    except FileNotFoundError:
                        continue
                sizes[entry.name] = size
                found.append((sequence, entry.name))
        self._sizes = sizes
        found.sort()
        return found

    # -- a batch -------------------------------------------------------------------

    def partitions(self, start: dict, end: dict) -> list[InputPartition]:
        """The batch's parts in groups of about ``partitionBytes`` (8 MB), at least one
        per core while there are parts enough: the sink COPYs each group's rows as soon
        as its task ends (ingestion.collect), while the other tasks still run."""
        low, high = start["sequence"], end["sequence"]
        parts = [
            (self._sizes.get(name, 0), name) for seq, name in self._list() if low < seq <= high
        ]
        if not parts:
            return []
        total = sum(size for size, _ in parts)
        count = max(self.tasks, -(-total // self.partition_bytes))
        groups: list[tuple[int, list[str]]] = [(0, []) for _ in range(min(count, len(parts)))]
        for size, name in sorted(parts, reverse=True):  # the biggest first, to the lightest
            index = min(range(len(groups)), key=lambda i: groups[i][0])
            group_bytes, names = groups[index]
            names.append(name)
            groups[index] = (group_bytes + size, names)
        return [_Group(self.folder, sorted(names)) for _, names in groups if names]

    def read(self, partition: _Group) -> Iterator:
        import pyarrow as pa

        names: list[str] = []
        contents: list[bytes] = []
        size = 0
        for name in partition.names:
            try:
                with open(os.path.join(partition.folder, name), "rb") as part:
                    content = part.read()
            except FileNotFoundError:  # committed and deleted: a replay after a crash
                continue
            names.append(name)
            contents.append(content)
            size += len(content)
            if size >= _BATCH_BYTES:
                yield _record_batch(pa, names, contents)
                names, contents, size = [], [], 0
        if names:
            yield _record_batch(pa, names, contents)

    def commit(self, end: dict) -> None:
        """Nothing to do: the sink deletes each part once PostgreSQL has it."""


def _record_batch(pa, names: list[str], contents: list[bytes]):
    return pa.RecordBatch.from_arrays(
        [pa.array(names, pa.string()), pa.array(contents, pa.binary())],
        names=["source_file", "content"],
    )
