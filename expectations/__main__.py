"""python -m expectations: run the Great Expectations checkpoints that guard the warehouse."""

from __future__ import annotations

import logging
import textwrap

import click

from expectations import checkpoints
from pipeline import cli

log = logging.getLogger("expectations")

PROG = "python -m expectations"


def _checkpoint_list() -> str:
    lines = []
    for spec in checkpoints.CHECKPOINTS:
        lines.append(f"  {spec.name:<15}{spec.description}")
        lines += textwrap.wrap(
            ", ".join(spec.tables), width=78, initial_indent=" " * 17, subsequent_indent=" " * 17
        )
    return "\n".join(lines)


DESCRIPTION = """\
Great Expectations checkpoints that guard the warehouse. Expectations run
as SQL in PostgreSQL, connected as the read-only role ecom_auditor.

checkpoints:
"""

EPILOG = """\
examples:
  {prog} run --all
  {prog} run raw_layer
  {prog} sync --check

Prints one line per failed expectation and a summary per checkpoint,
stores each outcome in quality.checkpoint_runs and writes Data Docs to
expectations/gx/uncommitted/data_docs/local_site/index.html.
raw_layer checks the batches committed since its last passed run (the
ledger says which; the first run, or --full, checks every batch):
a failed run is checked again from the same batch on.
Suites are defined in expectations/suites.py. The GX context in
expectations/gx is written from the code by 'sync', never by hand;
'run' refuses a context that differs from the code.

exit status: 0 every expectation passed, 1 some failed,
             2 usage or setup error (unknown checkpoint, database
             unreachable, wrong password, table missing, context
             out of date)
Settings: PGHOST, PGPORT, PGDATABASE and ECOM_AUDITOR_PASSWORD, from the
environment, then .env (see .env.example)."""


def _logging(verbose: bool) -> None:
    cli.configure_logging(verbose)
    # GX logs every config substitution and default lookup at INFO.
    logging.getLogger("great_expectations").setLevel(logging.DEBUG if verbose else logging.WARNING)


@click.group(
    cls=cli.Group,
    help=cli.verbatim(DESCRIPTION + _checkpoint_list()),
    epilog=cli.verbatim(EPILOG),
)
@cli.verbose_option()
def main(verbose: bool) -> None:
    _logging(verbose)


@main.command("run", help="Run checkpoints; exit 0 only when every expectation passed.")
@click.argument("names", nargs=-1, metavar="[CHECKPOINT]...")
@click.option("--all", "run_all", is_flag=True, help="run every checkpoint, in layer order")
@click.option(
    "--full",
    is_flag=True,
    help="raw_layer: check every batch in raw, not only those committed since its last passed run",
)
@click.option(
    "--no-record",
    is_flag=True,
    help="do not store the outcome in quality.checkpoint_runs (so raw_layer's next run "
    "checks the same batches)",
)
def run_command(names: tuple[str, ...], run_all: bool, full: bool, no_record: bool) -> int:
    return _run(list(names), run_all, record=not no_record, full=full)


@main.command("list", help="List the checkpoints and the tables they validate.")
def list_command() -> int:
    print(_checkpoint_list())
    return 0


@main.command(
    "sync",
    help="Write suites, validation definitions and checkpoints from the code into "
    "expectations/gx: make the committed GX context equal to expectations/suites.py and "
    "checkpoints.py.",
)
@click.option(
    "--check",
    is_flag=True,
    help="only compare: exit 1 and list the differences if the context is out of date",
)
def sync_command(check: bool) -> int:
    return _sync(check)


def _run(names: list[str], run_all: bool, record: bool, full: bool) -> int:
    from expectations import runner

    if run_all and names:
        raise runner.CheckpointError("give checkpoint names or --all, not both")
    if not run_all and not names:
        raise runner.CheckpointError(
            f"which checkpoint? known: {', '.join(checkpoints.NAMES)} (or --all)"
        )
    failed = False
    chosen = list(checkpoints.NAMES) if run_all else names
    for outcome in runner.run(chosen, record=record, full=full):
        for failure in outcome.failures:
            print(failure.line())
        print(outcome.summary(), flush=True)
        failed = failed or not outcome.success
    print(f"Data Docs: {runner.data_docs_index()}")
    return 1 if failed else 0


def _sync(check: bool) -> int:
    from expectations import context

    changes = context.sync(context.open_context(), write=not check)
    for change in changes:
        print(f"{'out of date' if check else 'updated'}: {change}")
    if not changes:
        print(f"{context.GX_DIR} matches the code")
    return 1 if check and changes else 0


GX_DESCRIPTION = """\
The project's 'great_expectations' command. Great Expectations 1.x ships no
command line of its own (the 0.x CLI is gone); this one runs the project's
checkpoints in expectations/gx with the project's runner, the same as
'ecom checkpoint'.

usage:
  great_expectations checkpoint run CHECKPOINT [CHECKPOINT ...]
  great_expectations checkpoint run --all
  great_expectations checkpoint list
  great_expectations checkpoint --help     (every option of the runner)

exit status: 0 every expectation passed, 1 some failed, 2 usage or setup error"""


@click.group(cls=cli.Group, help=cli.verbatim(GX_DESCRIPTION))
def gx_main() -> None:
    pass


gx_main.add_command(main, "checkpoint")


def gx_command() -> None:
    """The ``great_expectations`` console script."""
    cli.run(gx_main, "great_expectations")


if __name__ == "__main__":
    cli.run(main, PROG)
