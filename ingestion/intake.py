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

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import stat
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

from ingestion import records
from pipeline import db, errors

log = logging.getLogger(__name__)

PART_PATTERN = r"^(\d{8}T\d{6}-[0-9a-f]{8})\.(\d{5})\.(\d+)(m?)\.csv$"
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


def is_input_name(name: str) -> bool:
    """A file the intake takes: ``*.csv`` (any case), not hidden (rsync's temporaries)."""
    return name.lower().endswith(".csv") and not name.startswith(".")


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
    """The kernel's word on the inputs folder (Linux); None elsewhere."""

    def __init__(self, folder: Path) -> None:
        from inotify_simple import INotify, flags

        self.flags = flags
        self._inotify = INotify()
        mask = (
            flags.CREATE
            | flags.MODIFY
            | flags.CLOSE_WRITE
            | flags.MOVED_TO
            | flags.MOVED_FROM
            | flags.DELETE
        )
        self._inotify.add_watch(str(folder), mask)

    @classmethod
    def create(cls, folder: Path) -> _Inotify | None:
        try:
            return cls(folder)
        except (ImportError, OSError) as exc:
            log.info("no inotify (%s): files are complete once unchanged for the settle time", exc)
            return None

    def read(self, timeout: float) -> list[tuple[str, str]]:
        """(name, what) pairs: what is complete | writing | gone | overflow."""
        out = []
        for event in self._inotify.read(timeout=int(timeout * 1000)):
            f = self.flags
            if event.mask & f.Q_OVERFLOW:
                out.append(("", "overflow"))
            elif event.mask & (f.MOVED_TO | f.CLOSE_WRITE):
                out.append((event.name, "complete"))
            elif event.mask & (f.CREATE | f.MODIFY):
                out.append((event.name, "writing"))
            elif event.mask & (f.MOVED_FROM | f.DELETE):
                out.append((event.name, "gone"))
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
        processed: str = "archive",
        settle_seconds: float = 5.0,
        part_bytes: int = 8 << 20,
        poll_seconds: float = 1.0,
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
        self.archive_dir = archive_dir
        self.quarantine_dir = quarantine_dir
        self.processed = processed
        self.settle_seconds = settle_seconds
        self.part_bytes = part_bytes
        self.poll_seconds = poll_seconds
        folders = (self.claimed_dir, self.plain_dir, self.multiline_dir, self.tmp_dir)
        for folder in (input_dir, *folders):
            folder.mkdir(parents=True, exist_ok=True)
        if processed == "archive":
            archive_dir.mkdir(parents=True, exist_ok=True)
        self._seen: dict[str, _Seen] = {}
        self._skipped: set[str] = set()
        self._refused: dict[str, tuple[int, int]] = {}  # name -> (size, mtime) when refused
        self._unfinished: set[str] = set()  # claimed deliveries not yet released
        self._conn = None
        self._inotify: _Inotify | None = None
        self._local = False
        self._writers: set[str] | None = None
        self.claimed = 0
        self.quarantined = 0

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
        for name in self._complete_names():
            try:
                claimed = self._claim(name)
            except OSError as exc:  # e.g. no permission to move it: the others go on
                self._refuse(name, exc)
                continue
            done += claimed
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
        if not is_input_name(name):
            return
        seen = self._seen.get(name)
        if seen is None:
            try:
                st = (self.input_dir / name).lstat()
            except OSError:
                return
            seen = self._seen[name] = _Seen(st.st_size, st.st_mtime_ns, time.monotonic())
            if stat.S_ISLNK(st.st_mode):
                what = "complete"  # a symbolic link is complete when it appears
        seen.kernel = what

    def _complete_names(self) -> list[str]:
        now = time.monotonic()
        present = set()
        ready = []
        self._writers = None  # one /proc scan per step, when needed
        with os.scandir(self.input_dir) as entries:
            for entry in entries:
                if not is_input_name(entry.name):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                    if entry.name not in self._skipped:
                        self._skipped.add(entry.name)
                        log.warning("%s is not a regular file: left alone", entry.path)
                    continue
                present.add(entry.name)
                if self._refused.get(entry.name) == (st.st_size, st.st_mtime_ns):
                    continue
                self._refused.pop(entry.name, None)
                seen = self._seen.get(entry.name)
                if seen is None:
                    seen = self._seen[entry.name] = _Seen(st.st_size, st.st_mtime_ns, now)
                elif (seen.size, seen.mtime_ns) != (st.st_size, st.st_mtime_ns):
                    seen.size, seen.mtime_ns, seen.since = st.st_size, st.st_mtime_ns, now
                if self._is_complete(entry.name, seen, now):
                    ready.append((st.st_mtime_ns, entry.name))
        for name in set(self._seen) - present:
            del self._seen[name]
        return [name for _, name in sorted(ready)]

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

    def _claim(self, name: str) -> bool:
        """Claim ``name`` and carry it as far as it goes. False if it was gone."""
        delivery_id = new_delivery_id()
        source = self.input_dir / name
        try:
            st = source.lstat()
        except FileNotFoundError:
            self._seen.pop(name, None)
            return False
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
            return False
        self._seen.pop(name, None)
        self._unfinished.add(delivery_id)
        self._advance(delivery_id)
        return True

    def _advance(self, delivery_id: str) -> None:
        """Bring a claimed delivery forward: inspect, register, release (idempotent)."""
        sidecar = _read_json(self._sidecar(delivery_id))
        src = self._src(delivery_id)
        if sidecar is None or not os.path.lexists(src):
            self._forget(delivery_id)
            return
        status = self._status(delivery_id)
        if status == "loaded":
            self.finish([delivery_id])
            return
        if status == "quarantined":
            self._quarantine(delivery_id, sidecar["name"], "recorded before a restart")
            return
        for stale in self.tmp_dir.glob(f"{delivery_id}.*"):
            stale.unlink()
        name = sidecar["name"]
        modified_at = datetime.fromtimestamp(sidecar["modified_at"], UTC)
        try:
            reason, size, digest, parts = self._split(src, name)
        except _Unreadable as exc:
            reason, size, digest, parts = f"cannot be read: {exc}", 0, None, []
        if reason is not None:
            if status is None:
                self._register(delivery_id, name, size, digest, modified_at, 0, reason)
            self._quarantine(delivery_id, name, reason)
            return
        if any(Part.parse(part).multiline for part in parts):
            parts = [self._as_multiline(part) for part in parts]  # one query for the whole file
        if status is None:
            self._register(delivery_id, name, size, digest, modified_at, len(parts), None)
        if not parts:  # an empty file: nothing for Spark, loaded as it is
            self.finish([delivery_id])
            return
        committed = self._committed_parts(delivery_id) if status == "claimed" else set()
        for part in parts:
            info = Part.parse(part)
            tmp = self.tmp_dir / part
            if info.part in committed or self.part_path(part).exists():
                tmp.unlink()
                continue
            os.utime(tmp)  # Spark's file source skips files with old mtimes
            os.replace(tmp, self.part_path(part))
        self._unfinished.discard(delivery_id)
        self.claimed += 1
        log.info(
            "claimed %s as %s (%s bytes, %d part%s)",
            name,
            delivery_id,
            f"{size:,}",
            len(parts),
            "" if len(parts) == 1 else "s",
        )

    def _split(self, src: Path, name: str) -> tuple[str | None, int, str | None, list[str]]:
        """(reason it is not CSV text, size, sha256, part names written to tmp/)."""
        if display_name(name) != name:
            return "the file name is not valid UTF-8", 0, None, []
        digest = hashlib.sha256()
        size = 0
        parts: list[str] = []
        try:
            source = open(src, "rb")  # noqa: SIM115 - closed below, reads wrapped
        except OSError as exc:
            raise _Unreadable(exc.strerror or str(exc)) from exc
        with source:
            read = _reader(source)
            head = read(_HEAD_BYTES)
            reason = sniff(head)
            if reason:
                return reason, os.fstat(source.fileno()).st_size, None, []
            digest.update(head)
            size += len(head)
            buffer = head
            first_line = b""
            lines_before = 0
            at_end = False
            while buffer or not at_end:
                while not at_end and len(buffer) < self.part_bytes:
                    data = read(self.part_bytes)
                    if not data:
                        at_end = True
                        break
                    digest.update(data)
                    size += len(data)
                    buffer += data
                if not buffer:
                    break
                if not parts:
                    newline = buffer.find(b"\n")
                    first_line = buffer[: newline + 1] if newline != -1 else buffer + b"\n"
                at = records.cut(buffer, at_end) if not at_end else len(buffer)
                if at == 0:  # no record boundary yet: a record longer than a part
                    if len(buffer) < 4 * self.part_bytes:
                        data = read(self.part_bytes)
                        if data:
                            digest.update(data)
                            size += len(data)
                            buffer += data
                        else:
                            at_end = True
                        continue
                    at = buffer.rfind(b"\n") + 1 or len(buffer)  # give up on it: cut anyway
                chunk, buffer = buffer[:at], buffer[at:]
                parts.append(self._write_part(src, chunk, first_line, len(parts), lines_before))
                lines_before += chunk.count(b"\n")
        return None, size, digest.hexdigest(), parts

    def _as_multiline(self, name: str) -> str:
        info = Part.parse(name)
        if info.multiline:
            return name
        renamed = part_name(info.delivery_id, info.part, info.line_offset, True)
        os.replace(self.tmp_dir / name, self.tmp_dir / renamed)
        return renamed

    def _write_part(
        self, src: Path, chunk: bytes, first_line: bytes, index: int, lines_before: int
    ) -> str:
        # part 0's lines are numbered from 1; a later part's line 0 is the copied first line
        offset = 0 if index == 0 else lines_before - 1
        multiline = records.has_multiline_record(chunk)
        name = part_name(src.stem, index, offset, multiline)
        target = self.tmp_dir / name
        if index == 0 and len(chunk) == src.stat().st_size:
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
        self.finish(completed)

    def finish(self, delivery_ids: list[str]) -> None:
        """Archive (or delete) the originals of loaded deliveries; forget them."""
        for delivery_id in delivery_ids:
            sidecar = _read_json(self._sidecar(delivery_id))
            src = self._src(delivery_id)
            if os.path.lexists(src):
                if self.processed == "delete" or sidecar is None:
                    src.unlink()
                else:
                    _move(src, self.archive_dir, sidecar["name"])
            for part in self.released(delivery_id):
                part.unlink()
            self._forget(delivery_id)

    def _quarantine(self, delivery_id: str, name: str, reason: str) -> None:
        target = _move(self._src(delivery_id), self.quarantine_dir, name)
        self._forget(delivery_id)
        self.quarantined += 1
        log.warning("quarantined the file %s (%s): %s", display_name(name), reason, target)

    def _forget(self, delivery_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._sidecar(delivery_id).unlink()
        self._unfinished.discard(delivery_id)

    # -- recovery -------------------------------------------------------------------

    def recover(self) -> None:
        """After a restart: carry every claimed delivery forward; drop committed parts."""
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
        for stale in self.tmp_dir.iterdir():
            stale.unlink()

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

    def _register(self, delivery_id, name, size, digest, modified_at, parts, reason) -> None:
        status = "quarantined" if reason else ("loaded" if parts == 0 else "claimed")
        rows = 0 if status == "loaded" else None
        with self._db().cursor() as cur:
            cur.execute(
                "insert into raw.ingestion_files (delivery_id, source_file, size_bytes, sha256, "
                "modified_at, parts, status, reason, rows_in, rows_loaded, rows_rejected, "
                "completed_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "case when %s <> 'claimed' then clock_timestamp() end) "
                "on conflict (delivery_id) do nothing",
                (
                    delivery_id,
                    display_name(name),
                    size,
                    digest,
                    modified_at,
                    parts,
                    status,
                    reason,
                    rows,
                    rows,
                    rows,
                    status,
                ),
            )

    # -- paths ----------------------------------------------------------------------

    def part_path(self, name: str) -> Path:
        """Where a released part lives: by its name's multi-line flag."""
        info = Part.parse(name)
        return (self.multiline_dir if info and info.multiline else self.plain_dir) / name

    def released(self, delivery_id: str = "") -> list[Path]:
        """The released parts (of one delivery, or all)."""
        pattern = f"{delivery_id}.*.csv" if delivery_id else "*.csv"
        return [*self.plain_dir.glob(pattern), *self.multiline_dir.glob(pattern)]

    def _sidecar(self, delivery_id: str) -> Path:
        return self.claimed_dir / f"{delivery_id}.json"

    def _src(self, delivery_id: str) -> Path:
        return self.claimed_dir / f"{delivery_id}.src"


class _Unreadable(Exception):
    """The claimed file cannot be read (the message says why): it is quarantined."""


def _reader(source):
    def read(size: int) -> bytes:
        try:
            return source.read(size)
        except OSError as exc:
            raise _Unreadable(exc.strerror or str(exc)) from exc

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
    """Move ``path`` into ``folder`` as ``name``, or ``name.1.csv`` etc. if taken."""
    folder.mkdir(parents=True, exist_ok=True)
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    target = folder / name
    counter = 1
    while os.path.lexists(target):
        target = folder / (f"{stem}.{counter}.{suffix}" if dot else f"{name}.{counter}")
        counter += 1
    try:
        os.rename(path, target)
    except OSError:  # another file system
        shutil.move(path, target)
    return target


def _one_line(exc: BaseException) -> str:
    return errors.first_line(exc)
