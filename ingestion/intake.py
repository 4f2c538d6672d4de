"""The intake: the job's own hold on input files, before Spark reads them.

Spark's file source knows a file by its path and modification time: it cannot
read every legal name, skips files with old mtimes, never reads a path twice
and reads whatever bytes are there when it lists. So Spark never reads the
inputs folder. The intake does:

1. **Waits for complete files.** A file renamed into the folder, or closed by
   its writer, is complete at once (Linux inotify: IN_MOVED_TO,
   IN_CLOSE_WRITE). One inotify saw being written is waited on until it is
   closed (or has settled and no process holds it open for writing: a hard
   link, say). A file the kernel said nothing about (there before the job
   started) is complete if no process holds it open for writing, on a local
   file system; on a network mount, or without inotify (macOS, other
   systems), once its size and mtime have not changed for ``settle_seconds``.
2. **Claims it** under a new delivery id: a sidecar with the name exactly as
   given, then a rename into ``claimed/``. A name delivered again is a new
   delivery.
3. **Inspects it**: size, SHA-256, and whether it is text at all. A file that
   cannot be read as CSV text (unreadable, compressed, UTF-16, binary, a name
   that is not UTF-8) is quarantined whole, with its reason, into the
   quarantine folder.
4. **Registers it** in ``raw.ingestion_files`` (status ``claimed``), then
   **releases** it to Spark's folder ``parts/`` in parts of at most
   ``part_bytes``, cut between records (ingestion.records), under names Spark
   reads safely: ``<delivery>.<part>.<line offset>[m].csv`` (``m``: a
   part with multi-line records). A part after the first starts with a copy
   of the file's first line, so that every part is checked against the header.

The sink commits each part with its rows (raw.ingestion_file_parts) and marks
the delivery loaded with its last part; the intake then archives or deletes
the original. Every step is safe to repeat: after a crash, ``recover``
carries each claimed delivery forward from what is on disk and in the ledger.
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import gzip
import hashlib
import io
import json
import logging
import lzma
import os
import re
import secrets
import shutil
import stat
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import psycopg2.extras

from ingestion import dialect, records
from pipeline import contract, db, errors, partitions
from pipeline.config import default, megabytes

log = logging.getLogger(__name__)

# A released part's name starts with its sequence (ingestion.source), one in tmp/ does not.
PART_PATTERN = r"^(?:\d{12}\.)?(\d{8}T\d{6}-[0-9a-f]{8})\.(\d{5})\.(\d+)(m?)\.csv$"
_PART = re.compile(PART_PATTERN)
_HEAD_BYTES = 1 << 16
_MAGIC = {
    b"\x1f\x8b": "gzip-compressed",
    b"PK\x03\x04": "a zip archive",
    b"BZh": "bzip2-compressed",
    b"\xfd7zXZ\x00": "xz-compressed",
    b"\x28\xb5\x2f\xfd": "zstd-compressed",
}
_UTF16_32 = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}


def in_flight(checkpoint_dir: Path) -> list[str]:
    """The names (as given) of the files a job with this checkpoint claimed and has not
    loaded yet: they left the inputs folder and wait in the checkpoint's intake/."""
    names = []
    for sidecar in sorted((checkpoint_dir / "intake" / "claimed").glob("*.json")):
        value = _read_json(sidecar)
        if value is not None:
            names.append(display_name(value["name"]))
    return names


# Compressed files are taken whatever their name says; these suffixes are the names
# that say so. The compression itself is told by the file's first bytes.
COMPRESSED_SUFFIXES: tuple[str, ...] = (".gz", ".gzip", ".bz2", ".xz", ".zst")
TEXT_SUFFIXES: tuple[str, ...] = (".csv", ".tsv")


def is_skipped_name(name: str) -> bool:
    """Hidden and ``_``-prefixed names (files and folders: ``.x.tmp``, ``_temporary/``,
    ``_SUCCESS``) are left alone, unlisted, as Spark and Hadoop leave them."""
    return name.startswith((".", "_"))


def ignored_reason(name: str) -> str | None:
    """Why a file of this (base) name is not taken, or None when it is."""
    lowered = name.lower()
    for suffix in COMPRESSED_SUFFIXES:
        lowered = lowered.removesuffix(suffix)
    if lowered.endswith(TEXT_SUFFIXES):
        return None
    return (
        "not a CSV file name (the job takes *.csv and *.tsv, also gzip-, bzip2-, xz- or "
        "zstd-compressed: *.csv.gz ...); left where it is"
    )


def is_input_name(name: str) -> bool:
    """A file the intake takes (by its base name): see ignored_reason and is_skipped_name."""
    return not is_skipped_name(name) and ignored_reason(name) is None


