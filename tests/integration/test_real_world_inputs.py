"""Files shaped as real users and tools make them, dropped into a continuously running stream.

One stream runs for the whole module (``python -m ingestion``, not ``--once``:
Spark's file tracking behaves differently across micro-batches), with a
settle time of 1 s and parts of 64 KiB, so that ordinary test files are cut
into several parts. Each test delivers files the way people do (a rename, a
plain copy written in two steps, an old mtime, the same name twice, RFC 4180
quoting, files that are not CSV text at all) and checks every row ends up
exactly once, loaded or quarantined, under the name as given.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import signal
import subprocess
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from ingestion import parts
from pipeline import contract, db
from tests.support.streaming import (
    Folders,
    deliver,
    deliveries,
    loaded_files,
    python_module,
    query,
    reset_raw,
    start_stream,
    wait_for,
)

pytestmark = pytest.mark.integration

PART_MB = str(64 / 1024)
NAMES = [
    "events-2026-11-25T12:00:00Z.csv",
    "spring sale 2026.csv",
    "100% real #1.csv",
    'it\'s "quoted".csv',
    "{braces} and [brackets].csv",
    "a,b,c.csv",
    "café ünïcödé 東京.csv",
]


def event(i: int, product_name: str = "Desk Lamp", **overrides: str) -> list[str]:
    values = {
        "event_id": str(uuid.uuid4()),
        "event_type": "view",
        "user_id": str(i + 1),
        "user_name": "Ada Lovelace",
        "product_id": str(i % 50 + 1),
        "product_name": product_name,
        "category": "Home",
        "price": "12.50",
        "quantity": "1",
        "event_time": "2026-11-25T10:15:00Z",
        "session_id": f"s-{i}",
    }
    values.update(overrides)
    return [values[name] for name in contract.FIELD_NAMES]


def csv_text(
    rows: list[list[str]], newline: str = "\n", delimiter: str = ",", extra: bool = False
) -> str:
    """The rows as CSV; with ``extra``, a column beyond the contract first ("note")."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline, delimiter=delimiter)
    writer.writerow(["note", *contract.FIELD_NAMES] if extra else contract.FIELD_NAMES)
    writer.writerows(
        [[f"n{i}\nsecond line", *row] for i, row in enumerate(rows)] if extra else rows
    )
    return buffer.getvalue()


@pytest.fixture(scope="module")
def stream(warehouse, tmp_path_factory):
    reset_raw()
    folders = Folders(tmp_path_factory.mktemp("real-world"))
    folders.inputs.mkdir(parents=True)
    outside = folders.root / "outside"  # where files are written before a rename
    outside.mkdir()
    log_path = folders.root / "stream.log"
    process = start_stream(
        folders, "--settle-seconds", "1", "--part-mb", PART_MB, log_path=log_path
    )
    yield folders, outside, process, log_path
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=120)


def test_any_legal_name_is_loaded_once_under_that_name(stream):
    folders = stream[0]
    rows = {name: [event(i) for i in range(300 + k)] for k, name in enumerate(NAMES)}
    for name, content in rows.items():
        deliver(stream, name, csv_text(content))
    for name, content in rows.items():
        (delivery,) = wait_for(lambda n=name: loaded_files(n), stream, name)
        assert delivery[1:5] == ("loaded", len(content), len(content), 0), name
        ids = query(
            "select event_id::text from raw.ecommerce_events where source_file = %s", (name,)
        )
        assert sorted(i for (i,) in ids) == sorted(r[0] for r in content), name
        assert (folders.archive / name).is_file(), f"{name} is archived under its name"
    assert not list(folders.inputs.iterdir())


@pytest.mark.parametrize("age_days", [-400, -30, 3650])
def test_any_modification_time_is_ingested(stream, age_days):
    name = f"backfill-{age_days}.csv"
    content = [event(i) for i in range(120)]
    _, outside, _, _ = stream
    staging = outside / name
    staging.write_text(csv_text(content))
    moment = time.time() + age_days * 86400
    os.utime(staging, (moment, moment))  # cp -p / rsync -t of an old (or future) export
    shutil.move(staging, stream[0].inputs / name)
    (delivery,) = wait_for(lambda: loaded_files(name), stream, name)
    assert delivery[1:4] == ("loaded", 120, 120)


