"""The job's Spark checkpoint folder (not Great Expectations' checkpoints): one job per
checkpoint, one inputs folder per checkpoint, and the state a release before left in it."""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
from pathlib import Path

from pipeline.errors import UserError

log = logging.getLogger("ingestion.job")


class CheckpointError(UserError):
    """The checkpoint folder cannot be used as asked; the message says why and what to do."""


_LOCKS: list = []  # the open lock files of this process's checkpoints


def lock_checkpoint(checkpoint_dir: Path) -> None:
    """One job per checkpoint: a second one stops at once, with one line (an exclusive
    ``flock`` on ``<checkpoint>/lock``, held until the process exits)."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    handle = open(checkpoint_dir / "lock", "a+")  # noqa: SIM115 - held for the process
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise CheckpointError(
            f"the checkpoint {checkpoint_dir} is in use by another job (pid {holder}); "
            "stop it first, or give this one its own --checkpoint-dir and --input-dir"
        ) from exc
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    _LOCKS.append(handle)


def claim_checkpoint(checkpoint_dir: Path, input_dir: Path) -> None:
    """A checkpoint belongs to one inputs folder: refuse to mix them up, in one clear line."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    marker = checkpoint_dir / "ecom_input_dir"
    wanted = str(input_dir.resolve())
    if marker.exists():
        owner = marker.read_text().strip()
        if owner != wanted:
            raise CheckpointError(
                f"the checkpoint {checkpoint_dir} belongs to the inputs folder {owner}; "
                f"give {wanted} its own --checkpoint-dir (the checkpoint also holds the "
                "files in flight from that folder: do not delete it while the job has some)"
            )
    elif not (checkpoint_dir / "metadata").exists():  # a new checkpoint
        marker.write_text(wanted + "\n")
    if (checkpoint_dir / "metadata").exists() and not (checkpoint_dir / "intake").exists():
        # Written by a release before the intake: Spark read the inputs folder
        # itself. Every file it committed was archived, every other one is still
        # in the inputs folder, so a new checkpoint loses and doubles nothing.
        old = checkpoint_dir.with_name(f"{checkpoint_dir.name}.before-intake-{int(time.time())}")
        checkpoint_dir.rename(old)
        checkpoint_dir.mkdir()
        marker_text = f"{wanted}\n"
        (checkpoint_dir / "ecom_input_dir").write_text(marker_text)
        log.warning(
            "the checkpoint %s was written before the job claimed its files; moved to %s, "
            "and a new one started (files it had not committed are still in %s)",
            checkpoint_dir,
            old,
            input_dir,
        )


SOURCE_MARKER = "ecom_source"
SOURCE_KIND = "intake part sequence (ingestion.source)"
_SPARK_STATE = ("metadata", "offsets", "commits", "sources", "state", "multiline")


def claim_source(checkpoint_dir: Path) -> None:
    """Spark's state in the checkpoint is for the intake's part sequence (ingestion.source).

    A checkpoint of a release before read the parts with Spark's file source,
    whose offsets mean nothing here. That state is dropped (the intake's own
    state, ``intake/``, is kept): every part it committed is in the ledger and
    deleted, every other one is still in ``intake/parts`` and is read again
    (ingestion.sink leaves out a part the ledger already has)."""
    marker = checkpoint_dir / SOURCE_MARKER
    if marker.exists():
        return
    if (checkpoint_dir / "metadata").exists():
        for name in _SPARK_STATE:
            path = checkpoint_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        log.warning(
            "the checkpoint %s held Spark's file-source state of a release before; dropped it "
            "(the files in flight are kept and read again; nothing is lost or doubled)",
            checkpoint_dir,
        )
    marker.write_text(SOURCE_KIND + "\n")