def walk_inputs(folder: Path, below: str = ""):
    """(relative path, os.DirEntry) of every entry that is not a folder, at any depth
    (a date-partitioned layout: 2026/11/25/orders.csv), skipping hidden and ``_`` names.
    A link to a folder is not followed; it is an entry like any other."""
    try:
        entries = list(os.scandir(folder / below if below else folder))
    except OSError:
        return
    for entry in entries:
        if is_skipped_name(entry.name):
            continue
        relative = f"{below}/{entry.name}" if below else entry.name
        try:
            is_folder = entry.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if is_folder:
            yield from walk_inputs(folder, relative)
        else:
            yield relative, entry


def waiting_files(folder: Path) -> list[str]:
    """The files in ``folder`` (at any depth) the intake will take, not claimed yet."""
    return [name for name, entry in walk_inputs(folder) if is_input_name(entry.name)]


def ignored_files(folder: Path) -> list[tuple[str, str]]:
    """(relative path, reason) of the files in ``folder`` the intake will not take."""
    found = []
    for name, entry in walk_inputs(folder):
        reason = ignored_reason(entry.name)
        if reason is not None:
            found.append((name, reason))
    return found


def new_delivery_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


def part_name(delivery_id: str, part: int, line_offset: int, multiline: bool) -> str:
    return f"{delivery_id}.{part:05d}.{line_offset}{'m' if multiline else ''}.csv"


@dataclass(frozen=True)
class Part:
    delivery_id: str
    part: int
    line_offset: int  # line number = offset + 1 + index of the line in the part
    multiline: bool

    @classmethod
    def parse(cls, name: str) -> Part | None:
        match = _PART.match(name)
        if not match:
            return None
        return cls(match[1], int(match[2]), int(match[3]), match[4] == "m")


ARCHIVE_SWEEP_SECONDS = 600.0
CLAIMS_PER_COMMIT = 200  # new deliveries registered in one transaction
# Why a whole file is quarantined, in kinds (the reason itself is in raw.ingestion_files).
QUARANTINE_KINDS = {
    "not_csv_text": "compressed in an unknown way, UTF-16/32, binary",
    "header": "a contract column missing, or one named twice",
    "not_a_file": "a symbolic link, a FIFO, a device: never opened",
    "name": "a name that is not UTF-8",
    "unreadable": "the file could not be read",
    "restart": "recorded quarantined before a restart, moved after it",
}
SEQUENCE_DIGITS = 12
_SEQUENCED = re.compile(rf"^(\d{{{SEQUENCE_DIGITS}}})\..*\.csv$")


def sequence_of(name: str) -> int | None:
    """The sequence a released part's name starts with (ingestion.source), or None."""
    match = _SEQUENCED.match(name)
    return int(match[1]) if match else None