def test_a_file_written_in_two_steps_is_read_once_whole(stream):
    folders = stream[0]
    name = "plain copy.csv"
    text = csv_text([event(i) for i in range(2000)])
    half = len(text) // 2
    with open(folders.inputs / name, "w") as out:  # straight into the folder, like cp
        out.write(text[:half])
        out.flush()
        time.sleep(3.0)  # longer than the settle time and many triggers
        assert not deliveries(name), "claimed while its writer still had it open"
        out.write(text[half:])
    (delivery,) = wait_for(lambda: loaded_files(name), stream, name)
    assert delivery[1:5] == ("loaded", 2000, 2000, 0)


def test_a_redelivered_name_is_a_new_delivery(stream):
    name = "daily-export.csv"
    first = [event(i) for i in range(50)]
    deliver(stream, name, csv_text(first))
    wait_for(lambda: loaded_files(name), stream, "first delivery")
    corrected = first[:40] + [event(i) for i in range(50, 60)]
    deliver(stream, name, csv_text(corrected))
    both = wait_for(lambda: loaded_files(name, 2), stream, "second delivery")
    assert [d[1:4] for d in both] == [("loaded", 50, 50), ("loaded", 50, 50)]
    assert both[0][0] != both[1][0]
    assert query("select count(*) from raw.ecommerce_events where source_file = %s", (name,)) == [
        (100,)
    ]
    archived = sorted(p.name for p in stream[0].archive.glob("daily-export*"))
    assert archived == ["daily-export.1.csv", "daily-export.csv"]


@pytest.mark.parametrize(
    ("newline", "delimiter", "extra"),
    [("\n", ",", False), ("\r\n", ",", False), ("\n", ";", True), ("\r\n", "\t", False)],
)
def test_rfc4180_records_are_one_row_with_their_exact_values(stream, newline, delimiter, extra):
    """Cut into parts between records, whatever the delimiter or number of columns."""
    names = [
        "Desk\nLamp",
        'The "Big" One',
        "Hall Dumbbell, Black",
        'multi\nline, with "quotes"\nand more',
        "plain",
        "crlf\r\ninside",
    ]
    rows = [event(i, product_name=names[i % len(names)]) for i in range(600)]
    rows.insert(300, event(999, price="-1"))  # one bad row after the multi-line ones
    name = f"rfc4180-{len(newline)}-{ord(delimiter)}-{extra}.csv"
    text = csv_text(rows, newline, delimiter, extra)
    deliver(stream, name, text)
    (delivery,) = wait_for(lambda: loaded_files(name), stream, name)
    assert delivery[1:5] == ("loaded", 601, 600, 1)
    assert delivery[6] > 1, "the file was cut into parts"
    loaded = dict(
        query(
            "select event_id::text, product_name from raw.ecommerce_events where source_file = %s",
            (name,),
        )
    )
    assert loaded == {r[0]: r[5] for r in rows if r[7] != "-1"}
    # the reject's line number is the (\n-ended) line its record starts on in the file
    lines = text.split("\n")
    bad = next(n for n, line in enumerate(lines, start=1) if f"{delimiter}-1{delimiter}" in line)
    if extra:  # its record starts a line earlier: the extra column's value holds a line break
        bad -= 1
    assert query(
        "select line_number, reasons from raw.ecommerce_events_rejected where source_file = %s",
        (name,),
    ) == [(bad, ["invalid_price"])]


