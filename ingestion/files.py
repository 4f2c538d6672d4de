"""What happens to an input file once its batch is committed: archived, deleted or kept."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


class ProcessedFiles:
    """Moves (archive), removes (delete) or leaves (keep) files of committed batches.

    It runs after the database commit, so a crash in between leaves a file in
    place; the replayed batch is then skipped by the ledger and the file is
    handled again. Files already gone are fine.
    """

    def __init__(self, mode: str, input_dir: Path, archive_dir: Path) -> None:
        if mode not in ("archive", "delete", "keep"):
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.input_dir = input_dir
        self.archive_dir = archive_dir
        if mode == "archive":
            archive_dir.mkdir(parents=True, exist_ok=True)

    def __call__(self, names: list[str]) -> None:
        """Handle the files ``names`` (file names in the inputs folder)."""
        if self.mode == "keep":
            return
        for name in names:
            self._handle(self.input_dir / name)
        self.sweep_empty()

    def _handle(self, path: Path) -> None:
        try:
            if self.mode == "delete":
                path.unlink()
            else:
                os.replace(path, self._archive_target(path))
        except FileNotFoundError:
            pass
        except OSError as exc:  # never fail a committed batch over housekeeping
            log.warning("could not %s %s: %s", self.mode, path, exc)

    def sweep_empty(self) -> None:
        """Handle zero-byte ``*.csv`` files too: Spark yields no row for them, so no
        batch ever names them, and they hold no data to lose."""
        if self.mode == "keep" or not self.input_dir.is_dir():
            return
        empty = []
        with os.scandir(self.input_dir) as entries:
            for entry in entries:
                if entry.name.endswith(".csv") and entry.is_file() and entry.stat().st_size == 0:
                    empty.append(entry.name)
        for name in empty:
            log.info("empty input file %s (no rows): %s", name, self.mode)
            self._handle(self.input_dir / name)

    def _archive_target(self, path: Path) -> Path:
        target = self.archive_dir / path.name
        counter = 1
        while target.exists():
            target = self.archive_dir / f"{path.stem}.{counter}{path.suffix}"
            counter += 1
        return target
