"""The warehouse DDL and the least-privilege roles, on a real PostgreSQL."""

from __future__ import annotations

import psycopg2
import pytest
from psycopg2 import errors

from pipeline import contract, db

pytestmark = pytest.mark.integration


def _run(role, statement):
    with db.connection(role) as conn, conn.cursor() as cur:
        cur.execute(statement)
        result = cur.fetchall() if cur.description else None
        conn.commit()
        return result


def test_ddl_applies_twice(warehouse):
    db.apply_schema()
    db.apply_schema()
    tables = _run(
        None,
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_schema = 'raw' and (table_schema || '.' || table_name)::regclass "
        "not in (select inhrelid from pg_inherits) order by 1",
    )
    # beside the tables, raw's partition settings and the view of its partitions
    assert [t[0] for t in tables] == sorted([*db.RAW_TABLES, "raw.partitioning", "raw.partitions"])


def test_live_landing_table_matches_the_contract(warehouse):
    rows = _run(
        None,
        "select column_name, format_type(atttypid, atttypmod) from information_schema.columns c "
        "join pg_attribute a on a.attrelid = 'raw.ecommerce_events'::regclass "
        "and a.attname = c.column_name "
        "where table_schema = 'raw' and table_name = 'ecommerce_events' order by ordinal_position",
    )
    aliases = {"timestamp with time zone": "timestamptz"}
    live = [(name, aliases.get(kind, kind)) for name, kind in rows]
    assert live == [(f.name, f.sql_type) for f in contract.FIELDS] + list(contract.LINEAGE_COLUMNS)


@pytest.fixture
def marts_probe(warehouse):
    _run("transformer", "create table if not exists marts.privilege_probe (x int)")
    yield "marts.privilege_probe"
    _run("transformer", "drop table if exists marts.privilege_probe")


INSERT_EVENT = (
    "insert into raw.ecommerce_events values (gen_random_uuid(), 'view', 1, 'u', 1, 'p', 'c', "
    "1.00, 1, now(), 's', 'probe.csv', -1, now(), null, gen_random_uuid())"
)


@pytest.mark.parametrize(
    "statement",
    [
        "select * from raw.ecommerce_events",
        "select * from raw.ingestion_batches",
        INSERT_EVENT,
        "create table marts.analyst_table (x int)",
        "create table public.analyst_table (x int)",
        "insert into marts.privilege_probe values (1)",
    ],
)
def test_analyst_reads_marts_only(marts_probe, statement):
    assert _run("analyst", f"select count(*) from {marts_probe}") == [(0,)]
    with pytest.raises(errors.InsufficientPrivilege):
        _run("analyst", statement)


@pytest.mark.parametrize(
    "statement",
    [
        "select * from marts.privilege_probe",
        "select * from raw.ecommerce_events",
        "drop table raw.ecommerce_events",
        "delete from raw.ecommerce_events",
        "truncate raw.ingestion_batches",
        "create table raw.loader_table (x int)",
    ],
)
def test_loader_only_appends_to_raw(marts_probe, statement):
    with pytest.raises(errors.InsufficientPrivilege):
        _run("loader", statement)


def test_loader_can_append_and_read_its_ledger(warehouse):
    with db.connection("loader") as conn, conn.cursor() as cur:
        cur.execute(INSERT_EVENT)
        assert cur.rowcount == 1
        cur.execute(
            "insert into raw.ingestion_batches (stream_name, query_id, batch_id, files, rows_in, "
            "rows_loaded, rows_rejected, started_at) values ('privilege_probe', "
            "gen_random_uuid(), 1, '{}', 1, 1, 0, now())"
        )
        cur.execute(
            "select rows_loaded from raw.ingestion_batches where stream_name = 'privilege_probe'"
        )
        assert cur.fetchall() == [(1,)]
        conn.rollback()


@pytest.mark.parametrize(
    "statement",
    [
        INSERT_EVENT,
        "delete from raw.ecommerce_events",
        "drop table raw.ecommerce_events",
        "insert into raw.ingestion_batches (stream_name, query_id, batch_id, files, rows_in, "
        "rows_loaded, rows_rejected, started_at) values ('x', gen_random_uuid(), 1, '{}', 0, 0, 0, now())",
    ],
)
def test_transformer_cannot_write_raw(warehouse, statement):
    counted = "select count(*) from raw.ingestion_batches"
    assert _run("transformer", counted) == _run(None, counted)  # it reads raw, all of it
    with pytest.raises(errors.InsufficientPrivilege):
        _run("transformer", statement)


def test_no_role_is_a_superuser(warehouse):
    rows = _run(
        None,
        "select rolname, rolsuper, rolcreaterole, rolcreatedb from pg_roles "
        "where rolname like 'ecom\\_%' and rolname <> 'ecom_admin' order by 1",
    )
    assert rows == [
        ("ecom_analyst", False, False, False),
        ("ecom_auditor", False, False, False),
        ("ecom_loader", False, False, False),
        ("ecom_transformer", False, False, False),
    ]


def test_ledger_rejects_counts_that_do_not_reconcile(warehouse):
    with pytest.raises(psycopg2.errors.CheckViolation):
        _run(
            None,
            "insert into raw.ingestion_batches (stream_name, query_id, batch_id, files, rows_in, "
            "rows_loaded, rows_rejected, started_at) "
            "values ('t', gen_random_uuid(), 1, '{}', 3, 1, 1, now())",
        )


def test_wrong_password_is_one_readable_line(warehouse, monkeypatch):
    monkeypatch.setenv("ECOM_ANALYST_PASSWORD", "wrong")
    with pytest.raises(db.DatabaseUnavailable) as excinfo:
        db.connect("analyst")
    message = str(excinfo.value)
    assert "password authentication failed" in message
    assert "\n" not in message
