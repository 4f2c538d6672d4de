"""ecom COMMAND [ARGS]: every stage of the warehouse behind one command.

Each command hands its arguments to the stage's own parser, so ``ecom stream
--help`` is the streaming job's help. The Makefile's targets call these.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from pipeline import cli, settings

EXIT_CODES = """\
exit codes:
  0    done; every check passed
  1    done, but a check failed (a checkpoint, a dbt test, 'status' with the server down)
  2    a usage error or a problem you can fix, printed as one line: 'ecom CMD: error: ...'
  130  interrupted (Ctrl-C)
"""


def _pipeline(command: str) -> Callable[[list[str], str], int]:
    def run(argv: list[str], prog: str) -> int:
        from ecom.database import main

        return main([command, *argv], prog=prog.rsplit(" ", 1)[0])

    return run


def _generate(argv: list[str], prog: str) -> int:
    from generator.__main__ import main

    return main(argv, prog=prog)


def _stream(argv: list[str], prog: str) -> int:
    from ingestion.__main__ import main

    return main(argv, prog=prog)


def _ingest(argv: list[str], prog: str) -> int:
    from ingestion.__main__ import main

    return main(["--once", *argv], prog=prog)


def _status(argv: list[str], prog: str) -> int:
    from ecom.database import main as pipeline_main
    from ingestion.__main__ import main as ingestion_main

    if {"-h", "--help"} & set(argv):
        return ingestion_main(["status", *argv], prog=prog)
    server = pipeline_main(["status"], prog="ecom")
    return server or ingestion_main(["status", *argv], prog=prog)


def _dbt(argv: list[str], prog: str) -> int:
    """dbt with the project, its profile and the warehouse's settings, from any folder."""
    if argv in ([], ["-h"], ["--help"]):
        print(
            f"usage: {prog} DBT_COMMAND [DBT_ARGS]\n\n"
            "Runs dbt on the project's dbt_project with its profile (the transformer role)\n"
            "and the warehouse's settings, e.g. 'ecom dbt build', 'ecom dbt docs serve',\n"
            "'ecom dbt source freshness'. dbt's own help: 'ecom dbt build --help'.\n"
            "Exit codes are dbt's: 0 success, 1 a model or test failed, 2 dbt could not run."
        )
        return 0
    os.environ.update({**settings.environment(), **settings.dbt_environment()})
    from dbt.cli.main import cli as dbt_cli

    return dbt_cli.main(args=argv, prog_name="dbt")  # exits with dbt's own code


def _checkpoint(argv: list[str], prog: str) -> int:
    from expectations.__main__ import main

    return main(argv, prog=prog)


def _demo(argv: list[str], prog: str) -> int:
    from ecom.demo import main

    return main(argv, prog=prog, start=True)


def _live(argv: list[str], prog: str) -> int:
    from ecom.live import main

    return main(argv, prog=prog)


def _dashboard(argv: list[str], prog: str) -> int:
    from dashboard.__main__ import main

    return main(argv, prog=prog)


# name: (one line of help, handler)
COMMANDS: dict[str, tuple[str, Callable[[list[str], str], int]]] = {
    "up": (
        "start the project-managed PostgreSQL (or use yours) and migrate the schema",
        _pipeline("up"),
    ),
    "down": ("stop the project-managed PostgreSQL", _pipeline("down")),
    "db": ("apply pending schema migrations, then the roles and grants", _pipeline("db")),
    "maintain": (
        "raw's partitions: create those ahead, drop those past the retention",
        _pipeline("maintain"),
    ),
    "destroy": ("stop the project-managed PostgreSQL and delete its data", _pipeline("destroy")),
    "status": ("the server, both streaming checkpoints, the file and batch ledgers", _status),
    "generate": ("fake e-commerce events as CSV files into the inputs folder", _generate),
    "stream": ("the streaming job: inputs folder -> raw, exactly once, until Ctrl-C", _stream),
    "ingest": (
        "ingest every file waiting in the inputs folder, then exit (stream --once)",
        _ingest,
    ),
    "dbt": ("dbt with the project, its profile and the warehouse's settings", _dbt),
    "checkpoint": ("Great Expectations checkpoints: run NAME... | run --all | list", _checkpoint),
    "demo": ("the whole pipeline end to end on a seeded data set, with a report", _demo),
    "live": ("generator + stream + dbt cycles + checkpoints, a status line per cycle", _live),
    "dashboard": ("the marts in a browser, as the analyst role", _dashboard),
    "psql": (
        "psql on the warehouse (--role loader|transformer|analyst|auditor)",
        _pipeline("psql"),
    ),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: ecom COMMAND [ARGS]   ('ecom COMMAND --help' for one command)",
        "",
        "The e-commerce streaming warehouse: Spark streams CSV events into PostgreSQL",
        "exactly once, dbt models them, Great Expectations checks them.",
        "",
        "commands:",
        *(f"  {name:<{width}}  {text}" for name, (text, _) in COMMANDS.items()),
        "",
        "Settings come from the environment, then .env (libpq's PGHOST, PGPORT, ...; see",
        ".env.example). Without PGHOST, 'ecom up' starts a project-managed PostgreSQL.",
        "",
        EXIT_CODES,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"ecom: error: unknown command {name!r} (see 'ecom --help')", file=sys.stderr)
        return 2
    return COMMANDS[name][1](rest, f"ecom {name}")


def run() -> None:
    """The console script's entry point."""
    prog = f"ecom {sys.argv[1]}" if len(sys.argv) > 1 and sys.argv[1] in COMMANDS else "ecom"
    cli.run_main(main, prog)
