"""The intake: the job's own hold on input files, before Spark reads them.

Spark's file source knows a file by its path and modification time: it cannot
read every legal name, skips files with old mtimes, never reads a path twice
and reads whatever bytes are there when it lists. So Spark never reads the
inputs folder. The intake does, one job per module:

1. **Waits for complete files** (ingestion.watcher).
2. **Claims each** under a new delivery id: a sidecar with the name exactly as
   given, then a rename into ``claimed/``. A name delivered again is a new delivery.
3. **Inspects it** and cuts it into parts (ingestion.inspection); a file that
   cannot be read as CSV text is quarantined whole, with its reason.
4. **Registers it** in the file ledger (ingestion.ledger), then **releases** its
   parts to Spark's folders under sequenced names (ingestion.parts).

The sink commits each part with its rows and marks the delivery loaded with its
last part; the intake then archives or deletes the original. Every step is safe
to repeat: after a crash, ``recover`` carries each claimed delivery forward from
what is on disk and in the ledger.

This is the code's map; the design, its guarantees and what the inputs folder
takes are told for users once, in docs/ingestion.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingestion import files, ledger
from ingestion.inspection import Cutter, Inspection, Unreadable
from ingestion.ledger import FileLedger, FileStatus, NewDelivery
from ingestion.parts import (
    SEQUENCE_DIGITS,
    Part,
    Sequence,
    display_name,
    new_delivery_id,
    sequence_of,
)
from ingestion.watcher import Watcher
from pipeline import errors, partitions
from pipeline.config import default, megabytes

log = logging.getLogger(__name__)


ARCHIVE_SWEEP_SECONDS = 600.0
CLAIMS_PER_COMMIT = 200  # new deliveries registered in one transaction


class Intake:
    """Claims complete files from ``input_dir`` and releases them to Spark in parts."""

    def __init__(
        self,
        input_dir: Path,
        work_dir: Path,
        archive_dir: Path,
        quarantine_dir: Path,
        processed: str = default("processed_files"),
        settle_seconds: float = default("settle_seconds"),
        part_bytes: int = megabytes(default("part_mb")),
        poll_seconds: float = 1.0,
        escape: str | None = None,
        naive_timezone: str | None = None,
        archive_days: float = default("archive_days"),
        file_ledger: FileLedger | None = None,
    ) -> None:
        if processed not in ("archive", "delete"):
            raise ValueError(f"unknown mode {processed!r}")
        self.input_dir = input_dir
        self.claimed_dir = work_dir / "claimed"
        self.parts_dir = work_dir / "parts"
        # Two folders, one per way of framing records: a streaming query each,
        # so only files with multi-line records pay for the UDF.
        self.plain_dir = self.parts_dir / "plain"
        self.multiline_dir = self.parts_dir / "multiline"
        self.tmp_dir = work_dir / "tmp"
        self.sequence = Sequence(work_dir / "sequence")
        self.archive_dir = archive_dir
        self.quarantine_dir = quarantine_dir
        self.processed = processed
        self.poll_seconds = poll_seconds
        self.watcher = Watcher(input_dir, settle_seconds)
        self.cutter = Cutter(self.tmp_dir, part_bytes, escape)
        self.ledger = file_ledger or FileLedger()
        self.naive_timezone = naive_timezone  # recorded with each delivery
        self.archive_days = archive_days  # 0: the archive is kept for ever
        self._swept = float("-inf")  # monotonic time of the last sweep of the archive
        self._ensured = time.monotonic()  # of the last call for raw's partitions ahead
        folders = (self.claimed_dir, self.plain_dir, self.multiline_dir, self.tmp_dir)
        for folder in (input_dir, *folders):
            folder.mkdir(parents=True, exist_ok=True)
        if processed == "archive":
            archive_dir.mkdir(parents=True, exist_ok=True)
        self._unfinished: set[str] = set()  # claimed deliveries not yet released
        self.claimed = 0
        self.quarantined = 0
        self.quarantined_by: dict[str, int] = {}  # QUARANTINE_KINDS -> files

    # -- the loop ---------------------------------------------------------------

    def start_watching(self) -> None:
        self.watcher.start()

    def waiting(self) -> int:
        """Files in the inputs folder not claimed yet."""
        return self.watcher.waiting()

    def ignored(self) -> dict[str, str]:
        """The files in the inputs folder the job does not take, with the reason."""
        return self.watcher.ignored()

    def run(self, stop: threading.Event) -> None:
        """Claim files until ``stop`` is set (the intake thread)."""
        while not stop.is_set():
            try:
                self.step(wait=self.poll_seconds)
                if time.monotonic() - self._swept > ARCHIVE_SWEEP_SECONDS:
                    self.sweep_archive()
                if time.monotonic() - self._ensured > partitions.ENSURE_SECONDS:
                    self._ensured = time.monotonic()
                    partitions.ensure(self.ledger.connection())  # raw's partitions ahead
            except Exception as exc:  # noqa: BLE001 - the intake must outlive any one file
                log.warning("intake: %s; retrying", errors.first_line(exc))
                self.ledger.close()
                stop.wait(2.0)

    def step(self, wait: float = 0.0) -> int:
        """Take what the kernel said (waiting up to ``wait`` s for it), then claim
        every complete file. Returns how many files it claimed or quarantined."""
        self.watcher.listen(wait)
        for delivery_id in sorted(self._unfinished):
            self._advance(delivery_id)
        done = 0
        claimed: list[tuple[str, dict]] = []
        for name in self.watcher.complete_names():
            try:
                taken = self._claim(name)
            except OSError as exc:  # e.g. no permission to move it: the others go on
                self.watcher.refuse(name, exc)
                continue
            if taken is not None:
                claimed.append(taken)
                done += 1
            if len(claimed) >= CLAIMS_PER_COMMIT:
                self._advance_many(claimed, fresh=True)
                claimed = []
        self._advance_many(claimed, fresh=True)
        return done

    def drain(self, stop: threading.Event | None = None) -> None:
        """Claim every file present (``--once``): wait for each to be complete."""
        while stop is None or not stop.is_set():
            waiting = self.watcher.waiting()
            self.step(wait=0.2 if waiting or self._unfinished else 0.0)
            if not self.watcher.waiting() and not self._unfinished:
                return

    def in_flight_note(self) -> str:
        """' (files in flight: a.csv, b.csv ...)' for an error line, or ''."""
        names = files.in_flight(self.claimed_dir.parent.parent)
        if not names:
            return ""
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        return f" (files in flight: {', '.join(names[:3])}{more})"

    def in_flight_count(self) -> int:
        """Files claimed and not loaded (or quarantined) yet."""
        return sum(1 for _ in self.claimed_dir.glob("*.json"))

    def close(self) -> None:
        self.watcher.close()
        self.ledger.close()

    # -- completeness -------------------------------------------------------------

    # -- claiming -----------------------------------------------------------------

    def _claim(self, name: str) -> tuple[str, dict] | None:
        """Claim ``name``: (its delivery id, its sidecar), or None if it was gone."""
        delivery_id = new_delivery_id()
        source = self.input_dir / name
        try:
            st = source.lstat()
        except FileNotFoundError:
            self.watcher.taken(name)
            return None
        sidecar = {
            "delivery_id": delivery_id,
            "name": name,
            "modified_at": st.st_mtime,
            "claimed_at": time.time(),
        }
        files.write_json(self._sidecar(delivery_id), sidecar)
        try:
            os.rename(source, self._src(delivery_id))
        except FileNotFoundError:
            self._sidecar(delivery_id).unlink()
            self.watcher.taken(name)
            return None
        self.watcher.taken(name)
        self._unfinished.add(delivery_id)
        return delivery_id, sidecar

    def _advance(self, delivery_id: str) -> None:
        """Bring a claimed delivery forward: inspect, register, release (idempotent)."""
        self._advance_many([(delivery_id, None)], fresh=False)

    def _advance_many(self, claimed: list[tuple[str, dict | None]], fresh: bool) -> None:
        """Inspect each delivery, register the new ones in one transaction, then release
        their parts. ``fresh``: just claimed, so not in the ledger and nothing of them in
        tmp/ or parts/ (recovery looks, for a delivery a run before claimed)."""
        pending = [
            found
            for delivery_id, sidecar in claimed
            if (found := self._inspected(delivery_id, sidecar, fresh)) is not None
        ]
        self.ledger.register([found.as_new() for found in pending if found.status is None])
        for found in pending:
            self._release(found, fresh)

    def _inspected(self, delivery_id: str, sidecar: dict | None, fresh: bool) -> _Claimed | None:
        """What a claimed delivery holds (its parts in tmp/), or None when there is
        nothing more to do for it (gone, or finished as the ledger says)."""
        sidecar = sidecar or files.read_json(self._sidecar(delivery_id))
        src = self._src(delivery_id)
        if sidecar is None or not os.path.lexists(src):
            self._forget(delivery_id)
            return None
        status = None if fresh else self.ledger.status(delivery_id)
        if status == ledger.LOADED:
            self.finish([delivery_id])
            return None
        if status == ledger.QUARANTINED:
            self._quarantine(delivery_id, sidecar["name"], "recorded before a restart", "restart")
            return None
        if not fresh:
            for stale in self.tmp_dir.glob(f"{delivery_id}.*"):
                stale.unlink()
        name = sidecar["name"]
        modified_at = datetime.fromtimestamp(sidecar["modified_at"], UTC)
        try:
            found = self.cutter.inspect(src, name)
        except Unreadable as exc:
            found = Inspection(reason=f"cannot be read: {exc}", kind="unreadable")
        if found.reason is not None:
            for stale in self.tmp_dir.glob(f"{delivery_id}.*"):
                stale.unlink()
            found.parts = []
        elif found.parsed or any(Part.parse(part).multiline for part in found.parts):
            # one query for the whole file
            found.parts = [self.cutter.as_multiline(part) for part in found.parts]
        return _Claimed(delivery_id, name, modified_at, found, status, self.naive_timezone)

    def _release(self, claimed: _Claimed, fresh: bool) -> None:
        """Quarantine a registered delivery, or hand its parts to Spark (ingestion.source)."""
        delivery_id, name, found = claimed.delivery_id, claimed.name, claimed.found
        if found.reason is not None:
            self._quarantine(delivery_id, name, found.reason, found.kind)
            return
        parts = found.parts
        if found.note:
            log.warning("%s: %s", display_name(name), found.note)
        if not parts:  # an empty file: nothing for Spark, loaded as it is
            self.finish([delivery_id])
            return
        committed: set[int] = set()
        if not fresh:
            if claimed.status == ledger.CLAIMED:
                committed = self.ledger.committed_parts(delivery_id)
            committed |= {Part.parse(path.name).part for path in self.released(delivery_id)}
        for part in parts:
            tmp = self.tmp_dir / part
            if Part.parse(part).part in committed:  # committed, or released before a restart
                tmp.unlink()
                continue
            os.replace(tmp, self.part_path(self.sequence.name(part)))
        self._unfinished.discard(delivery_id)
        self.claimed += 1
        how = ", ".join(found.describe())
        log.info(
            "claimed %s as %s (%s bytes, %d part%s%s)",
            display_name(name),
            delivery_id,
            f"{found.size:,}",
            len(parts),
            "" if len(parts) == 1 else "s",
            f"; {how}" if how else "",
        )

    # -- after the sink committed --------------------------------------------------

    def committed(self, parts: list[str], completed: list[str]) -> None:
        """Housekeeping after a commit: the parts' files go, completed deliveries are filed."""
        for part in parts:
            with contextlib.suppress(FileNotFoundError):
                self.part_path(part).unlink()
        self.finish(completed, leftovers=False)

    def finish(self, delivery_ids: list[str], leftovers: bool = True) -> None:
        """Archive (or delete) the originals of loaded deliveries; forget them.
        ``leftovers``: look for parts of theirs still in parts/ (a listing each;
        not after a commit, which has just deleted its parts)."""
        for delivery_id in delivery_ids:
            sidecar = files.read_json(self._sidecar(delivery_id))
            src = self._src(delivery_id)
            if os.path.lexists(src):
                if self.processed == "delete" or sidecar is None:
                    src.unlink()
                else:
                    files.move(src, self.archive_dir, sidecar["name"])
            if leftovers:
                for part in self.released(delivery_id):
                    part.unlink()
            self._forget(delivery_id)

    def _quarantine(self, delivery_id: str, name: str, reason: str, kind: str) -> None:
        target = files.move(self._src(delivery_id), self.quarantine_dir, name)
        self._forget(delivery_id)
        self.quarantined += 1
        self.quarantined_by[kind] = self.quarantined_by.get(kind, 0) + 1
        log.warning("quarantined the file %s (%s): %s", display_name(name), reason, target)

    def _forget(self, delivery_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._sidecar(delivery_id).unlink()
        self._unfinished.discard(delivery_id)

    def sweep_archive(self, now: float | None = None) -> int:
        """Delete the archived files older than ``archive_days`` (files.sweep); returns
        how many it deleted."""
        self._swept = time.monotonic()
        if self.processed != "archive" or self.archive_days <= 0:
            return 0
        return files.sweep(self.archive_dir, self.archive_days, now)

    # -- recovery -------------------------------------------------------------------

    def recover(self) -> None:
        """After a restart: carry every claimed delivery forward; drop the parts of loaded
        deliveries, and number the others again: whatever Spark's offsets say (a batch
        it will replay, a checkpoint taken from elsewhere), every part in flight is read,
        and a part the ledger already has is left out by the sink."""
        for sidecar in sorted(self.claimed_dir.glob("*.json")):
            self._unfinished.add(sidecar.stem)
        for src in self.claimed_dir.glob("*.src"):
            if not self._sidecar(src.stem).exists():
                log.warning("%s has no sidecar: moved to %s", src, self.quarantine_dir)
                files.move(src, self.quarantine_dir, src.name)
        for delivery_id in sorted(self._unfinished):
            self._advance(delivery_id)
        released = [p for p in self.released() if Part.parse(p.name)]
        deliveries = sorted({Part.parse(p.name).delivery_id for p in released})
        done = self.ledger.settled(deliveries)
        for path in released:
            if Part.parse(path.name).delivery_id in done:
                path.unlink()
            else:  # numbered again, above any offset Spark may have read past
                unnumbered = (
                    path.name
                    if sequence_of(path.name) is None
                    else path.name[SEQUENCE_DIGITS + 1 :]
                )
                os.replace(path, path.with_name(self.sequence.name(unnumbered)))
        for stale in self.tmp_dir.iterdir():
            stale.unlink()
        self.sweep_archive()

    # -- paths ----------------------------------------------------------------------

    def part_path(self, name: str) -> Path:
        """Where a released part lives: by its name's multi-line flag."""
        info = Part.parse(name)
        return (self.multiline_dir if info and info.multiline else self.plain_dir) / name

    def released(self, delivery_id: str = "") -> list[Path]:
        """The released parts (of one delivery, or all)."""
        pattern = f"*{delivery_id}.*.csv" if delivery_id else "*.csv"
        return [*self.plain_dir.glob(pattern), *self.multiline_dir.glob(pattern)]

    def _sidecar(self, delivery_id: str) -> Path:
        return self.claimed_dir / f"{delivery_id}.json"

    def _src(self, delivery_id: str) -> Path:
        return self.claimed_dir / f"{delivery_id}.src"


@dataclass
class _Claimed:
    """A claimed delivery, inspected: to register (if new) and release."""

    delivery_id: str
    name: str
    modified_at: datetime
    found: Inspection
    status: FileStatus | None  # in the ledger: None (new), claimed
    naive_timezone: str | None = None  # recorded with the delivery

    def as_new(self) -> NewDelivery:
        found = self.found
        return NewDelivery(
            delivery_id=self.delivery_id,
            source_file=display_name(self.name),
            size_bytes=found.size,
            sha256=found.digest,
            modified_at=self.modified_at,
            parts=len(found.parts),
            reason=found.reason or found.note,
            quarantined=found.reason is not None,
            header=found.header,
            delimiter=found.delimiter,
            compression=found.compression,
            decompressed_bytes=found.decompressed,
            naive_timezone=self.naive_timezone,
        )
