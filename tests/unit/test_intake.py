"""The intake's pure pieces: names, parts, sniffing, who holds a file open (no services)."""

from __future__ import annotations

import gzip
import os
import sys
import time

import pytest

from ingestion import inspection, intake, parts, watcher


@pytest.mark.parametrize(
    ("name", "taken"),
    [
        ("events.csv", True),
        ("EXPORT.CSV", True),
        ("events-2026-11-25T12:00:00Z.csv", True),
        (".events.csv.Xa12", False),  # rsync's temporary file
        (".hidden.csv", False),
        ("events.csv.tmp", False),
        ("notes.txt", False),
    ],
)
def test_input_names(name, taken):
    assert watcher.is_input_name(name) is taken


def test_a_part_name_round_trips():
    delivery = parts.new_delivery_id()
    name = parts.part_name(delivery, 3, 120345, True)
    assert parts.Part.parse(name) == parts.Part(delivery, 3, 120345, True)
    assert parts.Part.parse("events.csv") is None


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (gzip.compress(b"event_id\n"), "gzip"),
        ("event_id,x\n".encode("utf-16"), "UTF-16"),
        (b"PK\x03\x04rest", "zip"),
        (b"\x00" * 100 + b"abc", "binary"),
    ],
)
def test_files_that_are_not_csv_text(head, reason):
    assert reason in inspection.sniff(head)


def test_csv_text_with_a_stray_nul_is_left_to_the_line_checks():
    assert inspection.sniff(b"event_id,a\n" * 100 + b"bad\x00line\n") is None
    assert inspection.sniff(b"") is None


def test_names_that_are_not_utf8_are_shown_escaped():
    assert parts.display_name(os.fsdecode(b"caf\xe9.csv")) == "caf\\xe9.csv"
    assert parts.display_name("café.csv") == "café.csv"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_a_file_held_open_for_writing_is_seen(tmp_path):
    path = tmp_path / "held.csv"
    with open(path, "w") as out:
        out.write("x" * 1000)  # a position past 7: fdinfo's first line is pos, not flags
        out.flush()
        assert str(path.resolve()) in watcher.paths_open_for_writing(tmp_path)
    assert str(path.resolve()) not in watcher.paths_open_for_writing(tmp_path)
    with open(path) as reader:
        reader.read()
        assert str(path.resolve()) not in watcher.paths_open_for_writing(tmp_path)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_local_file_system():
    from pathlib import Path

    assert watcher.local_file_system(Path("/proc/self")) is False  # proc: not where files land
    if Path("/dev/shm").is_dir():
        assert watcher.local_file_system(Path("/dev/shm")) is True  # tmpfs


def test_a_released_part_name_carries_its_sequence(tmp_path):
    sequence = parts.Sequence(tmp_path / "sequence")
    plain = parts.part_name("20261125T120000-0a1b2c3d", 2, 40, False)
    released = sequence.name(plain)
    assert parts.sequence_of(released) == 0 and parts.sequence_of(plain) is None
    assert parts.Part.parse(released) == parts.Part.parse(plain)
    assert parts.sequence_of(sequence.name(plain)) == 1


def test_the_archive_keeps_its_files_for_the_retention(tmp_path):
    held = intake.Intake(
        tmp_path / "in", tmp_path / "work", tmp_path / "archive", tmp_path / "q", archive_days=7
    )
    (tmp_path / "archive" / "2026" / "11").mkdir(parents=True)
    (tmp_path / "archive" / "2026" / "11" / "a.csv").write_text("x")
    (tmp_path / "archive" / "b.csv").write_text("x")
    os.utime(tmp_path / "archive" / "b.csv", (0, 0))  # an old file, archived just now
    assert held.sweep_archive() == 0
    assert held.sweep_archive(now=time.time() + 6.9 * 86400) == 0
    assert held.sweep_archive(now=time.time() + 7.1 * 86400) == 2
    assert list((tmp_path / "archive").iterdir()) == []  # the emptied subfolders too
    forever = intake.Intake(
        tmp_path / "in", tmp_path / "work", tmp_path / "archive", tmp_path / "q", archive_days=0
    )
    (tmp_path / "archive" / "c.csv").write_text("x")
    assert forever.sweep_archive(now=time.time() + 3650 * 86400) == 0