class Sequence:
    """The numbers of released parts, in the order they are released: they never go
    back, through crashes too, so that a part is never numbered at or below an offset
    Spark has already read past (ingestion.source). Numbers are reserved on disk a
    block at a time (fsynced), like a PostgreSQL sequence's cache: a restart skips
    the rest of the block."""

    BLOCK = 4096

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._reserved = int(path.read_text().strip() or 0)
        except FileNotFoundError:
            self._reserved = 0
        self._next = self._reserved  # below it, numbers a run before may have used
        self._lock = threading.Lock()

    def name(self, part: str) -> str:
        """The released name of a part: its number, a dot, the part's own name."""
        with self._lock:
            if self._next >= self._reserved:
                self._reserve(self._next + self.BLOCK)
            number = self._next
            self._next += 1
        return f"{number:0{SEQUENCE_DIGITS}d}.{part}"

    def _reserve(self, upto: int) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as out:
            out.write(f"{upto}\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        self._reserved = upto


def display_name(name: str) -> str:
    """The name as PostgreSQL text can hold it: bytes that are not UTF-8 as \\xNN."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def sniff(head: bytes) -> str | None:
    """Why a file that starts with ``head`` is not CSV text at all, or None."""
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            return f"{what}, not CSV text: decompress it first"
    for bom, what in _UTF16_32.items():
        if head.startswith(bom):
            return f"{what} text (byte-order mark), not UTF-8: save it as UTF-8"
    if head and head.count(b"\x00") > len(head) // 100:
        return "binary data (NUL bytes), not CSV text"
    return None


def paths_open_for_writing(folder: Path) -> set[str]:
    """The paths in ``folder`` that processes this user can see hold open for writing
    (Linux /proc)."""
    prefix = str(folder.resolve()).rstrip("/") + "/"
    found = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
                if not target.startswith(prefix):
                    continue  # elsewhere, or sockets and pipes
                with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                    fields = dict(line.split(":", 1) for line in info if ":" in line)
                flags = int(fields["flags"].strip(), 8)
            except (OSError, ValueError, KeyError):
                continue
            if flags & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR):
                found.add(target)
    return found


# File systems whose writers are all on this machine, so that /proc shows them.
_LOCAL_FILE_SYSTEMS = {
    "ext2",
    "ext3",
    "ext4",
    "xfs",
    "btrfs",
    "zfs",
    "f2fs",
    "tmpfs",
    "overlay",
    "ramfs",
}


def local_file_system(path: Path) -> bool:
    """Whether ``path`` is on a local file system (Linux /proc/self/mounts), not a network one."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return False
    target = str(path.resolve())
    best, kind = "", ""
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind in _LOCAL_FILE_SYSTEMS


class _Inotify:
    """The kernel's word on the inputs folder and its subfolders (Linux); None elsewhere."""

    def __init__(self, folder: Path) -> None:
        from inotify_simple import INotify, flags

        self.flags = flags
        self.folder = folder
        self._inotify = INotify()
        self._mask = (
            flags.CREATE
            | flags.MODIFY
            | flags.CLOSE_WRITE
            | flags.MOVED_TO
            | flags.MOVED_FROM
            | flags.DELETE
        )
        self._folders: dict[int, str] = {}  # watch descriptor -> folder, relative ("": the root)
        self._folders[self._inotify.add_watch(str(folder), self._mask)] = ""
        self._watched = {""}

    @classmethod
    def create(cls, folder: Path) -> _Inotify | None:
        try:
            return cls(folder)
        except (ImportError, OSError) as exc:
            log.info("no inotify (%s): files are complete once unchanged for the settle time", exc)
            return None

    def watch(self, relative: str) -> None:
        """Watch a subfolder too (new folders of a date-partitioned layout)."""
        if relative in self._watched:
            return
        try:
            wd = self._inotify.add_watch(str(self.folder / relative), self._mask)
        except OSError as exc:  # e.g. the user's inotify watch limit: the listing still finds it
            log.debug("cannot watch %s: %s", relative, exc)
            return
        self._folders[wd] = relative
        self._watched.add(relative)

    def read(self, timeout: float) -> list[tuple[str, str]]:
        """(relative name, what) pairs: what is complete | writing | gone | folder | overflow."""
        out = []
        f = self.flags
        for event in self._inotify.read(timeout=int(timeout * 1000)):
            if event.mask & f.Q_OVERFLOW:
                out.append(("", "overflow"))
                continue
            if event.mask & f.IGNORED:  # the folder is gone
                self._watched.discard(self._folders.pop(event.wd, None))
                continue
            folder = self._folders.get(event.wd)
            if folder is None:
                continue
            name = f"{folder}/{event.name}" if folder else event.name
            if event.mask & f.ISDIR:
                if event.mask & (f.CREATE | f.MOVED_TO):
                    out.append((name, "folder"))
            elif event.mask & (f.MOVED_TO | f.CLOSE_WRITE):
                out.append((name, "complete"))
            elif event.mask & (f.CREATE | f.MODIFY):
                out.append((name, "writing"))
            elif event.mask & (f.MOVED_FROM | f.DELETE):
                out.append((name, "gone"))
        return out

    def close(self) -> None:
        self._inotify.close()


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float  # monotonic time of the last change seen
    kernel: str = "unknown"  # unknown | writing | complete (what inotify said last)


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
        self.settle_seconds = settle_seconds
        self.part_bytes = part_bytes
        self.poll_seconds = poll_seconds
        self.escape = escape  # ingestion.dialect: a backslash, or None (RFC 4180's "")
        self.naive_timezone = naive_timezone  # recorded with each delivery
        self.archive_days = archive_days  # 0: the archive is kept for ever
        self._swept = float("-inf")  # monotonic time of the last sweep of the archive
        self._ensured = time.monotonic()  # of the last call for raw's partitions ahead
        folders = (self.claimed_dir, self.plain_dir, self.multiline_dir, self.tmp_dir)
        for folder in (input_dir, *folders):
            folder.mkdir(parents=True, exist_ok=True)
        if processed == "archive":
            archive_dir.mkdir(parents=True, exist_ok=True)
        self._seen: dict[str, _Seen] = {}
        self._ignored: dict[str, str] = {}  # relative name -> why it is not taken
        self._refused: dict[str, tuple[int, int]] = {}  # name -> (size, mtime) when refused
        self._unfinished: set[str] = set()  # claimed deliveries not yet released
        self._conn = None
        self._inotify: _Inotify | None = None
        self._local = False
        self._writers: set[str] | None = None
        self.claimed = 0
        self.quarantined = 0
        self.quarantined_by: dict[str, int] = {}  # QUARANTINE_KINDS -> files

    # -- the loop ---------------------------------------------------------------

    def start_watching(self) -> None:
        self._inotify = _Inotify.create(self.input_dir)
        # Where the kernel sees every writer, a file nobody holds open is complete.
        self._local = self._inotify is not None and local_file_system(self.input_dir)

    def run(self, stop: threading.Event) -> None:
        """Claim files until ``stop`` is set (the intake thread)."""
        while not stop.is_set():
            try:
                self.step(wait=self.poll_seconds)
                if time.monotonic() - self._swept > ARCHIVE_SWEEP_SECONDS:
                    self.sweep_archive()
                if time.monotonic() - self._ensured > partitions.ENSURE_SECONDS:
                    self._ensured = time.monotonic()
                    partitions.ensure(self._db())  # raw's partitions ahead of the rows
            except Exception as exc:  # noqa: BLE001 - the intake must outlive any one file
                log.warning("intake: %s; retrying", _one_line(exc))
                self._close_db()
                stop.wait(2.0)

    def step(self, wait: float = 0.0) -> int:
        """Take what the kernel said (waiting up to ``wait`` s for it), then claim
        every complete file. Returns how many files it claimed or quarantined."""
        if self._inotify is not None:
            for name, what in self._inotify.read(wait):
                self._heard(name, what)
        elif wait:
            time.sleep(wait)
        for delivery_id in sorted(self._unfinished):
            self._advance(delivery_id)
        done = 0
        claimed: list[tuple[str, dict]] = []
        for name in self._complete_names():
            try:
                taken = self._claim(name)
            except OSError as exc:  # e.g. no permission to move it: the others go on
                self._refuse(name, exc)
                continue
            if taken is not None:
                claimed.append(taken)
                done += 1
            if len(claimed) >= CLAIMS_PER_COMMIT:
                self._advance_many(claimed, fresh=True)
                claimed = []
        self._advance_many(claimed, fresh=True)
        return done

    def _refuse(self, name: str, exc: OSError) -> None:
        """Leave a file the intake cannot take (it is tried again once it changes)."""
        seen = self._seen.pop(name, None)
        if seen is not None:
            self._refused[name] = (seen.size, seen.mtime_ns)
        log.warning("cannot take %s from the inputs folder: %s; left there", name, exc)

    def drain(self, stop: threading.Event | None = None) -> None:
        """Claim every file present (``--once``): wait for each to be complete."""
        while stop is None or not stop.is_set():
            self.step(wait=0.2 if self._seen or self._unfinished else 0.0)
            if not self._seen and not self._unfinished:
                return

    def in_flight_note(self) -> str:
        """' (files in flight: a.csv, b.csv ...)' for an error line, or ''."""
        names = in_flight(self.claimed_dir.parent.parent)
        if not names:
            return ""
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        return f" (files in flight: {', '.join(names[:3])}{more})"

    def in_flight_count(self) -> int:
        """Files claimed and not loaded (or quarantined) yet."""
        return sum(1 for _ in self.claimed_dir.glob("*.json"))

    def waiting(self) -> int:
        """Files in the inputs folder not claimed yet."""
        return len(self._seen)

    def close(self) -> None:
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
        self._close_db()

    # -- completeness -------------------------------------------------------------

    def _heard(self, name: str, what: str) -> None:
        if what == "overflow":
            for seen in self._seen.values():
                seen.kernel = "unknown"
            return
        if what == "gone":
            self._seen.pop(name, None)
            return
        base = os.path.basename(name)
        if what == "folder":
            if not is_skipped_name(base) and self._inotify is not None:
                self._inotify.watch(name)
            return
        if not is_input_name(base):
            return
        seen = self._seen.get(name)
        if seen is None:
            try:
                st = (self.input_dir / name).lstat()
            except OSError:
                return
            seen = self._seen[name] = _Seen(st.st_size, st.st_mtime_ns, time.monotonic())
            if not stat.S_ISREG(st.st_mode):
                what = "complete"  # a link or a special file: taken (and quarantined) at once
        seen.kernel = what

    def _complete_names(self) -> list[str]:
        now = time.monotonic()
        present = set()
        ignored = {}
        ready = []
        self._writers = None  # one /proc scan per step, when needed
        for name, entry in walk_inputs(self.input_dir):
            if not is_input_name(entry.name):
                ignored[name] = self._ignored.get(name) or self._ignore(name, entry.name)
                continue
            if "/" in name and self._inotify is not None:
                self._inotify.watch(os.path.dirname(name))
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            present.add(name)
            if self._refused.get(name) == (st.st_size, st.st_mtime_ns):
                continue
            self._refused.pop(name, None)
            seen = self._seen.get(name)
            if seen is None:
                seen = self._seen[name] = _Seen(st.st_size, st.st_mtime_ns, now)
            elif (seen.size, seen.mtime_ns) != (st.st_size, st.st_mtime_ns):
                seen.size, seen.mtime_ns, seen.since = st.st_size, st.st_mtime_ns, now
            # a link or a special file is never opened: it is quarantined as it is
            if not stat.S_ISREG(st.st_mode) or self._is_complete(name, seen, now):
                ready.append((st.st_mtime_ns, name))
        for name in set(self._seen) - present:
            del self._seen[name]
        self._ignored = ignored  # only what is still there
        return [name for _, name in sorted(ready)]

    def _ignore(self, name: str, base: str) -> str:
        reason = ignored_reason(base) or ""
        log.warning("%s is not taken: %s", display_name(str(self.input_dir / name)), reason)
        return reason

    def ignored(self) -> dict[str, str]:
        """The files in the inputs folder the job does not take, with the reason."""
        return dict(self._ignored)

    def _is_complete(self, name: str, seen: _Seen, now: float) -> bool:
        if seen.kernel == "complete":
            return True
        settled = now - seen.since >= self.settle_seconds
        if seen.kernel == "writing":
            return settled and not self._open_for_writing(name)
        # Nothing heard (there before the job watched, or a network mount): on a
        # local file system, nobody has it open for writing; elsewhere, settled
        # since first seen, or last modified long enough ago.
        if self._local:
            return not self._open_for_writing(name)
        age = time.time() - seen.mtime_ns / 1e9
        return settled or age >= self.settle_seconds

    def _open_for_writing(self, name: str) -> bool:
        if self._writers is None:
            self._writers = paths_open_for_writing(self.input_dir)
        return str((self.input_dir / name).resolve()) in self._writers

    # -- claiming -----------------------------------------------------------------

    def _claim(self, name: str) -> tuple[str, dict] | None:
        """Claim ``name``: (its delivery id, its sidecar), or None if it was gone."""
        delivery_id = new_delivery_id()
        source = self.input_dir / name
        try:
            st = source.lstat()
        except FileNotFoundError:
            self._seen.pop(name, None)
            return None
        sidecar = {
            "delivery_id": delivery_id,
            "name": name,
            "modified_at": st.st_mtime,
            "claimed_at": time.time(),
        }
        _write_json(self._sidecar(delivery_id), sidecar)
        try:
            os.rename(source, self._src(delivery_id))
        except FileNotFoundError:
            self._sidecar(delivery_id).unlink()
            self._seen.pop(name, None)
            return None
        self._seen.pop(name, None)
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
        self._register([found for found in pending if found.status is None])
        for found in pending:
            self._release(found, fresh)

    def _inspected(self, delivery_id: str, sidecar: dict | None, fresh: bool) -> _Claimed | None:
        """What a claimed delivery holds (its parts in tmp/), or None when there is
        nothing more to do for it (gone, or finished as the ledger says)."""
        sidecar = sidecar or _read_json(self._sidecar(delivery_id))
        src = self._src(delivery_id)
        if sidecar is None or not os.path.lexists(src):
            self._forget(delivery_id)
            return None
        status = None if fresh else self._status(delivery_id)
        if status == "loaded":
            self.finish([delivery_id])
            return None
        if status == "quarantined":
            self._quarantine(delivery_id, sidecar["name"], "recorded before a restart", "restart")
            return None
        if not fresh:
            for stale in self.tmp_dir.glob(f"{delivery_id}.*"):
                stale.unlink()
        name = sidecar["name"]
        modified_at = datetime.fromtimestamp(sidecar["modified_at"], UTC)
        try:
            found = self._inspect(src, name)
        except _Unreadable as exc:
            found = _Inspection(reason=f"cannot be read: {exc}", kind="unreadable")
        if found.reason is not None:
            for stale in self.tmp_dir.glob(f"{delivery_id}.*"):
                stale.unlink()
            found.parts = []
        elif found.parsed or any(Part.parse(part).multiline for part in found.parts):
            # one query for the whole file
            found.parts = [self._as_multiline(part) for part in found.parts]
        return _Claimed(delivery_id, name, modified_at, found, status)

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
            if claimed.status == "claimed":
                committed = self._committed_parts(delivery_id)
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

    def _inspect(self, src: Path, name: str) -> _Inspection:
        """Read a claimed file once: what it is, its header, and its parts (written to tmp/)."""
        if display_name(name) != name:
            return _Inspection(reason="the file name is not valid UTF-8", kind="name")
        try:
            st = src.lstat()
        except OSError as exc:
            raise _Unreadable(exc.strerror or str(exc)) from exc
        if not stat.S_ISREG(st.st_mode):
            return _Inspection(reason=_not_a_file(src, st), kind="not_a_file")
        try:  # O_NOFOLLOW: a link swapped in since the lstat is not followed either
            fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return _Inspection(reason=_not_a_file(src, src.lstat()), kind="not_a_file")
            raise _Unreadable(exc.strerror or str(exc)) from exc
        with open(fd, "rb") as source:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return _Inspection(reason=_not_a_file(src, st), kind="not_a_file")
            delivered = _Hashing(source)
            compression = _compression(os.pread(fd, 8, 0))
            try:
                stream = _decompressed(delivered, compression)
                found = self._split(src, name, _reader(stream), compression)
                if found.reason is None:
                    _drain(_reader(delivered))  # the digest covers every byte delivered
            except _Unreadable:
                for stale in self.tmp_dir.glob(f"{src.stem}.*"):
                    stale.unlink()
                raise
        if found.reason is not None:
            found.size = st.st_size
            return found
        found.size, found.digest = delivered.size, delivered.digest.hexdigest()
        if compression:
            found.compression, found.decompressed = compression, found.size_read
        return found

    def _split(self, src: Path, name: str, read, compression: str | None) -> _Inspection:
        """The file's header and its parts in tmp/, cut between records."""
        found = _Inspection()
        head = read(_HEAD_BYTES)
        reason = sniff(head)
        if reason:
            what = f"{compression}-compressed, and then " if compression else ""
            return _Inspection(reason=what + reason, kind="not_csv_text")
        try:
            self._read_header(head, found)
        except dialect.HeaderProblem as exc:
            return _Inspection(reason=str(exc), kind="header")
        found.size_read = len(head)
        buffer = head
        first_line = b""
        lines_before = 0
        at_end = False
        backslash = self.escape is not None
        while buffer or not at_end:
            while not at_end and len(buffer) < self.part_bytes:
                data = read(self.part_bytes)
                if not data:
                    at_end = True
                    break
                found.size_read += len(data)
                buffer += data
            if not buffer:
                break
            if not found.parts:
                newline = buffer.find(b"\n")
                first_line = buffer[: newline + 1] if newline != -1 else buffer + b"\n"
            at = records.cut(buffer, at_end, found.framing) if not at_end else len(buffer)
            if at == 0:  # no record boundary yet: a record longer than a part
                if len(buffer) < 4 * self.part_bytes:
                    data = read(self.part_bytes)
                    if data:
                        found.size_read += len(data)
                        buffer += data
                    else:
                        at_end = True
                    continue
                at = buffer.rfind(b"\n") + 1 or len(buffer)  # give up on it: cut anyway
            chunk, buffer = buffer[:at], buffer[at:]
            if backslash and found.header is not None and b"\\" in chunk:
                found.parsed = True  # escapes to read: the Python path
            whole = compression is None and not found.parts and at_end and not buffer
            found.parts.append(
                self._write_part(
                    src, chunk, first_line, len(found.parts), lines_before, whole, found
                )
            )
            lines_before += chunk.count(b"\n")
        return found

    def _read_header(self, head: bytes, found: _Inspection) -> None:
        """What the first line says: the contract's header (the JVM's path), another
        header (the Python path), or none at all (every line quarantined)."""
        first = head.split(b"\n", 1)[0]
        try:
            text = first.decode("utf-8").removeprefix(dialect.BOM).removesuffix("\r")
        except UnicodeDecodeError:
            text = None
        if text == contract.CSV_HEADER:
            found.header, found.delimiter = text, dialect.DELIMITER_NAMES[","]
            return
        header = dialect.read_header(text, self.escape) if text is not None else None
        if header is None:
            found.note = (
                "the first line is not a header (it names none of the contract's columns): "
                "every line, the first included, is quarantined as bad_header"
            )
            return
        found.header, found.delimiter = header.line, header.delimiter_name
        found.parsed = True
        found.framing = records.Framing(header.delimiter, len(header.names))

    def _as_multiline(self, name: str) -> str:
        info = Part.parse(name)
        if info.multiline:
            return name
        renamed = part_name(info.delivery_id, info.part, info.line_offset, True)
        os.replace(self.tmp_dir / name, self.tmp_dir / renamed)
        return renamed

    def _write_part(
        self,
        src: Path,
        chunk: bytes,
        first_line: bytes,
        index: int,
        lines_before: int,
        whole: bool,
        found: _Inspection,
    ) -> str:
        # part 0's lines are numbered from 1; a later part's line 0 is the copied first line
        offset = 0 if index == 0 else lines_before - 1
        multiline = found.parsed or records.has_multiline_record(chunk, found.framing)
        name = part_name(src.stem, index, offset, multiline)
        target = self.tmp_dir / name
        if whole:
            try:  # the whole file is the one part: no copy
                os.link(src, target)
                return name
            except OSError:
                pass
        with open(target, "wb") as out:
            if index:
                out.write(first_line)
            out.write(chunk)
        return name

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
            sidecar = _read_json(self._sidecar(delivery_id))
            src = self._src(delivery_id)
            if os.path.lexists(src):
                if self.processed == "delete" or sidecar is None:
                    src.unlink()
                else:
                    _move(src, self.archive_dir, sidecar["name"])
            if leftovers:
                for part in self.released(delivery_id):
                    part.unlink()
            self._forget(delivery_id)

    def _quarantine(self, delivery_id: str, name: str, reason: str, kind: str) -> None:
        target = _move(self._src(delivery_id), self.quarantine_dir, name)
        self._forget(delivery_id)
        self.quarantined += 1
        self.quarantined_by[kind] = self.quarantined_by.get(kind, 0) + 1
        log.warning("quarantined the file %s (%s): %s", display_name(name), reason, target)

    def _forget(self, delivery_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._sidecar(delivery_id).unlink()
        self._unfinished.discard(delivery_id)

    def sweep_archive(self, now: float | None = None) -> int:
        """Delete the archived files older than ``archive_days``, by when they were archived
        (the inode's change time: a rename sets it, whatever the file's own mtime), and
        the subfolders that leaves empty. Returns how many files it deleted."""
        self._swept = time.monotonic()
        if self.processed != "archive" or self.archive_days <= 0:
            return 0
        cutoff = (time.time() if now is None else now) - self.archive_days * 86400
        deleted = 0
        for root, _dirs, files in os.walk(self.archive_dir, topdown=False):
            for name in files:
                path = os.path.join(root, name)
                try:
                    if os.lstat(path).st_ctime < cutoff:
                        os.unlink(path)
                        deleted += 1
                except FileNotFoundError:
                    continue
            if root != str(self.archive_dir):
                with contextlib.suppress(OSError):  # not empty: kept
                    os.rmdir(root)
        if deleted:
            log.info(
                "archive: deleted %d file%s archived more than %g days ago (--archive-days)",
                deleted,
                "" if deleted == 1 else "s",
                self.archive_days,
            )
        return deleted

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
                _move(src, self.quarantine_dir, src.name)
        for delivery_id in sorted(self._unfinished):
            self._advance(delivery_id)
        released = [p for p in self.released() if Part.parse(p.name)]
        deliveries = sorted({Part.parse(p.name).delivery_id for p in released})
        done = self._loaded(deliveries)
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

    # -- the ledger -------------------------------------------------------------------

    def _db(self):
        if self._conn is None or self._conn.closed:
            self._conn = db.connect("loader")
            self._conn.autocommit = True
        return self._conn

    def _close_db(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg2.Error):
                self._conn.close()
            self._conn = None

    def _status(self, delivery_id: str) -> str | None:
        with self._db().cursor() as cur:
            cur.execute(
                "select status from raw.ingestion_files where delivery_id = %s", (delivery_id,)
            )
            row = cur.fetchone()
        return row[0] if row else None

    def _committed_parts(self, delivery_id: str) -> set[int]:
        with self._db().cursor() as cur:
            cur.execute(
                "select part from raw.ingestion_file_parts where delivery_id = %s", (delivery_id,)
            )
            return {row[0] for row in cur.fetchall()}

    def _loaded(self, delivery_ids: list[str]) -> set[str]:
        if not delivery_ids:
            return set()
        with self._db().cursor() as cur:
            cur.execute(
                "select delivery_id from raw.ingestion_files "
                "where delivery_id = any(%s) and status <> 'claimed'",
                (delivery_ids,),
            )
            return {row[0] for row in cur.fetchall()}

    def _register(self, claimed: list[_Claimed]) -> None:
        """Record new deliveries in raw.ingestion_files, in one transaction."""
        if not claimed:
            return
        rows = []
        for one in claimed:
            found = one.found
            quarantined = found.reason is not None
            status = "quarantined" if quarantined else ("loaded" if not found.parts else "claimed")
            counts = 0 if status == "loaded" else None
            rows.append(
                (
                    one.delivery_id,
                    display_name(one.name),
                    found.size,
                    found.digest,
                    one.modified_at,
                    len(found.parts),
                    status,
                    found.reason or found.note,
                    counts,
                    counts,
                    counts,
                    status,
                    found.header,
                    found.delimiter,
                    found.compression,
                    found.decompressed,
                    self.naive_timezone,
                )
            )
        conn = self._db()
        with conn.cursor() as cur:
            psycopg2.extras.execute_values(
                cur,
                "insert into raw.ingestion_files (delivery_id, source_file, size_bytes, sha256, "
                "modified_at, parts, status, reason, rows_in, rows_loaded, rows_rejected, "
                "completed_at, header, delimiter, compression, decompressed_bytes, "
                "naive_timezone) values %s on conflict (delivery_id) do nothing",
                rows,
                template="(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "case when %s <> 'claimed' then clock_timestamp() end, %s, %s, %s, %s, %s)",
                page_size=len(rows),
            )

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
    found: _Inspection
    status: str | None  # in the ledger: None (new), claimed


@dataclass
class _Inspection:
    """What reading a claimed file found (the file ledger's columns)."""

    reason: str | None = None  # why the whole file is quarantined
    kind: str = ""  # the reason's kind, one of QUARANTINE_KINDS (a metric's label)
    note: str | None = None  # said of the whole file, which loads (no header line)
    size: int = 0  # as delivered
    digest: str | None = None  # SHA-256 as delivered
    size_read: int = 0  # decompressed
    compression: str | None = None
    decompressed: int | None = None
    header: str | None = None
    delimiter: str | None = None
    parsed: bool = False  # the Python path (ingestion.transform): not the contract's dialect
    framing: records.Framing = records.CONTRACT  # where records end, for cutting parts
    parts: list[str] = field(default_factory=list)

    def describe(self) -> list[str]:
        said = []
        if self.compression:
            said.append(f"{self.compression}, {self.decompressed:,} bytes decompressed")
        if self.parsed and self.header is not None:
            said.append(f"header by name, {self.delimiter}-separated")
        return said


# Compression by the first bytes (gzip, bzip2 and xz in the standard library,
# zstd where the zstandard package is installed). A zip archive is quarantined by
# sniff(): it holds files, not one stream.
_COMPRESSIONS = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}


