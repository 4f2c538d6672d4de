"""python -m ingestion: stream CSV files from the inputs folder into PostgreSQL, exactly once.

python -m ingestion [run] [options]   watch the inputs folder (Ctrl-C stops cleanly)
python -m ingestion --once            process every file present, then exit
python -m ingestion status            last batches, totals, files waiting
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ingestion import job, sink, spark, status
from pipeline import cli, settings
from pipeline import config as config_module

EPILOG = """\
an option's variable (beside its default) may be set in the environment or .env
instead; every setting: docs/configuration.md.

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
    cli.setting_option(
        parser,
        "--input-dir",
        setting="input_dir",
        default=settings.input_dir(),
        type=Path,
        help="the inputs folder to watch",
    )
    cli.setting_option(
        parser,
        "--checkpoint-dir",
        setting="checkpoint_dir",
        default=settings.checkpoint_dir(),
        type=Path,
        help="Spark checkpoint",
    )
    cli.setting_option(
        parser,
        "--archive-dir",
        setting="archive_dir",
        default=settings.archive_dir(),
        type=Path,
        help="processed files go here with --processed archive",
    )
    cli.setting_option(
        parser,
        "--archive-days",
        setting="archive_days",
        type=cli.days,
        metavar="DAYS",
        help="the job deletes archived files this many days after archiving them; "
        "0 keeps them for ever",
    )
    cli.setting_option(
        parser,
        "--quarantine-dir",
        setting="quarantine_dir",
        default=settings.quarantine_dir(),
        type=Path,
        help="files that cannot be read as CSV text go here",
    )
    cli.setting_option(
        parser,
        "--settle-seconds",
        setting="settle_seconds",
        type=cli.seconds,
        metavar="SECONDS",
        help="a file the kernel says nothing about is complete once unchanged this long",
    )
    cli.setting_option(
        parser,
        "--part-mb",
        setting="part_mb",
        type=cli.positive_float,
        metavar="MB",
        help="a file bigger than this is handed to Spark in parts of at most this size, cut "
        "between records: memory stays bounded whatever the file's size",
    )
    cli.setting_option(
        parser,
        "--escape",
        setting="csv_escape",
        choices=("\\", ""),
        metavar="CHAR",
        help="read quotes escaped with a backslash inside quoted fields (\\\", as Spark's CSV "
        "writer and MySQL's INTO OUTFILE write them): --escape '\\'. Without it, RFC 4180's "
        'doubled quote (""), and a backslash-escaped field is quarantined as malformed, '
        "never loaded with stray quotes",
    )
    cli.setting_option(
        parser,
        "--naive-timezone",
        setting="naive_timezone",
        type=cli.zone,
        metavar="ZONE",
        help="read an event_time written without a zone (2026-11-25 10:00:00) as a wall time "
        "in this IANA zone, e.g. Europe/Berlin; the file ledger records it with each delivery. "
        "Without it such times are quarantined: they are ambiguous",
    )
    cli.setting_option(
        parser,
        "--processed",
        setting="processed_files",
        choices=("archive", "delete"),
        help="what happens to a file once all its rows are committed",
    )
    cli.setting_option(
        parser,
        "--trigger",
        setting="trigger_seconds",
        type=cli.seconds,
        metavar="SECONDS",
        help="micro-batch interval",
    )
    parser.add_argument(
        "--once", action="store_true", help="process every file present (in batches), then exit"
    )
    cli.setting_option(
        parser,
        "--max-files-per-trigger",
        setting="max_files_per_trigger",
        type=cli.positive_int,
        metavar="N",
        help="at most N parts (files, or parts of big ones) per micro-batch",
    )
    cli.setting_option(
        parser,
        "--max-mb-per-trigger",
        setting="max_mb_per_trigger",
        type=cli.positive_float,
        metavar="MB",
        help="and at most this many MB per micro-batch (at least one part): bounds memory; "
        "many small files go in one batch, big ones in several",
    )
    cli.setting_option(
        parser,
        "--master",
        setting="spark_master",
        help="Spark master URL, e.g. spark://host:7077",
    )
    parser.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Spark setting, e.g. --conf spark.executor.memory=2g (repeatable)",
    )
    cli.setting_option(
        parser,
        "--spark-ui",
        setting="spark_ui",
        action="store_true",
        help="serve Spark's web UI (jobs, stages, streaming queries) on loopback; it costs memory",
    )
    cli.setting_option(
        parser,
        "--spark-ui-port",
        setting="spark_ui_port",
        type=cli.port,
        metavar="PORT",
        help="its port; Spark tries the next ones when taken",
    )
    cli.setting_option(
        parser,
        "--metrics-port",
        setting="metrics_port",
        type=cli.port_or_off,
        metavar="PORT",
        help="serve Prometheus metrics on http://127.0.0.1:PORT/metrics: rows, files, batch "
        "seconds, lag, files waiting and in flight",
    )
    cli.setting_option(
        parser,
        "--metrics-host",
        setting="metrics_host",
        metavar="ADDRESS",
        help="the address it listens on; 0.0.0.0 in a container",
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
        help="keep retrying an unreachable PostgreSQL this long before failing "
        "(default: %(default)s)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


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
    log_level = config_module.env_name("spark_log_level")
    if args.verbose and log_level not in settings.environment():
        os.environ[log_level] = "warn"  # the session reads it from settings.current()
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
        part_bytes=config_module.megabytes(args.part_mb),
        master=args.master,
        trigger_seconds=args.trigger,
        once=args.once,
        max_files_per_trigger=args.max_files_per_trigger,
        max_bytes_per_trigger=config_module.megabytes(args.max_mb_per_trigger),
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
