"""ecom COMMAND [ARGS]: every stage of the warehouse behind one command.

One click group; each stage declares its own command once (``python -m
generator`` is ``ecom generate``, ``python -m ingestion`` is ``ecom stream``,
``python -m expectations`` is ``ecom checkpoint``, ...), so the two spellings
take the same options and print the same help. The Makefile's targets call these.
"""

from __future__ import annotations

import os
from typing import Any

import click

from dashboard.__main__ import main as dashboard
from ecom import database
from ecom.demo import main as demo
from ecom.live import main as live
from expectations.__main__ import main as checkpoint
from generator.__main__ import main as generate
from ingestion import __main__ as ingestion
from pipeline import cli, settings

EXIT_CODES = """\
exit codes:
  0    done; every check passed
  1    done, but a check failed (a checkpoint, a dbt test, 'status' with the server down)
  2    a usage error or a problem you can fix, printed as one line: 'ecom CMD: error: ...'
  130  interrupted (Ctrl-C)
"""

DESCRIPTION = """\
The e-commerce streaming warehouse: Spark streams CSV events into PostgreSQL
exactly once, dbt models them, Great Expectations checks them.

'ecom COMMAND --help' for one command. Settings come from the environment,
then .env (libpq's PGHOST, PGPORT, ...; every setting: docs/configuration.md).
Without PGHOST, 'ecom up' starts a project-managed PostgreSQL.
"""


class _Ordered(cli.Group):
    """Commands listed in the order they were added (a pipeline's order), not sorted."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=_Ordered, help=cli.verbatim(DESCRIPTION), epilog=cli.verbatim(EXIT_CODES))
def main() -> None:
    pass


@click.command(
    cls=cli.Command,
    help="Ingest every file waiting in the inputs folder, then exit ('ecom stream --once').",
)
@ingestion.stream_options
def ingest(**options: Any) -> int:
    return ingestion.stream(once=True, **options)


@click.command(
    cls=cli.Command,
    help="The server, both streaming checkpoints, the file and batch ledgers. It takes the "
    "options of 'ecom stream', so that the stream's own command line works with 'status'; "
    "the folders are what it reads.",
)
@ingestion.status_options
def status(input_dir, checkpoint_dir, require_batch: bool, **stream: Any) -> int:
    cli.configure_logging(stream["verbose"])
    return database.server_status() or ingestion.report(input_dir, checkpoint_dir, require_batch)


DBT_HELP = """\
Runs dbt on the project's dbt_project with its profile (the transformer role)
and the warehouse's settings, e.g. 'ecom dbt build', 'ecom dbt docs serve',
'ecom dbt source freshness'. dbt's own help: 'ecom dbt build --help'.
Exit codes are dbt's: 0 success, 1 a model or test failed, 2 dbt could not run.
"""


@click.command(
    cls=cli.Command,
    help=cli.verbatim(DBT_HELP),
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
)
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED, metavar="DBT_COMMAND [DBT_ARGS]...")
@click.pass_context
def dbt(ctx: click.Context, dbt_args: tuple[str, ...]) -> int:
    """dbt with the project, its profile and the warehouse's settings, from any folder."""
    if dbt_args in ((), ("-h",), ("--help",)):
        print(ctx.get_help())
        return 0
    os.environ.update({**settings.environment(), **settings.dbt_environment()})
    from dbt.cli.main import cli as dbt_cli

    return dbt_cli.main(args=list(dbt_args), prog_name="dbt")  # exits with dbt's own code


# name: (command, one line of help), in the order `ecom --help` lists them
for name, (command, short_help) in {
    "up": (
        database.up,
        "start the project-managed PostgreSQL (or use yours) and migrate the schema",
    ),
    "down": (database.down, "stop the project-managed PostgreSQL"),
    "db": (database.migrate, "apply pending schema migrations, then the roles and grants"),
    "maintain": (
        database.maintain,
        "raw's partitions: create those ahead, drop those past the retention",
    ),
    "destroy": (database.destroy, "stop the project-managed PostgreSQL and delete its data"),
    "status": (status, "the server, both streaming checkpoints, the file and batch ledgers"),
    "generate": (generate, "fake e-commerce events as CSV files into the inputs folder"),
    "stream": (
        ingestion.run_command,
        "the streaming job: inputs folder -> raw, exactly once, until Ctrl-C",
    ),
    "ingest": (ingest, "ingest every file waiting in the inputs folder, then exit (stream --once)"),
    "dbt": (dbt, "dbt with the project, its profile and the warehouse's settings"),
    "checkpoint": (checkpoint, "Great Expectations checkpoints: run NAME... | run --all | list"),
    "demo": (demo, "the whole pipeline end to end on a seeded data set, with a report"),
    "live": (live, "generator + stream + dbt cycles + checkpoints, a status line per cycle"),
    "dashboard": (dashboard, "the marts in a browser, as the analyst role"),
    "psql": (database.psql, "psql on the warehouse (--role loader|transformer|analyst|auditor)"),
}.items():
    command.short_help = short_help
    main.add_command(command, name)

COMMANDS = tuple(main.commands)


def run() -> None:
    """The console script's entry point."""
    cli.run(main, "ecom")
