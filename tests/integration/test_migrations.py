"""Schema migrations: a warehouse built by an older release is upgraded in place.

Each fixture is the whole idempotent DDL of a release from before migrations
existed (sql/0*.sql of that commit). A database built by it, holding rows, is
brought up to date by ``ecom db`` (what ``make db`` and ``make up``
run), and keeps every row.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from pipeline import db

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).with_name("fixtures")
MIGRATIONS = sorted(p.stem for p in (REPO_ROOT / "sql" / "migrations").glob("*.sql"))

EVENT = (
    "'5ce0a000-0000-4000-8000-000000000001', 'purchase', 1, 'Ada', 2, 'Chair', 'furniture', "
    "19.90, 1, '2026-11-25T10:00:00Z', 's-1', 'old.csv', 0"
)


def _scalar(dbname: str, query: str):
    with db.connection(None, dbname=dbname) as conn, conn.cursor() as cur:
        cur.execute(query)
        return cur.fetchone()[0]


def _ecom_db(dbname: str, project: Path | None = None) -> subprocess.CompletedProcess:
    """``ecom db`` on ``dbname``, with the migrations of ``project`` (default: this one)."""
    project_env = {"ECOM_PROJECT_DIR": str(project)} if project else {}
    return subprocess.run(
        [sys.executable, "-m", "ecom", "db"],
        env={**os.environ, "PGDATABASE": dbname, **project_env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("release", ["b1f1f5e", "3c188af"])
def test_an_older_warehouse_is_upgraded_in_place_keeping_its_rows(fresh_database, release):
    dbname = fresh_database(f"upgrade_{release}")
    with db.connection(None, dbname=dbname) as conn, conn.cursor() as cur:
        cur.execute((FIXTURES / f"warehouse_ddl_{release}.sql").read_text())
        cur.execute(
            "insert into raw.ecommerce_events (event_id, event_type, user_id, user_name, "
            "product_id, product_name, category, price, quantity, event_time, session_id, "
            f"source_file, batch_id) select {EVENT} from generate_series(1, 500)"
        )
        cur.execute(
            "insert into raw.ecommerce_events_rejected (source_file, line_number, raw_line, "
            "reasons, batch_id) values ('old.csv', 7, 'x,y', array['field_count'], 0)"
        )
        cur.execute(
            "insert into raw.ingestion_batches (stream_name, query_id, batch_id, files, rows_in, "
            "rows_loaded, rows_rejected, started_at) values ('ecommerce_events', "
            "'00000000-0000-4000-8000-000000000001', 0, array['old.csv'], 501, 500, 1, now())"
        )
        cur.execute(
            "insert into quality.checkpoint_runs (checkpoint_name, success, "
            "evaluated_expectations, successful_expectations, failed_expectations, run_at, "
            "duration_seconds) values ('raw_layer', true, 3, 3, 0, now(), 1.5)"
        )
        conn.commit()
    had_ledger = _scalar(dbname, "select to_regclass('raw.ingestion_files') is not null")
    assert had_ledger == (release == "3c188af")

    result = _ecom_db(dbname)
    assert result.returncode == 0, result.stderr
    assert f"applied {', '.join(MIGRATIONS)}" in result.stderr

    assert _scalar(dbname, "select count(*) from raw.ecommerce_events") == 500
    assert _scalar(dbname, "select count(*) from raw.ecommerce_events_rejected") == 1
    assert _scalar(dbname, "select count(*) from raw.ingestion_batches") == 1
    assert _scalar(dbname, "select count(*) from quality.checkpoint_runs") == 1
    # the upgrade reached the tables: the columns and the file ledger of migration 0002
    assert (
        _scalar(dbname, "select count(*) from raw.ecommerce_events where delivery_id is null")
        == 500
    )
    assert _scalar(dbname, "select count(*) from raw.ingestion_files") == 0
    # migration 0003: the rows name their batch, found by batch_id and file in the ledger
    for table in ("raw.ecommerce_events", "raw.ecommerce_events_rejected"):
        assert _scalar(dbname, f"select array_agg(distinct query_id::text) from {table}") == [
            "00000000-0000-4000-8000-000000000001"
        ]
    assert _scalar(
        dbname,
        "select xact_id is not null and xact_started_at = started_at from raw.ingestion_batches",
    )
    applied = _scalar(
        dbname,
        "select array_agg(migration_id order by migration_id) from migrations._yoyo_migration",
    )
    assert applied == MIGRATIONS
    # the roles still hold: the loader may append to the new table, the analyst may not read raw
    loader_may = _scalar(
        dbname, "select has_table_privilege('ecom_loader', 'raw.ingestion_files', 'insert')"
    )
    analyst_may = _scalar(
        dbname, "select has_table_privilege('ecom_analyst', 'raw.ecommerce_events', 'select')"
    )
    assert (loader_may, analyst_may) == (True, False)

    again = _ecom_db(dbname)
    assert again.returncode == 0, again.stderr
    assert "no migration pending" in again.stderr
    assert _scalar(dbname, "select count(*) from raw.ecommerce_events") == 500


def _project(folder: Path, migrations: str = "*.sql") -> Path:
    """A project folder with this project's roles and the migrations ``migrations`` matches."""
    (folder / "sql" / "migrations").mkdir(parents=True)
    for path in (REPO_ROOT / "sql" / "migrations").glob(migrations):
        (folder / "sql" / "migrations" / path.name).write_text(path.read_text())
    (folder / "sql" / "roles.sql").write_text((REPO_ROOT / "sql" / "roles.sql").read_text())
    return folder


