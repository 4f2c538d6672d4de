"""Connections, and the warehouse schema: migrations in sql/migrations, then sql/roles.sql."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from pipeline import envfile, settings
from pipeline.errors import UserError, first_line

log = logging.getLogger(__name__)

# yoyo's bookkeeping (applied migrations, its lock) lives in a schema of its own.
MIGRATIONS_SCHEMA = "migrations"


def sql_dir() -> Path:
    return settings.project_dir() / "sql"


class DatabaseUnavailable(UserError):
    """The server cannot be reached or refuses us; the message names the fix."""


class MigrationError(UserError):
    """A schema migration failed; nothing of it was applied."""


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
            message = first_line(exc)
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
    "raw.partitions_dropped",
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


def _migrations_uri(admin: settings.ConnectionSettings) -> str:
    """A yoyo URI for the administrator; a Unix-socket host goes in the query string."""
    query = {"schema": MIGRATIONS_SCHEMA, "connect_timeout": "5"}
    netloc = quote(admin.user, safe="")
    if admin.password:
        netloc += ":" + quote(admin.password, safe="")
    if admin.host.startswith("/"):
        query["host"] = admin.host
        netloc += f"@:{admin.port}"
    else:
        netloc += f"@{admin.host}:{admin.port}"
    return f"postgresql://{netloc}/{quote(admin.dbname, safe='')}?{urlencode(query)}"


def migrate() -> list[str]:
    """Apply the pending migrations of sql/migrations (yoyo), each in its own
    transaction; returns the ids applied."""
    import yoyo

    admin = settings.connection(None)
    try:
        backend = yoyo.get_backend(_migrations_uri(admin))
        migrations = yoyo.read_migrations(str(sql_dir() / "migrations"))
        with backend.lock():
            pending = backend.to_apply(migrations)
            for migration in pending:
                log.info("applying migration %s", migration.id)
                backend.apply_one(migration)
        return [m.id for m in pending]
    except psycopg2.Error as exc:
        first = first_line(exc)
        raise MigrationError(
            f"migration failed on {admin.describe()}: {first} (nothing of that migration "
            "was applied; fix the cause and run 'ecom db' again)"
        ) from exc


def apply_schema() -> None:
    """Bring the warehouse up to date: pending migrations, then the idempotent
    roles and grants (sql/roles.sql), then the role passwords, then raw's partitions
    (ECOM_RAW_PARTITION_WIDTH and _AHEAD, when set; the partitions ahead).

    Missing role passwords are generated into .env first. Safe to run any number of times.
    """
    generated = {
        variable: password
        for variable, password in envfile.role_password_defaults().items()
        if variable not in settings.environment()
    }
    written = envfile.ensure_values(generated) if generated else []
    if written:
        log.info("generated passwords for %s in %s", ", ".join(written), settings.env_file())
    with connection() as lock_conn, lock_conn.cursor() as lock:
        # Serialise concurrent runs: DDL and grants on the same objects race otherwise.
        lock_conn.autocommit = True
        lock.execute("select pg_advisory_lock(hashtext('ecom-warehouse-ddl'))")
        lock.execute(
            sql.SQL("create schema if not exists {}").format(sql.Identifier(MIGRATIONS_SCHEMA))
        )
        applied = migrate()
        with connection() as conn:
            with conn.cursor() as cur:
                cur.execute((sql_dir() / "roles.sql").read_text(encoding="utf-8"))
                for role in settings.ROLES:
                    password = settings.connection(role).password
                    cur.execute(
                        sql.SQL("alter role {} password %s").format(
                            sql.Identifier(settings.ROLE_DEFAULT_NAMES[role])
                        ),
                        (password,),
                    )
            conn.commit()
            from pipeline import partitions  # it needs this module

            if partitions.available(conn):  # a project's migrations may predate them
                values = settings.current()
                partitions.configure(conn, values.raw_partition_width, values.raw_partition_ahead)
                partitions.ensure(conn)
    state = f"applied {', '.join(applied)}" if applied else "no migration pending"
    log.info("warehouse schema and roles are in place (%s)", state)
