"""The intake's files on disk: moving a delivery into the archive or quarantine
folder, the archive's retention, and the JSON sidecars that carry a claim over a
restart."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

from ingestion.parts import display_name

log = logging.getLogger("ingestion.intake")


def write_json(path: Path, value: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def move(path: Path, folder: Path, name: str) -> Path:
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
        except FileNotFoundError:  # its folder was just swept away as empty (sweep)
            if attempt == 2 or not os.path.lexists(path):
                raise
            target.parent.mkdir(parents=True, exist_ok=True)
            continue
        except OSError:  # another file system
            shutil.move(path, target)
        return target
    return target


def sweep(folder: Path, days: float, now: float | None = None) -> int:
    """Delete the files in ``folder`` archived more than ``days`` ago, by when they were
    archived (the inode's change time: a rename sets it, whatever the file's own mtime),
    and the subfolders that leaves empty. Returns how many files it deleted."""
    cutoff = (time.time() if now is None else now) - days * 86400
    deleted = 0
    for root, _dirs, names in os.walk(folder, topdown=False):
        for name in names:
            path = os.path.join(root, name)
            try:
                if os.lstat(path).st_ctime < cutoff:
                    os.unlink(path)
                    deleted += 1
            except FileNotFoundError:
                continue
        if root != str(folder):
            with contextlib.suppress(OSError):  # not empty: kept
                os.rmdir(root)
    if deleted:
        log.info(
            "archive: deleted %d file%s archived more than %g days ago (--archive-days)",
            deleted,
            "" if deleted == 1 else "s",
            days,
        )
    return deleted


def in_flight(checkpoint_dir: Path) -> list[str]:
    """The names (as given) of the files a job with this checkpoint claimed and has not
    loaded yet: they left the inputs folder and wait in the checkpoint's intake/."""
    names = []
    for sidecar in sorted((checkpoint_dir / "intake" / "claimed").glob("*.json")):
        value = read_json(sidecar)
        if value is not None:
            names.append(display_name(value["name"]))
    return names