def test_files_that_are_not_csv_text_are_quarantined_and_the_stream_goes_on(stream):
    folders = stream[0]
    text = csv_text([event(i) for i in range(20)])
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("events.csv", text)
    deliver(stream, "export.zip.csv", archive.getvalue())
    deliver(stream, "excel utf16.csv", text.encode("utf-16"))
    os.symlink(folders.root / "nowhere.csv", folders.inputs / "dangling.csv")
    bad_name = os.fsdecode(b"latin1-\xe9t\xe9.csv")
    deliver(stream, bad_name, text)
    expected = {
        "export.zip.csv": "a zip archive",
        "excel utf16.csv": "UTF-16",
        "dangling.csv": "a symbolic link",
        "latin1-\\xe9t\\xe9.csv": "not valid UTF-8",
    }
    for name, reason in expected.items():
        (delivery,) = wait_for(lambda n=name: loaded_files(n), stream, name)
        assert delivery[1] == "quarantined" and reason in delivery[5], (name, delivery)
    assert sorted(os.listdir(folders.quarantine)) == sorted(
        ["export.zip.csv", "excel utf16.csv", "dangling.csv", bad_name]
    )
    deliver(stream, "after the bad ones.csv", text)
    (delivery,) = wait_for(lambda: loaded_files("after the bad ones.csv"), stream, "next file")
    assert delivery[1:4] == ("loaded", 20, 20)
    mart_reasons = query(
        "select count(*) from raw.ingestion_files where status = 'quarantined' and reason <> ''"
    )
    assert mart_reasons == [(4,)]


def test_every_row_of_every_delivery_reconciles(stream):
    """The file ledger against raw, delivery by delivery (what the raw checkpoint checks)."""
    mismatches = query(
        """
        select files.delivery_id, files.source_file
        from raw.ingestion_files as files
        left join (select delivery_id, count(*) as n from raw.ecommerce_events
                   group by delivery_id) as events using (delivery_id)
        left join (select delivery_id, count(*) as n from raw.ecommerce_events_rejected
                   group by delivery_id) as rejects using (delivery_id)
        where files.status = 'loaded'
          and (files.rows_loaded <> coalesce(events.n, 0)
               or files.rows_rejected <> coalesce(rejects.n, 0))
        """
    )
    assert mismatches == []
    assert query("select count(*) from raw.ingestion_files where status = 'claimed'") == [(0,)]