def _compression(head: bytes) -> str | None:
    for magic, name in _COMPRESSIONS.items():
        if head.startswith(magic):
            if name == "zstd" and not _has_zstd():
                return None  # sniff() says it is compressed and cannot be read
            return name
    return None


def _has_zstd() -> bool:
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return False
    return True


def _decompressed(source, compression: str | None):
    """A stream of the file's content: decompressed as it is read, in bounded memory."""
    if compression == "gzip":
        return gzip.GzipFile(fileobj=source, mode="rb")
    if compression == "bzip2":
        return bz2.BZ2File(source, mode="rb")
    if compression == "xz":
        return lzma.LZMAFile(source, mode="rb")
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
    return source


class _Hashing(io.RawIOBase):
    """Reads a file, counting and hashing the bytes as delivered."""

    def __init__(self, source) -> None:
        self._source = source
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        self.digest.update(data)
        self.size += len(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data


def _drain(read) -> None:
    while read(1 << 20):
        pass


_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)


def _not_a_file(path: Path, st: os.stat_result) -> str:
    """The reason an entry that is not a regular file is quarantined without being read."""
    what = next((kind for test, kind in _KINDS if test(st.st_mode)), "not a regular file")
    if stat.S_ISLNK(st.st_mode):
        with contextlib.suppress(OSError):
            what += f" (to {display_name(os.readlink(path))})"
        return f"{what}: the job does not read through links; move or copy the file itself in"
    return f"{what}, not a file: never opened"


