"""The same events written by the field's own tools, dropped into a running stream.

Every writer is the real library (pandas, polars, pyarrow, DuckDB, PostgreSQL's
COPY TO, Spark's CSV writer, Python's csv module), each with its own spelling of
times, numbers, quotes and headers. Every loaded value is compared with what was
written: times as instants, prices as decimals, names byte for byte. Files the
job must not read through (links, FIFOs) are checked to leave no trace.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import shutil
import signal
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from pipeline import contract, db, settings
from tests.support.streaming import (
    REPO_ROOT,
    Folders,
    deliver,
    deliveries,
    ingest_once,
    loaded_files,
    python_module,
    query,
    reset_raw,
    start_stream,
    wait_for,
)

pytestmark = pytest.mark.integration

NAMES = list(contract.FIELD_NAMES)
START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
# Every writer keeps milliseconds (Spark's writer keeps no more), so every instant is exact.
PRODUCTS = ['Desk "Pro", black', "Lamp\nwith a cable", "Zoë's café ☕", "plain chair"]


def events(tag: int, count: int = 24) -> list[dict]:
    """``count`` events; ``tag`` keeps each file's event ids its own."""
    return [
        {
            "event_id": str(uuid.UUID(int=tag << 64 | i)),
            "event_type": ("view", "add_to_cart", "purchase")[i % 3],
            "user_id": i + 1,
            "user_name": "O'Brien, Ada" if i % 2 else "Grace Hopper",
            "product_id": i % 5 + 1,
            "product_name": PRODUCTS[i % len(PRODUCTS)],
            "category": "Home & Garden",
            "price": Decimal("19.99") if i % 2 else Decimal("10.00"),
            "quantity": i % 3 + 1,
            "event_time": START + timedelta(seconds=i, milliseconds=123 * (i % 8)),
            "session_id": f"s-{tag}-{i}",
        }
        for i in range(count)
    ]


def as_frame(rows: list[dict]):
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame["price"] = frame["price"].astype(float)
    return frame


def rows_of_strings(rows: list[dict]) -> list[list[str]]:
    def text(value) -> str:
        if isinstance(value, datetime):
            return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return str(value)

    return [[text(row[name]) for name in NAMES] for row in rows]


def python_csv(rows: list[dict], **options) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, **options)
    writer.writerow(NAMES)
    writer.writerows(rows_of_strings(rows))
    return buffer.getvalue()


# -- the writers: each returns the bytes of one file --------------------------------------


def pandas_plain(rows, tmp_path) -> bytes:
    return as_frame(rows).to_csv(index=False).encode()


def pandas_with_index(rows, tmp_path) -> bytes:
    return as_frame(rows).to_csv().encode()  # an unnamed first column: the index


def polars_csv(rows, tmp_path) -> bytes:
    import polars as pl

    frame = pl.from_pandas(as_frame(rows))
    return frame.write_csv().encode()


def pyarrow_csv(rows, tmp_path) -> bytes:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    buffer = io.BytesIO()
    pacsv.write_csv(pa.Table.from_pandas(as_frame(rows), preserve_index=False), buffer)
    return buffer.getvalue()


def duckdb_reordered(rows, tmp_path) -> bytes:
    import duckdb

    frame = as_frame(rows)  # noqa: F841 - DuckDB reads the local by its name
    target = tmp_path / f"duckdb-{uuid.uuid4().hex}.csv"
    columns = ", ".join(reversed(NAMES))  # a SQL export with its own column order
    duckdb.sql(
        f"copy (select {columns}, 'web' as channel from frame) to '{target}' (header, delimiter ',')"
    )
    return target.read_bytes()


def postgres_copy(rows, tmp_path) -> bytes:
    buffer = io.BytesIO()
    with db.connection(None) as conn, conn.cursor() as cur:
        cur.execute("set timezone = 'UTC'")
        cur.execute(
            "create temporary table export (event_id uuid, event_type text, user_id bigint, "
            "user_name text, product_id bigint, product_name text, category text, "
            "price numeric(10,2), quantity integer, event_time timestamptz, session_id text)"
        )
        cur.executemany(
            "insert into export values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [[row[name] for name in NAMES] for row in rows],
        )
        cur.copy_expert("copy export to stdout with (format csv, header)", buffer)
        conn.rollback()
    return buffer.getvalue()


