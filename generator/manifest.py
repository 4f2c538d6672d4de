"""The manifest: one JSON object per published file, the ground truth for reconciliation.

A line is appended only after its file was renamed into the output folder::

    {"file": "events-...-000001.csv", "rows": 10000, "bad_rows": 12,
     "duplicate_rows": 5, "sha256": "...", "seed": 7, "created_at": "2026-11-25T10:15:03.123Z"}

``rows`` counts the data lines (after the header), bad and duplicate ones
included: for every file, rows = rows loaded + rows quarantined by the
ingestion, and bad_rows = rows quarantined. Duplicates are re-sent on top of
the events, so over a run, rows = events asked for + duplicate_rows. The manifest lives outside the output folder, so the stream never
reads it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from generator.files import OutputError, ensure_writable_dir

log = logging.getLogger(__name__)


class ManifestWriter:
    """Appends manifest entries, one line each, flushed and fsynced."""

    def __init__(self, path: Path, output_dir: Path | None = None) -> None:
        self.path = Path(path)
        if output_dir is not None and _inside(self.path, Path(output_dir)):
            raise OutputError(
                f"the manifest {self.path} is inside the output folder {output_dir}, where the "
                "stream would read it; pick a --manifest outside it"
            )
        ensure_writable_dir(self.path.parent, "manifest folder", "pick another --manifest")
        try:
            with open(self.path, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise OutputError(f"cannot append to the manifest {self.path}: {exc.strerror}") from exc

    def append(self, entry: dict) -> None:
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        try:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)  # one write: O_APPEND keeps concurrent writers' lines whole
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise OutputError(f"cannot append to the manifest {self.path}: {exc.strerror}") from exc


def entry(
    file: str,
    rows: int,
    bad_rows: int,
    duplicate_rows: int,
    sha256: str,
    seed: int,
    created_at: str,
) -> dict:
    """A manifest entry, its keys in the documented order."""
    return {
        "file": file,
        "rows": rows,
        "bad_rows": bad_rows,
        "duplicate_rows": duplicate_rows,
        "sha256": sha256,
        "seed": seed,
        "created_at": created_at,
    }


def read(path: Path | str) -> list[dict]:
    """All entries of the manifest at ``path``, in order ([] if there is none yet).

    A last line cut short by a crash (no newline, not JSON) is skipped with a
    warning; a broken line anywhere else is an error.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    entries: list[dict] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if number == len(lines):  # the unterminated last line
                log.warning("%s: skipping an incomplete last line", path)
                continue
            raise ValueError(f"{path}:{number}: not a manifest entry: {exc}") from exc
    return entries


class Tail:
    """Follows a manifest as it grows: the entries appended since the last read, complete
    lines only (a line being written is read next time). Starts at the manifest's end."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def new_entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        return [json.loads(line) for line in complete.splitlines() if line.strip()]


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True
