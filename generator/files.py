"""The output folder: file names, and the atomic hand-off to the stream.

Spark reads a file as soon as it appears under a name it watches, and a file
it has read half of is never read again. So a file is written under a hidden
temporary name in the output folder itself (same filesystem), flushed and
fsynced, and only then renamed to its final ``*.csv`` name: ``os.rename`` is
atomic, so a reader sees the whole file or nothing. The folder is fsynced too,
so the rename is durable before the manifest records the file. If writing
fails or is interrupted, the temporary file is removed.

Names sort in creation order and are unique across runs:
``events-<UTC yyyymmddTHHMMSS>-<run id>-<seq:06d>.csv``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path

from pipeline.settings import SettingsError


class OutputError(SettingsError):
    """The output folder or the manifest cannot be written; the message says which and why."""


def new_run_id() -> str:
    """A random id for this run, part of every file name (never derived from the seed)."""
    return secrets.token_hex(4)


def tmp_name(name: str) -> str:
    """The hidden name a file is written under: Spark and ``*.csv`` globs skip it."""
    return f".{name}.tmp"


def ensure_writable_dir(path: Path, what: str, fix: str) -> None:
    """Create ``path`` if needed and prove that files can be created in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{secrets.token_hex(4)}.tmp"
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise OutputError(f"cannot write to the {what} {path}: {reason}; {fix}") from exc


class Outbox:
    """Publishes files into one output folder, atomically, under sortable unique names."""

    def __init__(self, directory: Path, run_id: str | None = None) -> None:
        self.directory = Path(directory)
        self.run_id = run_id or new_run_id()
        self.sequence = 0
        self._last_stamp = ""
        ensure_writable_dir(
            self.directory, "output folder", "pick another --output-dir or set ECOM_INPUT_DIR"
        )

    def next_name(self) -> str:
        self.sequence += 1
        # Never earlier than the previous file's, even if the wall clock steps back.
        stamp = max(time.strftime("%Y%m%dT%H%M%S", time.gmtime()), self._last_stamp)
        self._last_stamp = stamp
        return f"events-{stamp}-{self.run_id}-{self.sequence:06d}.csv"

    def publish(self, data: bytes) -> str:
        """Write ``data`` as the next file; return its name once it is visible, complete."""
        name = self.next_name()
        final = self.directory / name
        tmp = self.directory / tmp_name(name)
        try:
            with open(tmp, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(tmp, final)
            _fsync_dir(self.directory)  # the rename itself survives a crash, as the manifest will
        except BaseException as exc:  # also KeyboardInterrupt: never leave a tmp behind
            with contextlib.suppress(OSError):
                tmp.unlink()
            if isinstance(exc, OSError):
                reason = exc.strerror or exc.__class__.__name__
                raise OutputError(f"cannot write {final}: {reason}") from exc
            raise
        return name


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