def quote_all(rows, tmp_path) -> bytes:
    return python_csv(rows, quoting=csv.QUOTE_ALL, lineterminator="\n").encode()


def excel(rows, tmp_path) -> bytes:
    return python_csv(rows, dialect="excel").encode("utf-8-sig")  # BOM, CRLF


def semicolons(rows, tmp_path) -> bytes:
    return python_csv(rows, delimiter=";", lineterminator="\n").encode()


def tabs(rows, tmp_path) -> bytes:
    return python_csv(rows, dialect="excel-tab").encode()


def pandas_naive(rows, tmp_path) -> bytes:
    """Times without a zone (a tz-naive column), as Europe/Berlin wall times."""
    frame = as_frame(rows)
    frame["event_time"] = frame["event_time"].dt.tz_convert("Europe/Berlin").dt.tz_localize(None)
    return frame.to_csv(index=False).encode()


def gzipped(rows, tmp_path) -> bytes:
    return gzip.compress(pandas_plain(rows, tmp_path))


WRITERS = {
    "pandas.csv": pandas_plain,
    "pandas-index.csv": pandas_with_index,
    "polars.csv": polars_csv,
    "pyarrow.csv": pyarrow_csv,
    "duckdb-reordered.csv": duckdb_reordered,
    "postgres-copy.csv": postgres_copy,
    "quote-all.csv": quote_all,
    "excel.csv": excel,
    "semicolons.csv": semicolons,
    "tabs.tsv": tabs,
    "pandas.csv.gz": gzipped,
    "2026/11/25/partitioned.csv": pandas_plain,
}


@pytest.fixture(scope="module")
def stream(warehouse, tmp_path_factory):
    reset_raw()
    folders = Folders(tmp_path_factory.mktemp("field-writers"))
    folders.inputs.mkdir(parents=True)
    outside = folders.root / "outside"
    outside.mkdir()
    log_path = folders.root / "stream.log"
    process = start_stream(folders, "--settle-seconds", "1", log_path=log_path)
    yield folders, outside, process, log_path
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=120)


def libpq_environment() -> dict[str, str]:
    admin = settings.connection(None)
    env = {
        "PGHOST": admin.host,
        "PGPORT": str(admin.port),
        "PGUSER": admin.user,
        "PGDATABASE": admin.dbname,
    }
    return {**env, "PGPASSWORD": admin.password} if admin.password else env


def loaded_rows(name: str) -> dict[str, tuple]:
    found = query(
        f"select {', '.join(NAMES)}, extra_columns from raw.ecommerce_events "
        "where source_file = %s",
        (name,),
    )
    return {str(row[0]): row for row in found}


def expected_row(row: dict) -> tuple:
    return tuple(uuid.UUID(row["event_id"]) if n == "event_id" else row[n] for n in NAMES)


def test_every_writer_loads_every_value_exactly(stream, tmp_path):
    written = {}
    for tag, (name, writer) in enumerate(WRITERS.items(), start=1):
        rows = events(tag)
        deliver(stream, name, writer(rows, tmp_path))
        written[name] = rows
    for name, rows in written.items():
        (delivery,) = wait_for(lambda n=name: loaded_files(n), stream, name)
        assert delivery[1:5] == ("loaded", len(rows), len(rows), 0), (name, delivery)
        loaded = loaded_rows(name)
        assert set(loaded) == {row["event_id"] for row in rows}, name
        for row in rows:
            assert tuple(loaded[row["event_id"]][1:11]) == expected_row(row)[1:], (name, row)
    extras = {row[-1]["_c0"] for row in loaded_rows("pandas-index.csv").values()}
    assert extras == {str(i) for i in range(24)}, "the index column is kept, not dropped"
    assert {row[-1]["channel"] for row in loaded_rows("duckdb-reordered.csv").values()} == {"web"}
    assert all(row[-1] is None for row in loaded_rows("pandas.csv").values())