def test_a_failing_migration_is_one_line_and_leaves_nothing_half_done(fresh_database, tmp_path):
    project = _project(tmp_path / "project")
    (project / "sql" / "migrations" / "9999.broken.sql").write_text(
        "-- depends: 0002.file-ledger\n"
        "alter table raw.ecommerce_events add column half_done text;\n"
        "alter table raw.no_such_table add column x text;\n"
    )
    dbname = fresh_database("upgrade_broken")
    result = _ecom_db(dbname, project)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "migration failed" in last and "no_such_table" in last, last
    assert "Traceback" not in result.stderr
    half_done = _scalar(
        dbname,
        "select count(*) from information_schema.columns "
        "where table_schema = 'raw' and column_name = 'half_done'",
    )
    assert half_done == 0


def test_the_release_before_is_upgraded_to_keep_columns_beyond_the_contract(
    fresh_database, tmp_path
):
    """A warehouse at migration 0003 (the release before 0004), holding rows and a file
    ledger, gains extra_columns and the ledger's header columns in place."""
    project = _project(tmp_path / "release-before", "000[123].*.sql")
    dbname = fresh_database("upgrade_release_before")
    before = _ecom_db(dbname, project)
    assert before.returncode == 0, before.stderr
    with db.connection(None, dbname=dbname) as conn, conn.cursor() as cur:
        cur.execute(
            "insert into raw.ingestion_files (delivery_id, source_file, size_bytes, parts, "
            "status) values ('d-1', 'old.csv', 10, 1, 'claimed')"
        )
        cur.execute(
            "insert into raw.ecommerce_events (event_id, event_type, user_id, user_name, "
            "product_id, product_name, category, price, quantity, event_time, session_id, "
            f"source_file, batch_id, delivery_id, query_id) select {EVENT}, 'd-1', "
            "'00000000-0000-4000-8000-000000000001' from generate_series(1, 20)"
        )
        conn.commit()

    result = _ecom_db(dbname)
    assert result.returncode == 0, result.stderr
    assert "applied 0004.columns-beyond-the-contract" in result.stderr
    assert _scalar(dbname, "select count(*) from raw.ecommerce_events") == 20
    assert _scalar(dbname, "select count(extra_columns) from raw.ecommerce_events") == 0
    assert _scalar(
        dbname, "select (header, delimiter, compression) is null from raw.ingestion_files"
    )
    assert _scalar(
        dbname,
        "select has_column_privilege('ecom_loader', 'raw.ecommerce_events', 'extra_columns', "
        "'insert') and has_column_privilege('ecom_loader', 'raw.ingestion_files', 'header', "
        "'insert')",
    )


