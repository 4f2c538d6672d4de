"""Connections and the idempotent warehouse DDL in sql/."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from pipeline import envfile, settings

log = logging.getLogger(__name__)

SQL_DIR = settings.REPO_ROOT / "sql"


class DatabaseUnavailable(RuntimeError):
    """The server cannot be reached or refuses us; the message names the fix."""


def connect(role: str | None = None, *, dbname: str | None = None, retries: int = 0):
    """Open a psycopg2 connection as ``role`` (None: the administrator).

    Connection errors become one readable DatabaseUnavailable line.
    """
    conn_settings = settings.connection(role)
    kwargs = conn_settings.dsn_kwargs()
    if dbname:
        kwargs["dbname"] = dbname
    delay = 0.5
    for attempt in range(retries + 1):
        try:
            return psycopg2.connect(**kwargs)
        except psycopg2.OperationalError as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            if attempt == retries:
                raise DatabaseUnavailable(
                    f"cannot connect to PostgreSQL as {conn_settings.describe()}: {message} "
                    "(is it running? 'make up' starts the project-managed one; "
                    "check PGHOST/PGPORT and the passwords in .env)"
                ) from exc
            log.warning("PostgreSQL not reachable (%s); retrying in %.1fs", message, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10)
    raise AssertionError("unreachable")


@contextmanager
def connection(role: str | None = None, **kwargs) -> Iterator[psycopg2.extensions.connection]:
    conn = connect(role, **kwargs)
    try:
        yield conn
    finally:
        conn.close()


# Every table the project owns in raw, for tests, benchmarks and the demo to empty.
RAW_TABLES = (
    "raw.ecommerce_events",
    "raw.ecommerce_events_rejected",
    "raw.ingestion_batches",
    "raw.ingestion_file_parts",
    "raw.ingestion_files",
)
TRUNCATE_RAW = "truncate " + ", ".join(RAW_TABLES)


def ensure_database(name: str, retries: int = 0) -> None:
    """Create database ``name`` (as the administrator) unless it exists."""
    with connection(None, dbname="postgres", retries=retries) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (name,))
            if cur.fetchone() is None:
                log.info("creating database %s", name)
                cur.execute(
                    sql.SQL("create database {} encoding 'UTF8'").format(sql.Identifier(name))
                )


def ddl_files(sql_dir: Path = SQL_DIR) -> list[Path]:
    return sorted(p for p in sql_dir.glob("[0-9]*.sql"))


def apply_ddl() -> None:
    """Apply sql/*.sql in order, in one transaction, then set the role passwords.

    Missing role passwords are generated into .env first. Safe to run twice.
    """
    written = envfile.ensure_values(envfile.role_password_defaults())
    if written:
        log.info("generated passwords for %s in %s", ", ".join(written), settings.env_file())
    env = settings.environment()
    with connection() as conn:
        with conn.cursor() as cur:
            # Serialise concurrent runs: DDL and grants on the same objects race otherwise.
            cur.execute("select pg_advisory_xact_lock(hashtext('ecom-warehouse-ddl'))")
            for path in ddl_files():
                log.info("applying %s", path.relative_to(settings.REPO_ROOT))
                cur.execute(path.read_text(encoding="utf-8"))
            for role in settings.ROLES:
                password = env[f"ECOM_{role.upper()}_PASSWORD"]
                cur.execute(
                    sql.SQL("alter role {} password %s").format(
                        sql.Identifier(settings.ROLE_DEFAULT_NAMES[role])
                    ),
                    (password,),
                )
        conn.commit()
    log.info("warehouse schema and roles are in place")