def test_the_ledger_says_how_each_file_was_read(stream):
    wait_for(lambda: loaded_files("semicolons.csv") and loaded_files("pandas.csv.gz"), stream, "")
    ledger = {
        name: rest
        for name, *rest in query(
            "select source_file, header, delimiter, compression, size_bytes, decompressed_bytes "
            "from raw.ingestion_files where source_file in "
            "('semicolons.csv', 'pandas.csv.gz', 'tabs.tsv', 'quote-all.csv')"
        )
    }
    assert ledger["semicolons.csv"][:3] == [";".join(NAMES), "semicolon", None]
    assert ledger["tabs.tsv"][1] == "tab"
    assert ledger["quote-all.csv"][0] == ",".join(f'"{name}"' for name in NAMES)
    header, delimiter, compression, size, decompressed = ledger["pandas.csv.gz"]
    assert (delimiter, compression) == ("comma", "gzip") and decompressed > size


def spark_writes(tmp_path, rows, **options):
    """Spark's own CSV writer: a folder of part-*.csv with _SUCCESS and .crc files."""
    from ingestion.spark import build_session

    spark = build_session("local[1]")
    frame = spark.createDataFrame(as_frame(rows).astype({"event_time": "datetime64[us, UTC]"}))
    frame = frame.withColumn("price", frame["price"].cast("decimal(10,2)"))
    target = tmp_path / f"spark-{uuid.uuid4().hex}"
    frame.coalesce(1).write.csv(str(target), header=True, **options)
    return target


def test_spark_default_writer_loads_nothing_wrong_and_with_escape_loads_exactly(stream, tmp_path):
    folders = stream[0]
    plain_rows, escaped_rows = events(101), events(102)
    default = spark_writes(tmp_path, plain_rows)  # quotes escaped with a backslash
    doubled = spark_writes(tmp_path, escaped_rows, escape='"')
    assert (default / "_SUCCESS").exists() and list(default.glob(".*.crc"))
    shutil.copytree(default, tmp_path / "escaped-copy")
    os.rename(default, folders.inputs / "spark-default")  # the whole folder, renamed in
    os.rename(doubled, folders.inputs / "spark-doubled")

    def delivered(prefix: str):
        found = query(
            "select source_file, status, rows_in, rows_loaded, rows_rejected from "
            "raw.ingestion_files where source_file like %s and status <> 'claimed'",
            (prefix + "/%",),
        )
        return found or None

    (doubled_file,) = wait_for(lambda: delivered("spark-doubled"), stream, "spark-doubled")
    assert doubled_file[1:] == ("loaded", 24, 24, 0)
    loaded = loaded_rows(doubled_file[0])
    for row in escaped_rows:
        assert tuple(loaded[row["event_id"]][1:11]) == expected_row(row)[1:], row
    (default_file,) = wait_for(lambda: delivered("spark-default"), stream, "spark-default")
    with_quotes = [row for row in plain_rows if '"' in row["product_name"]]
    assert default_file[1:] == ("loaded", 24, 24 - len(with_quotes), len(with_quotes))
    loaded = loaded_rows(default_file[0])
    for row in plain_rows:
        if row in with_quotes:
            assert row["event_id"] not in loaded
        else:
            assert tuple(loaded[row["event_id"]][1:11]) == expected_row(row)[1:], row
    assert not query(
        "select 1 from raw.ecommerce_events where strpos(product_name, %s) > 0", ("\\",)
    ), "no value with a stray backslash"
    assert [
        reasons
        for (reasons,) in query(
            "select distinct reasons from raw.ecommerce_events_rejected where source_file = %s",
            (default_file[0],),
        )
    ] == [["malformed_csv_row"]]
    assert "_SUCCESS" in os.listdir(folders.inputs / "spark-default"), "left alone"

    # The same folder, read by a job told that quotes are escaped with a backslash, and
    # times without a zone, quarantined by the stream, read by one told their zone.
    naive_rows = events(103)
    deliver(stream, "naive.csv", pandas_naive(naive_rows, tmp_path))
    (naive,) = wait_for(lambda: loaded_files("naive.csv"), stream, "naive.csv")
    assert naive[1:5] == ("loaded", 24, 0, 24)
    assert query(
        "select distinct reasons from raw.ecommerce_events_rejected where source_file = %s",
        ("naive.csv",),
    ) == [(["invalid_event_time"],)]
    reset_raw()
    again = Folders(tmp_path / "escape")
    again.inputs.mkdir(parents=True)
    os.rename(tmp_path / "escaped-copy", again.inputs / "spark-default")
    (again.inputs / "naive.csv").write_bytes(pandas_naive(naive_rows, tmp_path))
    result = ingest_once(again, "--escape", "\\", "--naive-timezone", "Europe/Berlin")
    assert result.returncode == 0, result.stderr[-3000:]
    ledger = dict(query("select source_file, rows_loaded from raw.ingestion_files"))
    (escaped_file,) = [name for name in ledger if name.startswith("spark-default/")]
    assert ledger == {escaped_file: 24, "naive.csv": 24}
    loaded = loaded_rows(escaped_file)
    for row in plain_rows:
        assert tuple(loaded[row["event_id"]][1:11]) == expected_row(row)[1:], row
    loaded = loaded_rows("naive.csv")
    for row in naive_rows:
        assert tuple(loaded[row["event_id"]][1:11]) == expected_row(row)[1:], row
    assert query("select distinct naive_timezone from raw.ingestion_files") == [("Europe/Berlin",)]