def test_when_the_job_stops_its_last_line_names_the_cause(warehouse, tmp_path):
    """A batch that cannot commit (the loader lost a grant) stops the job with that cause."""
    folders = Folders(tmp_path)
    folders.inputs.mkdir(parents=True)
    (folders.inputs / "orders 2026-11-25T12:00:00Z.csv").write_text(
        csv_text([event(i) for i in range(10)])
    )
    with db.connection(None) as conn, conn.cursor() as cur:
        cur.execute("revoke insert on raw.ingestion_file_parts from ecom_loader")
        conn.commit()
    try:
        result = subprocess.run(
            [
                *python_module("ingestion", "--once"),
                *folders.ingestion_args(),
                "--db-retry-seconds",
                "0",
            ],
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        with db.connection(None) as conn, conn.cursor() as cur:
            cur.execute("grant insert on raw.ingestion_file_parts to ecom_loader")
            conn.commit()
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "permission denied for table ingestion_file_parts" in last, last
    assert "orders 2026-11-25T12:00:00Z.csv" in last, last
    assert "Python Proxy" not in last and "Traceback" not in last, last


def test_once_waits_for_a_file_still_open_for_writing(warehouse, tmp_path):
    """A file already there when the job starts, its writer still busy: read only when done."""
    folders = Folders(tmp_path)
    folders.inputs.mkdir(parents=True)
    name = "still being written.csv"
    text = csv_text([event(i) for i in range(500)])
    log_path = tmp_path / "once.log"
    with open(folders.inputs / name, "w") as out:
        out.write(text[: len(text) // 3])
        out.flush()
        process = start_stream(folders, "--once", log_path=log_path)
        try:
            deadline = time.monotonic() + 120
            while " up in " not in log_path.read_text() and time.monotonic() < deadline:
                assert process.poll() is None, log_path.read_text()[-3000:]
                time.sleep(0.2)
            time.sleep(2.0)
            assert not deliveries(name), "claimed while its writer still had it open"
            out.write(text[len(text) // 3 :])
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    assert process.wait(timeout=300) == 0, log_path.read_text()[-3000:]
    (delivery,) = deliveries(name)
    assert delivery[1:5] == ("loaded", 500, 500, 0)


def test_a_crash_in_the_middle_of_a_big_file_loses_and_doubles_nothing(warehouse, tmp_path):
    """kill -9 while a file's parts are spread over several batches, then a restart."""
    folders = Folders(tmp_path)
    folders.inputs.mkdir(parents=True)
    name = "hourly export 2026-11-25T13:00:00Z.csv"
    rows = [event(i, product_name="Desk\nLamp" if i % 7 == 0 else "Lamp") for i in range(20000)]
    staging = tmp_path / "staging.csv"
    staging.write_text(csv_text(rows))
    os.rename(staging, folders.inputs / name)
    args = ("--part-mb", PART_MB, "--max-files-per-trigger", "2", "--settle-seconds", "1")
    log_path = tmp_path / "stream.log"
    process = start_stream(folders, *args, log_path=log_path)

    def delivery_id():
        found = deliveries(name)
        return found[0][0] if found else None

    def parts_committed() -> int:
        return query(
            "select count(*) from raw.ingestion_file_parts where delivery_id = %s",
            (delivery_id(),),
        )[0][0]

    wait_for(
        lambda: delivery_id() and parts_committed() >= 4,
        (folders, None, process, log_path),
        "4 parts",
    )
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    ((status, parts),) = query(
        "select status, parts from raw.ingestion_files where source_file = %s", (name,)
    )
    assert status == "claimed" and parts > parts_committed(), "killed before the file was loaded"
    process = start_stream(folders, *args, log_path=log_path)
    try:
        stream = (folders, None, process, log_path)
        (delivery,) = wait_for(lambda: loaded_files(name), stream, "the file loaded", timeout=180)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=120)
    assert delivery[1:5] == ("loaded", 20000, 20000, 0)
    assert parts_committed() == delivery[6]
    loaded = query(
        "select event_id::text, product_name from raw.ecommerce_events where source_file = %s",
        (name,),
    )
    assert sorted(loaded) == sorted((r[0], r[5]) for r in rows)
    assert (folders.archive / name).is_file()


def test_a_part_read_again_under_a_new_checkpoint_is_not_loaded_twice(warehouse, tmp_path):
    """A crash between a part's commit and the removal of its file, then a new Spark
    checkpoint: Spark reads the committed part again, and the sink leaves it out."""
    reset_raw()
    folders = Folders(tmp_path)
    folders.inputs.mkdir(parents=True)
    name = "export.csv"
    rows = [event(i) for i in range(12000)]
    (tmp_path / "staging.csv").write_text(csv_text(rows))
    os.rename(tmp_path / "staging.csv", folders.inputs / name)
    args = ("--part-mb", PART_MB, "--max-files-per-trigger", "2")
    log_path = tmp_path / "stream.log"
    process = start_stream(folders, *args, log_path=log_path)
    stream = (folders, None, process, log_path)
    plain = folders.checkpoint / "intake" / "parts" / "plain"
    kept = tmp_path / "kept-parts"
    kept.mkdir()

    def released() -> bool:
        found = deliveries(name)
        return bool(found) and len(list(plain.glob("*.csv"))) == found[0][6]

    wait_for(released, stream, "every part released")
    for part in plain.glob("*.csv"):  # what a crash before their removal would leave
        with contextlib.suppress(FileNotFoundError):
            shutil.copy(part, kept / part.name)
    wait_for(
        lambda: query("select count(*) from raw.ingestion_file_parts")[0][0] >= 3, stream, "parts"
    )
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    committed = query("select delivery_id, part from raw.ingestion_file_parts")
    restored = 0
    for part in kept.glob("*.csv"):
        info = parts.Part.parse(part.name)
        if (info.delivery_id, info.part) in committed:
            shutil.copy(part, plain / part.name)
            restored += 1
    assert restored >= 3
    for path in folders.checkpoint.iterdir():  # a new Spark checkpoint, the intake kept
        if path.name not in ("intake", "multiline", "ecom_input_dir"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    process = start_stream(folders, *args, log_path=log_path)
    stream = (folders, None, process, log_path)
    try:
        (delivery,) = wait_for(lambda: loaded_files(name), stream, "the file loaded", timeout=180)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=120)
    assert delivery[1:5] == ("loaded", 12000, 12000, 0)
    assert "parts already committed are left out" in log_path.read_text()
    ids = query("select event_id::text from raw.ecommerce_events where source_file = %s", (name,))
    assert sorted(i for (i,) in ids) == sorted(r[0] for r in rows)
