"""Test isolation: every test session gets its own project-managed PostgreSQL.

Tests never touch the user's database or .env: state goes to .warehouse/test
(git-ignored; ECOM_TEST_STATE_DIR to move it), the server listens on its own
port (ECOM_TEST_PGPORT, default any free port, recorded in its .env), and libpq variables from the caller's
environment are ignored. The cluster is started on first use by the
``warehouse`` fixture and stopped at the end of the session.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_STATE = Path(os.environ.get("ECOM_TEST_STATE_DIR", REPO_ROOT / ".warehouse" / "test"))

os.environ["ECOM_STATE_DIR"] = str(TEST_STATE)
os.environ["ECOM_ENV_FILE"] = str(TEST_STATE / ".env")
os.environ["ECOM_LOCAL_PGPORT"] = os.environ.get("ECOM_TEST_PGPORT", "auto")
for _var in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSERVICE", "PGPASSFILE"):
    os.environ.pop(_var, None)
TEST_STATE.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def warehouse():
    """A running project-managed PostgreSQL with the DDL applied."""
    from ecom import localdb

    localdb.up()
    from pipeline import db

    # raw is partitioned from today on; tests write rows with older times too
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute("select raw.ensure_partitions(null, '2000-01-01')")
        conn.commit()
    yield
    localdb.down()


@pytest.fixture(scope="session")
def fresh_database(warehouse):
    """A function that (re)creates an empty database of ``name`` on the test server."""
    from psycopg2 import sql

    from pipeline import db

    def create(name: str) -> str:
        with db.connection(None, dbname="postgres") as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )
                cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        return name

    return create
