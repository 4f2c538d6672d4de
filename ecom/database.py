"""ecom up/down/status/db/psql/destroy: the warehouse's database chores.

up       start the project-managed PostgreSQL (or use yours) and migrate the schema
down     stop the project-managed PostgreSQL
status   say whether the server answers, and which one it is
db       apply pending schema migrations, then roles and grants (as the administrator)
maintain raw's partitions: create those ahead, drop those past the retention (as the administrator)
psql     open psql with the project's settings (--role to pick a role)
destroy  stop the project-managed PostgreSQL and delete its data
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import click

from ecom import localdb
from pipeline import cli, db, partitions, settings


def _exec(args: list[str], extra_env: dict[str, str] | None = None) -> None:
    env = settings.environment()
    env.update(extra_env or {})
    if shutil.which(args[0], path=env.get("PATH")) is None:
        raise settings.SettingsError(f"command not found: {args[0]}")
    os.execvpe(args[0], args, env)


def _chore(help: str, action: Callable[[], object]) -> click.Command:
    """A command that only does ``action``, with -v for debug logging."""

    @click.command(cls=cli.Command, help=help)
    @cli.verbose_option()
    def command(verbose: bool) -> None:
        cli.configure_logging(verbose)
        action()

    return command


up = _chore(
    "Start the project-managed PostgreSQL (or reach yours) and migrate the schema.", localdb.up
)
down = _chore("Stop the project-managed PostgreSQL.", localdb.down)
destroy = _chore("Stop the project-managed PostgreSQL and delete its data.", localdb.destroy)
migrate = _chore("Apply pending migrations, roles and grants, role passwords.", db.apply_schema)


def server_status() -> int:
    """Does the server answer? 0 yes, 1 no (one line either way)."""
    return 0 if localdb.status() else 1


@click.command(
    cls=cli.Command,
    help="Create raw's partitions ahead of the stream, and drop those older than the "
    "retention whose batches dbt has staged (each drop is recorded in "
    "raw.partitions_dropped). Live mode and the Compose stack run it on a schedule.",
)
@partitions.retention_option(
    "--retention-days", "drop partitions of raw older than this, once staged; 0 keeps all"
)
@cli.verbose_option()
def maintain(retention_days: float, verbose: bool) -> None:
    cli.configure_logging(verbose)
    made, dropped = partitions.maintain(retention_days)
    print(
        f"raw partitions: {made} created ahead, {len(dropped)} dropped"
        + ("" if retention_days else " (no retention set: ECOM_RAW_RETENTION_DAYS)")
    )


@click.command(
    cls=cli.Command,
    help="psql on the warehouse with the project's settings; arguments after the options "
    "(or after --) go to psql.",
    context_settings={"ignore_unknown_options": True},
)
@click.option(
    "--role",
    type=click.Choice(settings.ROLES),
    help="connect as this role instead of the administrator",
)
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED, metavar="[PSQL_ARGS]...")
def psql(role: str | None, psql_args: tuple[str, ...]) -> None:
    target = settings.connection(role)
    _exec(["psql", *psql_args], {"PGUSER": target.user, "PGPASSWORD": target.password or ""})