def test_the_release_before_is_partitioned_in_place(fresh_database, tmp_path):
    """A warehouse at migration 0004 (the release before 0005) holding rows: its tables
    become the first partitions of raw, nothing copied; the loader writes on, and may
    create the partitions ahead."""
    project = _project(tmp_path / "release-before", "000[1234].*.sql")
    dbname = fresh_database("upgrade_to_partitions")
    before = _ecom_db(dbname, project)
    assert before.returncode == 0, before.stderr
    with db.connection(None, dbname=dbname) as conn, conn.cursor() as cur:
        cur.execute(
            "insert into raw.ecommerce_events (event_id, event_type, user_id, user_name, "
            "product_id, product_name, category, price, quantity, event_time, session_id, "
            f"source_file, batch_id, query_id, ingested_at) select {EVENT}, "
            "'00000000-0000-4000-8000-000000000001', now() - interval '40 days' "
            "from generate_series(1, 30)"
        )
        cur.execute(
            "insert into raw.ecommerce_events_rejected (source_file, line_number, raw_line, "
            "reasons, batch_id, query_id) values ('old.csv', 7, 'x,y', array['field_count'], 0, "
            "'00000000-0000-4000-8000-000000000001')"
        )
        cur.execute("select relfilenode from pg_class where oid = 'raw.ecommerce_events'::regclass")
        storage = cur.fetchone()[0]
        conn.commit()

    result = _ecom_db(dbname)
    assert result.returncode == 0, result.stderr
    assert "applied 0005.raw-partitioned-by-ingestion-time" in result.stderr
    assert _scalar(dbname, "select count(*) from raw.ecommerce_events") == 30
    assert _scalar(dbname, "select count(*) from raw.ecommerce_events_rejected") == 1
    # the old table is the first partition, its storage untouched (nothing copied)
    assert (
        _scalar(
            dbname,
            "select relfilenode from pg_class where oid = 'raw.ecommerce_events_before'::regclass",
        )
        == storage
    )
    assert _scalar(
        dbname,
        "select array_agg(partition_name order by range_to) from raw.partitions "
        "where table_name = 'ecommerce_events' and range_from is null",
    ) == ["ecommerce_events_before"]
    assert _scalar(dbname, "select max(range_to) > now() + interval '1 day' from raw.partitions")
    # the loader appends, and may create partitions ahead; nobody else gets that function
    with db.connection("loader", dbname=dbname) as conn, conn.cursor() as cur:
        cur.execute(
            "insert into raw.ecommerce_events (event_id, event_type, user_id, user_name, "
            "product_id, product_name, category, price, quantity, event_time, session_id, "
            f"source_file, batch_id, query_id) select {EVENT}, "
            "'00000000-0000-4000-8000-000000000002'"
        )
        cur.execute("select raw.ensure_partitions(now() + interval '5 days')")
        assert cur.fetchone()[0] == 6  # three more days for each table
        conn.commit()
    assert not _scalar(
        dbname,
        "select has_function_privilege('ecom_analyst', "
        "'raw.ensure_partitions(timestamptz, timestamptz)', 'execute')",
    )


def test_a_partition_width_applies_from_the_first_ecom_db(fresh_database):
    """The migration makes a new warehouse's first partitions a day wide; a width set
    with it cuts the empty ones again, so the partition holding now has that width.
    A later change keeps the partitions that hold rows."""
    dbname = fresh_database("partition_width")
    spans = (
        "select range_to - range_from from raw.partitions where table_name = %s "
        "and range_from <= now() + %s::interval and now() + %s::interval < range_to"
    )

    def span(table: str, later: str = "0") -> object:
        with db.connection(None, dbname=dbname) as conn, conn.cursor() as cur:
            cur.execute(spans, (table, later, later))
            return cur.fetchone()[0]

    hourly = subprocess.run(
        [sys.executable, "-m", "ecom", "db"],
        env={**os.environ, "PGDATABASE": dbname, "ECOM_RAW_PARTITION_WIDTH": "1 hour"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert hourly.returncode == 0, hourly.stderr
    for table in ("ecommerce_events", "ecommerce_events_rejected"):
        assert span(table) == timedelta(hours=1)
        assert span(table, "1 day") == timedelta(hours=1)  # ahead, too

    with db.connection(None, dbname=dbname) as conn, conn.cursor() as cur:
        cur.execute(
            "insert into raw.ecommerce_events (event_id, event_type, user_id, user_name, "
            "product_id, product_name, category, price, quantity, event_time, session_id, "
            f"source_file, batch_id, query_id) select {EVENT}, "
            "'00000000-0000-4000-8000-000000000003'"
        )
        conn.commit()
    wider = subprocess.run(
        [sys.executable, "-m", "ecom", "db"],
        env={
            **os.environ,
            "PGDATABASE": dbname,
            "ECOM_RAW_PARTITION_WIDTH": "2 hours",
            "ECOM_RAW_PARTITION_AHEAD": "1 day",
        },
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert wider.returncode == 0, wider.stderr
    assert span("ecommerce_events") == timedelta(hours=1)  # it holds a row
    assert span("ecommerce_events", "3 hours") == timedelta(hours=2)
    assert span("ecommerce_events_rejected") in (timedelta(hours=1), timedelta(hours=2))
    assert _scalar(dbname, "select count(*) from raw.ecommerce_events") == 1
