"""python -m generator as a user runs it: signals, exit codes, one-line errors."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator import manifest
from pipeline import contract

REPO_ROOT = Path(__file__).resolve().parents[2]


def _generator(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "generator", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_continuous_mode_stops_cleanly_on_a_signal(tmp_path, signum):
    output_dir, manifest_path = tmp_path / "inputs", tmp_path / "manifest.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "generator", "--rate", "20000", "--interval", "0.2"]
        + ["--rows-per-file", "1500", "--output-dir", str(output_dir)]
        + ["--manifest", str(manifest_path), "--bad-rate", "0.01"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        started = time.monotonic()
        while time.monotonic() - started < 2 or len(manifest.read(manifest_path)) < 2:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() - started < 30, "no files after 30 s"
            time.sleep(0.1)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0, stderr
    assert "stopped:" in stderr
    entries = {e["file"]: e for e in manifest.read(manifest_path)}
    names = {p.name for p in output_dir.iterdir()}
    assert names == set(entries)  # only complete files, each in the manifest, no tmp
    for name, entry in entries.items():
        data = (output_dir / name).read_bytes()
        assert data.startswith(contract.CSV_HEADER.encode() + b"\n") and data.endswith(b"\n")
        assert data.count(b"\n") - 1 == entry["rows"]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]


def test_batch_mode_is_reproducible_across_processes(tmp_path):
    contents = []
    for name in ("a", "b"):
        result = _generator(
            "--files", "3", "--rows-per-file", "400", "--seed", "9", "--bad-rate", "0.05",
            "--output-dir", str(tmp_path / name), "--manifest", str(tmp_path / f"{name}.jsonl"),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "--seed 9" in result.stderr  # the seed is printed
        assert "done: 3 files, 1200 rows = 1200 events (" in result.stderr  # and a summary
        assert "+ 0 duplicates, in " in result.stderr
        entries = manifest.read(tmp_path / f"{name}.jsonl")
        assert [e["rows"] for e in entries] == [400, 400, 400]
        contents.append([(tmp_path / name / e["file"]).read_bytes() for e in entries])
    assert contents[0] == contents[1]  # Faker, random and hashing all seeded
    first_event = contents[0][0].decode().split("\n")[1]
    assert "2026-11-01T00:00:00" in first_event  # a seeded batch starts at the fixed time


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "-5"], "argument --rate: must be > 0"),
        (["--events", "ten"], "argument --events: expected a whole number"),
        (["--bad-rate", "1.5"], "argument --bad-rate: must be between 0 and 1"),
        (["--events", "5", "--files", "1"], "not allowed with argument"),
        (["--start-time", "yesterday"], "expected an ISO-8601 time"),
        (["--duplicate-rate", "2"], "argument --duplicate-rate: must be between 0 and 1"),
    ],
)
def test_bad_arguments_end_in_one_line(tmp_path, args, message):
    result = _generator(
        *args, "--output-dir", str(tmp_path / "in"), "--manifest", str(tmp_path / "m.jsonl")
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "in").exists() or not list((tmp_path / "in").iterdir())


def test_an_unwritable_output_folder_is_one_line(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = _generator(
        "--events", "10", "--quiet",
        "--output-dir", str(blocker / "in"), "--manifest", str(tmp_path / "m.jsonl"),
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("python -m generator: error: cannot write to the output folder")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_help_shows_modes_and_examples():
    result = _generator("--help")
    assert result.returncode == 0
    for text in ("--events", "--rate", "--bad-rate", "examples:", "--seed 7"):
        assert text in result.stdout
