"""python -m ingestion: stream CSV files from the inputs folder into PostgreSQL, exactly once.

python -m ingestion [run] [options]   watch the inputs folder (Ctrl-C stops cleanly)
python -m ingestion --once            process every file present, then exit
python -m ingestion status            last batches, totals, files waiting
"""

from __future__ import annotations

import argparse
import os
import sys
import zoneinfo
from pathlib import Path

from ingestion import job, sink, spark, status
from pipeline import cli, settings

EPILOG = """\
every option can also be set in the environment (or .env): ECOM_INPUT_DIR,
ECOM_CHECKPOINT_DIR, ECOM_ARCHIVE_DIR, ECOM_QUARANTINE_DIR, ECOM_TRIGGER_SECONDS,
ECOM_MAX_FILES_PER_TRIGGER, ECOM_MAX_MB_PER_TRIGGER, ECOM_SPARK_MASTER,
ECOM_PROCESSED_FILES, ECOM_ARCHIVE_DAYS, ECOM_SETTLE_SECONDS, ECOM_CSV_ESCAPE,
ECOM_NAIVE_TIMEZONE, ECOM_METRICS_PORT, ECOM_METRICS_HOST.

what the inputs folder takes: any *.csv or *.tsv file, also compressed (gzip,
bzip2, xz, zstd: told by its bytes, whatever its name, e.g. orders.csv.gz), in
the folder or in subfolders at any depth (2026/11/25/orders.csv), whatever its
name, age or size. Hidden and _-prefixed names (.x.tmp, _temporary/, _SUCCESS)
are left alone; any other file (orders.xlsx) is left where it is, with one
warning, and listed by `status`. A file renamed in, or closed by its writer, is
taken at once (Linux inotify); one the kernel says nothing about (already
there at start, written over a network mount, no inotify) once unchanged for
--settle-seconds. The same name delivered again is ingested again, as a new
delivery.

what a file may hold: a header mapped by name (any order, any case, quoted or
not; columns beyond the contract are kept in raw.ecommerce_events.extra_columns),
separated by , ; tab or | (the header tells which), RFC 4180 quoting, event
times in every ISO 8601 / RFC 3339 spelling with a zone (without one: quarantined,
unless --naive-timezone names their zone). A file that is not CSV
text (UTF-16, binary, a zip archive, unreadable), lacks a contract column or
names one twice, or is a link or a special file (never opened) is moved to the
quarantine folder and recorded in raw.ingestion_files with the reason.
The loader connects as ecom_loader with PGHOST/PGPORT/PGDATABASE and
ECOM_LOADER_PASSWORD.

examples:
  python -m ingestion                         # stream until Ctrl-C
  python -m ingestion --once                  # drain the inputs folder and exit
  python -m ingestion --master spark://host:7077
  python -m ingestion status
"""


PROG = "python -m ingestion"


