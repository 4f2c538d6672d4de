"""The streaming job end to end: real generator files, real Spark, real PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline import contract
from tests.support.streaming import (
    Folders,
    expected_from_files,
    generate,
    ingest_once,
    loaded_event_ids,
    query,
    reset_raw,
)

pytestmark = pytest.mark.integration


def _manifest(folders: Folders) -> list[dict]:
    return [json.loads(line) for line in folders.manifest.read_text().splitlines() if line]


@pytest.fixture(scope="module")
def ingested(warehouse, tmp_path_factory):
    """A generated folder with bad rows and duplicates, ingested once with --once."""
    reset_raw()
    folders = Folders(tmp_path_factory.mktemp("once"))
    generate(
        folders,
        "--events",
        "30000",
        "--rows-per-file",
        "2500",
        "--seed",
        "11",
        "--bad-rate",
        "0.02",
        "--duplicate-rate",
        "0.03",
    )
    originals = folders.root / "originals"
    shutil.copytree(folders.inputs, originals)
    result = ingest_once(folders, "--max-files-per-trigger", "5")
    assert result.returncode == 0, result.stderr
    return folders, originals, result.stderr


def test_every_file_reconciles_with_its_manifest(ingested):
    folders, _, _ = ingested
    manifest = _manifest(folders)
    assert len(manifest) == 12
    loaded = dict(query("select source_file, count(*) from raw.ecommerce_events group by 1"))
    rejected = dict(
        query("select source_file, count(*) from raw.ecommerce_events_rejected group by 1")
    )
    for entry in manifest:
        name = entry["file"]
        assert loaded.get(name, 0) + rejected.get(name, 0) == entry["rows"], name
        assert rejected.get(name, 0) == entry["bad_rows"], name
    total = sum(entry["rows"] for entry in manifest)
    assert total == 30000 + sum(entry["duplicate_rows"] for entry in manifest)


def test_loaded_rows_are_exactly_the_valid_lines(ingested):
    _, originals, _ = ingested
    expected_ids, invalid = expected_from_files(sorted(originals.glob("*.csv")))
    assert invalid > 0 and sum(expected_ids.values()) > len(expected_ids), "faults were injected"
    assert loaded_event_ids() == expected_ids
    assert query("select count(*) from raw.ecommerce_events_rejected") == [(invalid,)]


def test_rejects_keep_the_original_line_and_a_known_reason(ingested):
    _, originals, _ = ingested
    lines = {
        (path.name, number): line
        for path in originals.glob("*.csv")
        for number, line in enumerate(path.read_text().split("\n"), start=1)
    }
    known = {
        contract.REASON_BAD_HEADER,
        contract.REASON_MALFORMED_ROW,
        contract.REASON_INVALID_ENCODING,
    }
    known |= {contract.reason_missing(f) for f in contract.FIELD_NAMES}
    known |= {contract.reason_invalid(f) for f in contract.FIELD_NAMES}
    rows = query(
        "select source_file, line_number, raw_line, reasons from raw.ecommerce_events_rejected"
    )
    assert rows
    for source_file, line_number, raw_line, reasons in rows:
        assert lines[(source_file, line_number)] == raw_line
        assert reasons == contract.validate_line(raw_line)
        assert set(reasons) <= known


def test_ledger_reconciles_and_lineage_is_complete(ingested):
    folders, _, _ = ingested
    batches = query(
        "select batch_id, cardinality(files), rows_in, rows_loaded, rows_rejected "
        "from raw.ingestion_batches order by batch_id"
    )
    assert [b[0] for b in batches] == list(range(len(batches)))
    assert len(batches) == 3  # 12 files, at most 5 per trigger
    assert sum(b[1] for b in batches) == 12
    assert sum(b[3] for b in batches) == query("select count(*) from raw.ecommerce_events")[0][0]
    assert query(
        "select count(*) from raw.ecommerce_events e left join raw.ingestion_batches b "
        "using (batch_id) where b.batch_id is null or e.source_file is null or e.ingested_at is null"
    ) == [(0,)]


def test_processed_files_are_archived(ingested):
    folders, originals, _ = ingested
    assert sorted(p.name for p in folders.inputs.glob("*.csv")) == []
    assert sorted(p.name for p in folders.archive.glob("*.csv")) == sorted(
        p.name for p in originals.glob("*.csv")
    )


def test_log_has_one_line_per_batch(ingested):
    _, _, log = ingested
    batch_lines = [line for line in log.splitlines() if "ingestion.sink: batch" in line]
    assert len(batch_lines) == 3
    assert all("rows in" in line and "rows/s" in line and "lag" in line for line in batch_lines)


def test_replay_after_the_database_commit_is_skipped(ingested):
    """Simulate a crash after the database commit, before Spark's commit marker."""
    folders, originals, _ = ingested
    before_events = query("select count(*) from raw.ecommerce_events")
    before_ledger = query(
        "select query_id, batch_id, rows_in from raw.ingestion_batches order by 2"
    )
    commits = folders.checkpoint / "commits"
    last = max(int(p.name) for p in commits.iterdir() if p.name.isdigit())
    (commits / str(last)).unlink()
    (commits / f".{last}.crc").unlink(missing_ok=True)
    # its files were archived after the commit; put them back as a crash before that would leave them
    for path in originals.glob("*.csv"):
        if not (folders.archive / path.name).exists():
            shutil.copy(path, folders.inputs / path.name)
    result = ingest_once(folders)
    assert result.returncode == 0, result.stderr
    assert f"batch {last}: already committed" in result.stderr
    assert query("select count(*) from raw.ecommerce_events") == before_events
    assert (
        query("select query_id, batch_id, rows_in from raw.ingestion_batches order by 2")
        == before_ledger
    )


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_bad_input_of_every_kind(warehouse, tmp_path):
    reset_raw()
    folders = Folders(tmp_path)
    folders.inputs.mkdir()
    header = contract.CSV_HEADER.encode()
    good = (
        "3f1c2b9e-5d4a-4e8f-9a7b-{:012d},view,1,Ada,7,Chair,furniture,19.99,1,"
        "2026-11-25T12:15:00+02:00,s1"
    )
    ids = iter(range(1, 1000))

    def row(**replace) -> bytes:
        line = good.format(next(ids))
        for old, new in replace.items():
            line = line.replace(old, new)
        return line.encode()

    files = {
        # mapped by name: the first row follows its header, the second the contract's order
        "reordered_header.csv": b"event_type,event_id"
        + header[len("event_id,event_type") :]
        + b"\n"
        + b"view,"
        + row().replace(b",view,", b",", 1)
        + b"\n"
        + row()
        + b"\n",
        "no_header.csv": row() + b"\n" + row() + b"\n",
        "empty.csv": b"",
        "header_only.csv": header + b"\n",
        "bom.csv": b"\xef\xbb\xbf" + header + b"\n" + row() + b"\n",
        "crlf.csv": header + b"\r\n" + row() + b"\r\n" + row() + b"\r\n",
        "quotes.csv": header
        + b"\n"
        + row(Chair='"Chair, with ""quotes"""')
        + b"\n"
        + row(Chair='"Chair')
        + b"\n"
        + b'next line", still the quoted field\n',
        "latin1.csv": header + b"\n" + row().replace(b"Ada", b"Ad\xe9") + b"\n" + row() + b"\n",
        "nul.csv": header + b"\n" + row(Ada="A\x00da") + b"\n",
        "huge_field.csv": header + b"\n" + row(Chair="C" * 2_000_000) + b"\n" + row() + b"\n",
        "offsets.csv": header + b"\n" + row() + b"\n" + row(**{"+02:00": "-05:30"}) + b"\n",
        "no_final_newline.csv": header + b"\n" + row(),
        "notes.txt": b"not a csv file: ignored by the *.csv filter\n",
    }
    for name, data in files.items():
        _write(folders.inputs / name, data)
    result = ingest_once(folders)
    assert result.returncode == 0, result.stderr

    loaded = Counter(
        dict(query("select source_file, count(*) from raw.ecommerce_events group by 1"))
    )
    rejected = {
        (name, line): reasons
        for name, line, reasons in query(
            "select source_file, line_number, reasons from raw.ecommerce_events_rejected"
        )
    }
    assert loaded == Counter(
        {
            "reordered_header.csv": 1,
            "bom.csv": 1,
            "crlf.csv": 2,
            "quotes.csv": 1,
            "latin1.csv": 1,
            "huge_field.csv": 1,
            "offsets.csv": 2,
            "no_final_newline.csv": 1,
        }
    )
    assert rejected == {
        ("reordered_header.csv", 3): ["invalid_event_id", "invalid_event_type"],
        ("no_header.csv", 1): ["bad_header"],
        ("no_header.csv", 2): ["bad_header"],
        ("quotes.csv", 3): ["malformed_csv_row"],
        ("quotes.csv", 4): ["malformed_csv_row"],
        ("latin1.csv", 2): ["invalid_encoding"],
        ("nul.csv", 2): ["invalid_encoding"],
        ("huge_field.csv", 2): ["invalid_product_name"],
    }
    times = sorted(
        t
        for (t,) in query(
            "select event_time from raw.ecommerce_events where source_file = 'offsets.csv'"
        )
    )
    assert times == [
        datetime(2026, 11, 25, 10, 15, tzinfo=UTC),
        datetime(2026, 11, 25, 17, 45, tzinfo=UTC),
    ]
    quoted = query("select product_name from raw.ecommerce_events where source_file = 'quotes.csv'")
    assert quoted == [('Chair, with "quotes"',)]
    assert (folders.inputs / "notes.txt").exists()
    assert sorted(p.name for p in folders.inputs.glob("*.csv")) == []


def test_a_checkpoint_is_not_reused_for_another_folder(ingested, tmp_path):
    folders, _, _ = ingested
    other = Folders(tmp_path)
    other.inputs.mkdir()
    result = ingest_once(
        other, "--checkpoint-dir", str(folders.checkpoint), "--archive-dir", str(tmp_path / "a")
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "belongs to the inputs folder" in last and str(folders.inputs.resolve()) in last
    assert "Traceback" not in result.stderr


def test_missing_java_is_one_clear_line(warehouse, tmp_path):
    folders = Folders(tmp_path)
    env = dict(os.environ, JAVA_HOME=str(tmp_path / "no-java"))
    result = ingest_once(folders, env=env)
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1].startswith("python -m ingestion: error: JAVA_HOME=")
    )
    assert "apt-get install openjdk-17-jre-headless" in result.stderr
    assert "Traceback" not in result.stderr