class _Unreadable(Exception):
    """The claimed file cannot be read (the message says why): it is quarantined."""


def _reader(source):
    def read(size: int) -> bytes:
        try:
            return source.read(size)
        except OSError as exc:
            raise _Unreadable(exc.strerror or str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - a broken compressed stream, of any library
            raise _Unreadable(f"{type(exc).__name__}: {exc}") from exc

    return read


def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _move(path: Path, folder: Path, name: str) -> Path:
    """Move ``path`` into ``folder`` as ``name`` (a relative path keeps its subfolders),
    or ``name.1.csv`` etc. if taken."""
    target = folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    stem, dot, suffix = target.name.rpartition(".")
    if not dot:
        stem, suffix = target.name, ""
    counter = 1
    while os.path.lexists(target):
        renamed = f"{stem}.{counter}.{suffix}" if dot else f"{target.name}.{counter}"
        target = target.with_name(renamed)
        counter += 1
    for attempt in range(3):
        try:
            os.rename(path, target)
        except FileNotFoundError:  # its folder was just swept away as empty (sweep_archive)
            if attempt == 2 or not os.path.lexists(path):
                raise
            target.parent.mkdir(parents=True, exist_ok=True)
            continue
        except OSError:  # another file system
            shutil.move(path, target)
        return target
    return target


def _one_line(exc: BaseException) -> str:
    return errors.first_line(exc)