def _parser(prog: str = PROG) -> argparse.ArgumentParser:
    env = settings.get
    parser = cli.OneLineParser(
        prog=prog,
        description="Spark Structured Streaming: CSV files -> raw.ecommerce_events, exactly once; "
        "bad rows -> raw.ecommerce_events_rejected with their reasons.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", nargs="?", choices=("run", "status"), default="run")
    parser.add_argument(
        "--require-batch",
        action="store_true",
        help="with status: exit 1 until a first micro-batch has committed (a healthcheck)",
    )
    parser.add_argument(
        "--input-dir",
        type=Path,
        default=settings.input_dir(),
        help="the inputs folder to watch (default: %(default)s)",
    )
    parser.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=settings.checkpoint_dir(),
        help="Spark checkpoint (default: %(default)s)",
    )
    parser.add_argument(
        "--archive-dir",
        type=Path,
        default=settings.archive_dir(),
        help="processed files go here with --processed archive (default: %(default)s)",
    )
    parser.add_argument(
        "--archive-days",
        type=cli.days,
        default=env("ECOM_ARCHIVE_DAYS", "7"),
        metavar="DAYS",
        help="the job deletes archived files this many days after archiving them; "
        "0 keeps them for ever (default: %(default)s)",
    )
    parser.add_argument(
        "--quarantine-dir",
        type=Path,
        default=settings.quarantine_dir(),
        help="files that cannot be read as CSV text go here (default: %(default)s)",
    )
    parser.add_argument(
        "--settle-seconds",
        type=cli.seconds,
        default=env("ECOM_SETTLE_SECONDS", "5"),  # a string: argparse converts it, or says why not
        metavar="SECONDS",
        help="a file the kernel says nothing about is complete once unchanged this long "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--part-mb",
        type=cli.positive_float,
        default=env("ECOM_PART_MB", "8"),
        metavar="MB",
        help="a file bigger than this is handed to Spark in parts of at most this size, cut "
        "between records: memory stays bounded whatever the file's size (default: %(default)s)",
    )
    parser.add_argument(
        "--escape",
        choices=("\\", ""),
        default=env("ECOM_CSV_ESCAPE", ""),
        metavar="CHAR",
        help="read quotes escaped with a backslash inside quoted fields (\\\", as Spark's CSV "
        "writer and MySQL's INTO OUTFILE write them): --escape '\\'. Without it, RFC 4180's "
        'doubled quote (""), and a backslash-escaped field is quarantined as malformed, '
        "never loaded with stray quotes (default: none)",
    )
    parser.add_argument(
        "--naive-timezone",
        type=_zone,
        default=env("ECOM_NAIVE_TIMEZONE", ""),
        metavar="ZONE",
        help="read an event_time written without a zone (2026-11-25 10:00:00) as a wall time "
        "in this IANA zone, e.g. Europe/Berlin; the file ledger records it with each delivery. "
        "Without it such times are quarantined: they are ambiguous (default: none)",
    )
    parser.add_argument(
        "--processed",
        choices=("archive", "delete"),
        default=env("ECOM_PROCESSED_FILES", "archive"),
        help="what happens to a file once all its rows are committed (default: %(default)s)",
    )
    parser.add_argument(
        "--trigger",
        type=cli.seconds,
        default=env("ECOM_TRIGGER_SECONDS", "0.25"),
        metavar="SECONDS",
        help="micro-batch interval (default: %(default)s)",
    )
    parser.add_argument(
        "--once", action="store_true", help="process every file present (in batches), then exit"
    )
    parser.add_argument(
        "--max-files-per-trigger",
        type=cli.positive_int,
        default=env("ECOM_MAX_FILES_PER_TRIGGER", "1000"),
        metavar="N",
        help="at most N parts (files, or parts of big ones) per micro-batch (default: %(default)s)",
    )
    parser.add_argument(
        "--max-mb-per-trigger",
        type=cli.positive_float,
        default=env("ECOM_MAX_MB_PER_TRIGGER", "256"),
        metavar="MB",
        help="and at most this many MB per micro-batch (at least one part): bounds memory; "
        "many small files go in one batch, big ones in several (default: %(default)s)",
    )
    parser.add_argument(
        "--master",
        default=env("ECOM_SPARK_MASTER", "local[*]"),
        help="Spark master URL, e.g. spark://host:7077 (default: %(default)s)",
    )
    parser.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Spark setting, e.g. --conf spark.executor.memory=2g (repeatable)",
    )
    parser.add_argument(
        "--spark-ui",
        action="store_true",
        default=env("ECOM_SPARK_UI", "") == "1",
        help="serve Spark's web UI (jobs, stages, streaming queries) on loopback; "
        "off by default, it costs memory (ECOM_SPARK_UI=1)",
    )
    parser.add_argument(
        "--spark-ui-port",
        type=cli.port,
        default=env("ECOM_SPARK_UI_PORT", "4040"),
        metavar="PORT",
        help="its port; Spark tries the next ones when taken (default: %(default)s)",
    )
    parser.add_argument(
        "--metrics-port",
        type=cli.port_or_off,
        default=env("ECOM_METRICS_PORT", ""),
        metavar="PORT",
        help="serve Prometheus metrics on http://127.0.0.1:PORT/metrics: rows, files, batch "
        "seconds, lag, files waiting and in flight (default: off)",
    )
    parser.add_argument(
        "--metrics-host",
        default=env("ECOM_METRICS_HOST", "127.0.0.1"),
        metavar="ADDRESS",
        help="the address it listens on; 0.0.0.0 in a container (default: %(default)s)",
    )
    parser.add_argument(
        "--stream-name",
        default="ecommerce_events",
        help="name in logs and the ledger (default: %(default)s)",
    )
    parser.add_argument(
        "--db-retry-seconds",
        type=cli.seconds,
        default=120.0,
        metavar="SECONDS",
        help="keep retrying an unreachable PostgreSQL this long before failing (default: %(default)s)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _zone(name: str) -> str:
    """An IANA time zone name, or "" (none)."""
    if name:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise argparse.ArgumentTypeError(
                f"unknown time zone {name!r}: give an IANA name such as Europe/Berlin or UTC"
            ) from exc
    return name


def _spark_conf(pairs: list[str]) -> dict[str, str]:
    conf = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.startswith("spark."):
            raise settings.SettingsError(f"--conf takes spark.KEY=VALUE, got {pair!r}")
        conf[key] = value
    return conf


def _spark_ui_conf(args: argparse.Namespace) -> dict[str, str]:
    if not args.spark_ui:
        return {}
    return {"spark.ui.enabled": "true", "spark.ui.port": str(args.spark_ui_port)}


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = _parser(prog).parse_args(argv)
    cli.configure_logging(args.verbose)
    if args.verbose:
        os.environ.setdefault("ECOM_SPARK_LOG_LEVEL", "warn")
    if args.command == "status":
        print(status.report(args.input_dir, args.checkpoint_dir))
        return 1 if args.require_batch and status.committed_batches() == 0 else 0
    config = job.JobConfig(
        input_dir=args.input_dir,
        checkpoint_dir=args.checkpoint_dir,
        archive_dir=args.archive_dir,
        archive_days=args.archive_days,
        quarantine_dir=args.quarantine_dir,
        settle_seconds=args.settle_seconds,
        part_bytes=max(1, int(args.part_mb * (1 << 20))),
        master=args.master,
        trigger_seconds=args.trigger,
        once=args.once,
        max_files_per_trigger=args.max_files_per_trigger,
        max_bytes_per_trigger=max(1, int(args.max_mb_per_trigger * (1 << 20))),
        processed=args.processed,
        escape=args.escape or None,
        naive_timezone=args.naive_timezone or None,
        stream_name=args.stream_name,
        db_retry_seconds=args.db_retry_seconds,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        spark_conf={**_spark_ui_conf(args), **_spark_conf(args.conf)},
    )
    job.run(config)
    return 0


if __name__ == "__main__":
    cli.USER_ERRORS = (job.IngestionError, sink.SinkError, spark.JavaMissing)
    cli.run_main(main, PROG)
    sys.exit(0)
