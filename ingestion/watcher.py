"""The watcher: which files in the inputs folder the job takes, and when each is complete.

A file renamed into the folder, or closed by its writer, is complete at once (Linux
inotify: IN_MOVED_TO, IN_CLOSE_WRITE). One inotify saw being written is waited on until
it is closed (or has settled and no process holds it open for writing: a hard link, say).
A file the kernel said nothing about (there before the job started) is complete if no
process holds it open for writing, on a local file system; on a network mount, or
without inotify (macOS, other systems), once its size and mtime have not changed for
``settle_seconds``. Hidden and ``_``-prefixed names are left alone; other names that are
not CSV files are listed as ignored, with the reason.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from ingestion.parts import display_name

log = logging.getLogger(__name__)

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


class Watcher:
    """Which files in the inputs folder are complete (see the module's docstring)."""

    def __init__(self, input_dir: Path, settle_seconds: float) -> None:
        self.input_dir = input_dir
        self.settle_seconds = settle_seconds
        self._seen: dict[str, _Seen] = {}
        self._ignored: dict[str, str] = {}  # relative name -> why it is not taken
        self._refused: dict[str, tuple[int, int]] = {}  # name -> (size, mtime) when refused
        self._inotify: _Inotify | None = None
        self._local = False
        self._writers: set[str] | None = None

    def start(self) -> None:
        """Ask the kernel for word of the folder (inotify), where it can tell."""
        self._inotify = _Inotify.create(self.input_dir)
        # Where the kernel sees every writer, a file nobody holds open is complete.
        self._local = self._inotify is not None and local_file_system(self.input_dir)

    def refuse(self, name: str, exc: OSError) -> None:
        """Leave a file the intake cannot take (it is tried again once it changes)."""
        seen = self._seen.pop(name, None)
        if seen is not None:
            self._refused[name] = (seen.size, seen.mtime_ns)
        log.warning("cannot take %s from the inputs folder: %s; left there", name, exc)

    def waiting(self) -> int:
        """Files in the inputs folder not claimed yet."""
        return len(self._seen)

    def heard(self, name: str, what: str) -> None:
        """What the kernel said of ``name``: complete | writing | gone | folder | overflow."""
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

    def complete_names(self) -> list[str]:
        """The files complete now, oldest first; the folder listed once."""
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

    def listen(self, wait: float) -> None:
        """Take what the kernel said, waiting up to ``wait`` s for it (or just wait)."""
        if self._inotify is not None:
            for name, what in self._inotify.read(wait):
                self.heard(name, what)
        elif wait:
            time.sleep(wait)

    def taken(self, name: str) -> None:
        """``name`` left the folder (claimed, or gone before it could be)."""
        self._seen.pop(name, None)

    def close(self) -> None:
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