def test_a_file_without_a_contract_column_is_quarantined_whole(stream):
    text = python_csv(events(201)).replace("session_id", "session")
    deliver(stream, "no-session.csv", text)
    (delivery,) = wait_for(lambda: loaded_files("no-session.csv"), stream, "no-session.csv")
    assert delivery[1] == "quarantined"
    assert delivery[5] == "the header lacks the contract's columns: session_id"
    assert (stream[0].quarantine / "no-session.csv").is_file()


def test_files_it_will_not_take_are_said_and_listed(stream):
    folders, _, _, log_path = stream
    deliver(stream, "orders.xlsx", b"PK\x03\x04 a workbook")
    deliver(stream, "exports/events.json", b"{}")
    deliver(stream, "_temporary/0/part-0.csv", python_csv(events(202)))
    deliver(stream, "marker.csv", python_csv(events(203)))  # the stream got this far
    wait_for(lambda: loaded_files("marker.csv"), stream, "marker.csv")
    log = log_path.read_text()
    assert log.count("orders.xlsx is not taken: not a CSV file name") == 1
    assert "events.json is not taken" in log
    assert "_temporary" not in log and not deliveries("_temporary/0/part-0.csv")
    status = subprocess.run(
        python_module("ingestion", "status", *folders.ingestion_args()),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert status.returncode == 0, status.stderr
    assert "2 ignored" in status.stdout
    assert "ignored       orders.xlsx: not a CSV file name" in status.stdout
    assert "ignored       exports/events.json" in status.stdout


def test_links_and_special_files_are_quarantined_unread(stream):
    folders = stream[0]
    secret = folders.root / "secret.txt"
    secret.write_text("id,value\nTOP-SECRET-7f3a9c,1\n")
    os.symlink(secret, folders.inputs / "innocent.csv")
    os.symlink("/dev/zero", folders.inputs / "zeros.csv")
    os.mkfifo(folders.inputs / "pipe.csv")
    deliver(stream, "after-the-links.csv", python_csv(events(301)))
    for name, what in (
        ("innocent.csv", "a symbolic link"),
        ("zeros.csv", "a symbolic link (to /dev/zero)"),
        ("pipe.csv", "a FIFO"),
    ):
        (delivery,) = wait_for(lambda n=name: loaded_files(n), stream, name)
        assert delivery[1] == "quarantined" and what in delivery[5], (name, delivery)
        assert os.path.lexists(folders.quarantine / name)
    (after,) = wait_for(lambda: loaded_files("after-the-links.csv"), stream, "the next file")
    assert after[1:4] == ("loaded", 24, 24)
    assert secret.read_text().startswith("id,value")  # the target is left as it was
    dump = subprocess.run(
        ["pg_dump", "--data-only", "--schema=raw"],
        capture_output=True,
        text=True,
        env={**os.environ, **libpq_environment()},
        check=True,
    )
    assert "TOP-SECRET-7f3a9c" not in dump.stdout
    assert len(dump.stdout) > 1000, "the dump holds the loaded rows"
