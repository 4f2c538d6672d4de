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

import argparse
import os
import shutil
import sys

from ecom import localdb
from pipeline import cli, db, partitions, settings


def _parser(prog: str = "ecom") -> argparse.ArgumentParser:
    parser = cli.OneLineParser(
        prog=prog,
        description="Database chores for the e-commerce streaming warehouse.",
        epilog="Settings come from the environment, then .env (see .env.example).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("up", help="start the project-managed PostgreSQL and apply the DDL")
    sub.add_parser("down", help="stop the project-managed PostgreSQL")
    sub.add_parser("status", help="does the server answer?")
    sub.add_parser("db", help="apply pending migrations, roles and grants, role passwords")
    sub.add_parser("destroy", help="stop the project-managed PostgreSQL and delete its data")
    maintain = sub.add_parser(
        "maintain",
        help="raw's partitions: create those ahead, drop those past --retention-days",
        description=(
            "Create raw's partitions ahead of the stream, and drop those older than the "
            "retention whose batches dbt has staged (each drop is recorded in "
            "raw.partitions_dropped). Live mode and the Compose stack run it on a schedule."
        ),
    )
    partitions.add_retention_argument(
        maintain,
        "--retention-days",
        "drop partitions of raw older than this, once staged; 0 keeps all",
    )
    psql = sub.add_parser("psql", help="psql with the project's settings")
    psql.add_argument(
        "--role",
        choices=settings.ROLES,
        help="connect as this role instead of the administrator",
    )
    return parser


def _exec(args: list[str], extra_env: dict[str, str] | None = None) -> None:
    env = settings.environment()
    env.update(extra_env or {})
    if shutil.which(args[0], path=env.get("PATH")) is None:
        raise settings.SettingsError(f"command not found: {args[0]}")
    os.execvpe(args[0], args, env)


def main(argv: list[str] | None = None, prog: str = "ecom") -> int:
    parser = _parser(prog)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "psql":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    passthrough = extra[1:] if extra[:1] == ["--"] else extra
    cli.configure_logging(args.verbose)
    if args.command == "up":
        localdb.up()
    elif args.command == "down":
        localdb.down()
    elif args.command == "status":
        return 0 if localdb.status() else 1
    elif args.command == "db":
        db.apply_schema()
    elif args.command == "maintain":
        made, dropped = partitions.maintain(args.retention_days)
        print(
            f"raw partitions: {made} created ahead, {len(dropped)} dropped"
            + ("" if args.retention_days else " (no retention set: ECOM_RAW_RETENTION_DAYS)")
        )
    elif args.command == "destroy":
        localdb.destroy()
    elif args.command == "psql":
        target = settings.connection(args.role)
        _exec(["psql", *passthrough], {"PGUSER": target.user, "PGPASSWORD": target.password or ""})
    return 0


if __name__ == "__main__":
    cli.run_main(main, "ecom")
    sys.exit(0)
