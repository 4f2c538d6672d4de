"""python -m expectations: run the Great Expectations checkpoints that guard the warehouse."""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap

from expectations import checkpoints
from pipeline import cli
from pipeline.errors import UserError

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


def _parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = cli.OneLineParser(
        prog=prog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent(
            """\
            Great Expectations checkpoints that guard the warehouse. Expectations run
            as SQL in PostgreSQL, connected as the read-only role ecom_auditor.

            checkpoints:
            """
        )
        + _checkpoint_list(),
        epilog=textwrap.dedent(
            """\
            examples:
              PROG run --all
              PROG run raw_layer
              PROG sync --check

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
        ).replace("PROG", prog),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="run checkpoints (names, or --all)",
        description="Run checkpoints; exit 0 only when every expectation passed.",
    )
    run.add_argument("names", nargs="*", metavar="CHECKPOINT", help=", ".join(checkpoints.NAMES))
    run.add_argument("--all", action="store_true", help="run every checkpoint, in layer order")
    run.add_argument(
        "--full",
        action="store_true",
        help="raw_layer: check every batch in raw, not only those committed since its last "
        "passed run",
    )
    run.add_argument(
        "--no-record",
        action="store_true",
        help="do not store the outcome in quality.checkpoint_runs (so raw_layer's next run "
        "checks the same batches)",
    )
    sub.add_parser("list", help="list the checkpoints and the tables they validate")
    sync = sub.add_parser(
        "sync",
        help="write suites, validation definitions and checkpoints from the code into expectations/gx",
        description="Make the committed GX context equal to expectations/suites.py and checkpoints.py.",
    )
    sync.add_argument(
        "--check",
        action="store_true",
        help="only compare: exit 1 and list the differences if the context is out of date",
    )
    return parser


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


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = _parser(prog).parse_args(argv)
    cli.configure_logging(args.verbose)
    # GX logs every config substitution and default lookup at INFO.
    logging.getLogger("great_expectations").setLevel(
        logging.DEBUG if args.verbose else logging.WARNING
    )
    if args.command == "list":
        print(_checkpoint_list())
        return 0
    if args.command == "sync":
        return _sync(args.check)
    return _run(args.names, args.all, record=not args.no_record, full=args.full)


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


def gx_main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(GX_DESCRIPTION)
        return 0 if argv else 2
    if argv[0] != "checkpoint":
        raise UserError(
            f"unknown command {argv[0]!r}: this project's great_expectations has only "
            "'checkpoint run' and 'checkpoint list' (see --help)"
        )
    return main(argv[1:], prog="great_expectations checkpoint")


def gx_command() -> None:
    """The ``great_expectations`` console script."""
    cli.run_main(gx_main, "great_expectations")


if __name__ == "__main__":
    cli.run_main(main, PROG)
    sys.exit(0)
