"""State that would grow with every file ever ingested stays bounded (ingestion.source)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from ingestion import parts
from ingestion.intake import Intake
from pipeline import contract
from tests.support.streaming import Folders, ingest_once, query, reset_raw, start_stream

HEADER = ",".join(contract.FIELD_NAMES)


def _line(i: int) -> str:
    return (
        f"{i:08d}-0000-4000-8000-000000000000,view,{i + 1},User {i},{i % 7 + 1},Desk,Office,"
        f"1.50,1,2026-11-25T10:00:00Z,s{i}"
    )


def _spark_state(checkpoint: Path) -> list[Path]:
    """The checkpoint's files, without the intake's folder (files in flight)."""
    return [
        Path(root) / name
        for root, _dirs, files in os.walk(checkpoint)
        if Path(root).relative_to(checkpoint).parts[:1] != ("intake",)
        for name in files
    ]


def test_the_checkpoint_stays_bounded_over_thousands_of_files(warehouse, tmp_path):
    """2,000 files in 40 batches: Spark keeps the offsets of its last batches
    (minBatchesToRetain, 100 by default, 20 here), a few hundred bytes each, and no list
    of the files (the file source's log would hold all 2,000, in a compact file of all)."""
    reset_raw()
    folders = Folders(tmp_path)
    folders.inputs.mkdir(parents=True)
    files, retain = 2000, 20
    for i in range(files):
        (folders.inputs / f"f{i:05d}.csv").write_text(f"{HEADER}\n{_line(i)}\n")
    result = ingest_once(
        folders,
        "--max-files-per-trigger",
        "50",
        "--processed",
        "delete",
        "--conf",
        f"spark.sql.streaming.minBatchesToRetain={retain}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert query("select count(*), count(distinct event_id) from raw.ecommerce_events") == [
        (files, files)
    ]
    assert query("select count(*) from raw.ingestion_batches") == [(files // 50,)]
    state = _spark_state(folders.checkpoint)
    offsets = [path for path in state if path.parent == folders.checkpoint / "offsets"]
    offsets = [path for path in offsets if not path.name.startswith(".")]  # Hadoop's .crc files
    size = sum(path.stat().st_size for path in state)
    biggest = max(state, key=lambda path: path.stat().st_size)
    print(f"{len(state)} files, {size:,} bytes; the biggest, {biggest}: {biggest.stat().st_size}")
    assert len(offsets) <= retain + 1  # and the batch in hand
    assert biggest.stat().st_size < 2000, biggest
    assert size < 60_000
    assert not any(name in path.read_bytes() for path in state for name in (b"f00000", b"f01999"))


def test_a_checkpoint_of_the_release_before_is_taken_over(warehouse, tmp_path):
    """Spark's file-source state is dropped; a part it had not committed, named as the release
    before named parts (no sequence), is read and loaded once."""
    reset_raw()
    folders = Folders(tmp_path)
    folders.inputs.mkdir(parents=True)
    (folders.inputs / "late.csv").write_text(f"{HEADER}\n{_line(1)}\n{_line(2)}\n")
    work = folders.checkpoint / "intake"
    held = Intake(folders.inputs, work, folders.archive, folders.quarantine, settle_seconds=0)
    held.drain()  # claimed, registered, released: then the job "crashed"
    held.close()
    (part,) = held.released()
    unnumbered = part.with_name(part.name.split(".", 1)[1])
    part.rename(unnumbered)
    (work / "sequence").unlink()
    # what Spark 4's file source left in the checkpoint of the release before
    (folders.checkpoint / "metadata").write_text(json.dumps({"id": "0f" * 16}) + "\n")
    (folders.checkpoint / "ecom_input_dir").write_text(f"{folders.inputs.resolve()}\n")
    for folder, text in (
        ("offsets", 'v1\n{"batchWatermarkMs":0,"batchTimestampMs":0}\n{"logOffset":0}\n'),
        ("commits", 'v1\n{"nextBatchWatermarkMs":0}\n'),
        ("sources/0", 'v1\n{"path":"file:///elsewhere/x.csv","timestamp":0,"batchId":0}\n'),
    ):
        (folders.checkpoint / folder).mkdir(parents=True)
        (folders.checkpoint / folder / "0").write_text(text)

    result = ingest_once(folders)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "held Spark's file-source state of a release before" in result.stderr
    assert query("select count(*) from raw.ecommerce_events") == [(2,)]
    assert query("select status, rows_loaded from raw.ingestion_files") == [("loaded", 2)]
    assert not (folders.checkpoint / "sources" / "0" / "0").exists()
    assert not list((work / "parts").rglob("*.csv"))

    (folders.inputs / "next.csv").write_text(f"{HEADER}\n{_line(3)}\n")
    result = ingest_once(folders)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "release before" not in result.stderr
    assert query("select count(*) from raw.ecommerce_events") == [(3,)]


def test_the_sequence_never_goes_back(tmp_path):
    path = tmp_path / "sequence"
    first = parts.Sequence(path)
    names = [first.name(f"p{i}.csv") for i in range(3)]
    assert [parts.sequence_of(name) for name in names] == [0, 1, 2]
    again = parts.Sequence(path)  # a restart (or a crash) skips the reserved block
    assert parts.sequence_of(again.name("q.csv")) == parts.Sequence.BLOCK


def test_a_part_numbered_below_sparks_offset_is_still_read(warehouse, tmp_path):
    """The sequence's file lost (say, restored from an old backup): a part numbered at or
    below what Spark has read past would wait for ever; the restart numbers it again."""
    reset_raw()
    folders = Folders(tmp_path)
    folders.inputs.mkdir(parents=True)
    for i in range(3):
        (folders.inputs / f"first{i}.csv").write_text(f"{HEADER}\n{_line(i)}\n")
    result = ingest_once(folders, "--max-files-per-trigger", "1")  # offsets 0, 1, 2 read
    assert result.returncode == 0, result.stderr[-3000:]
    work = folders.checkpoint / "intake"
    (work / "sequence").unlink()
    (folders.inputs / "late.csv").write_text(f"{HEADER}\n{_line(7)}\n")
    held = Intake(folders.inputs, work, folders.archive, folders.quarantine, settle_seconds=0)
    held.drain()
    held.close()
    (part,) = held.released()
    assert parts.sequence_of(part.name) == 0  # at or below Spark's offset
    result = ingest_once(folders)
    assert result.returncode == 0, result.stderr[-3000:]
    assert query("select count(*) from raw.ecommerce_events") == [(4,)]
    assert query("select count(*) from raw.ingestion_files where status = 'loaded'") == [(4,)]


def test_a_second_job_on_the_same_checkpoint_stops_at_once(warehouse, tmp_path):
    folders = Folders(tmp_path)
    folders.inputs.mkdir(parents=True)
    first = start_stream(folders, log_path=tmp_path / "first.log")
    try:
        lock = folders.checkpoint / "lock"
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.read_text().strip() == str(first.pid)):
            assert time.monotonic() < deadline and first.poll() is None, "the first job's lock"
            time.sleep(0.2)
        second = ingest_once(folders)
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "is in use by another job" in lines[0], second.stderr
        assert str(first.pid) in lines[0]
    finally:
        os.killpg(first.pid, signal.SIGINT)
        first.wait(timeout=120)
