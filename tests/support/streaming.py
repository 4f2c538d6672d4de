"""Running the real generator and the real streaming job from tests, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline import contract, db

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Folders:
    """The folders of one ingestion run: inputs, checkpoint, archive, manifest."""

    root: Path

    @property
    def inputs(self) -> Path:
        return self.root / "inputs"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.jsonl"

    def ingestion_args(self) -> list[str]:
        return [
            "--input-dir",
            str(self.inputs),
            "--checkpoint-dir",
            str(self.checkpoint),
            "--archive-dir",
            str(self.archive),
            "--quarantine-dir",
            str(self.quarantine),
        ]


def python_module(module: str, *args: str, **kwargs) -> list[str]:
    return [sys.executable, "-m", module, *args]


def generate(folders: Folders, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        python_module(
            "generator",
            "--output-dir",
            str(folders.inputs),
            "--manifest",
            str(folders.manifest),
            "--quiet",
            *args,
        ),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


def ingest_once(
    folders: Folders, *args: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    """``python -m ingestion --once``; returns the finished process (stderr has the log)."""
    return subprocess.run(
        python_module("ingestion", "--once", *folders.ingestion_args(), *args),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env or dict(os.environ),
    )


def start_stream(folders: Folders, *args: str, log_path: Path) -> subprocess.Popen:
    """``python -m ingestion`` in the background, logging to ``log_path``."""
    log = log_path.open("ab")
    return subprocess.Popen(
        python_module("ingestion", *folders.ingestion_args(), *args),
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def query(statement: str, params: tuple = ()) -> list[tuple]:
    with db.connection(None) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall()


def reset_raw() -> None:
    with db.connection(None) as conn, conn.cursor() as cur:
        cur.execute(db.TRUNCATE_RAW)
        conn.commit()


def csv_data_lines(path: Path) -> list[str]:
    """The data lines of a generated file (header dropped), exactly as written."""
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[0] == contract.CSV_HEADER, path
    if lines[-1] == "":
        lines = lines[:-1]
    return lines[1:]


def expected_from_files(paths: list[Path]) -> tuple[Counter, int]:
    """(multiset of event_ids of the valid lines, number of invalid lines) of the files."""
    valid_ids: Counter = Counter()
    invalid = 0
    for path in paths:
        for line in csv_data_lines(path):
            if contract.validate_line(line):
                invalid += 1
            else:
                valid_ids[line.split(",", 1)[0].lower()] += 1
    return valid_ids, invalid


def loaded_event_ids() -> Counter:
    return Counter(str(row[0]) for row in query("select event_id from raw.ecommerce_events"))


# A running stream, as the module fixtures of the integration tests hold it:
# (folders, a folder outside the inputs for writing before a rename, process, log path).


def deliver(stream, name: str, content: str | bytes) -> Path:
    """Write ``content`` outside the inputs folder, then rename it in (atomic)."""
    folders, outside, _, _ = stream
    staging = outside / uuid.uuid4().hex
    data = content.encode() if isinstance(content, str) else content
    staging.write_bytes(data)
    target = folders.inputs / name
    target.parent.mkdir(parents=True, exist_ok=True)  # a date-partitioned layout
    os.rename(staging, target)
    return target


def wait_for(predicate, stream, what: str, timeout: float = 90.0):
    _, _, process, log_path = stream
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if process.poll() is not None:
            pytest.fail(f"the stream exited:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}:\n{log_path.read_text()[-3000:]}")


def deliveries(name: str) -> list[tuple]:
    return query(
        "select delivery_id, status, rows_in, rows_loaded, rows_rejected, reason, parts "
        "from raw.ingestion_files where source_file = %s order by claimed_at",
        (name,),
    )


def loaded_files(name: str, count: int = 1) -> list[tuple]:
    done = [d for d in deliveries(name) if d[1] in ("loaded", "quarantined")]
    return done if len(done) >= count else []
