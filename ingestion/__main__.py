"""python -m ingestion: stream CSV files from the inputs folder into PostgreSQL, exactly once.

python -m ingestion [run] [options]   watch the inputs folder (Ctrl-C stops cleanly)
python -m ingestion --once            process every file present, then exit
python -m ingestion status            last batches, totals, files waiting

The same commands are ``ecom stream``, ``ecom ingest`` (``--once``) and ``ecom status``;
their options are declared once here (``folder_options``, ``stream_options``).
"""

from __future__ import annotations

import os
from typing import Any

import click

from pipeline import cli, settings
from pipeline import config as config_module

EPILOG = """\
An option's variable (beside its default) may be set in the environment or .env
instead; every setting: docs/configuration.md. What the inputs folder takes
(names, subfolders, compression, headers, delimiters, quoting, times) and how a
file is claimed, cut, loaded and quarantined: docs/ingestion.md.

examples:
  {prog}                         # stream until Ctrl-C
  {prog} --once                  # drain the inputs folder and exit
  {prog} --master spark://host:7077
"""

DESCRIPTION = (
    "Spark Structured Streaming: CSV files -> raw.ecommerce_events, exactly once; "
    "bad rows -> raw.ecommerce_events_rejected with their reasons."
)


PROG = "python -m ingestion"


folder_options = cli.options(
    cli.setting_option(
        "--input-dir",
        setting="input_dir",
        default=settings.input_dir,
        type=cli.path,
        help="the inputs folder to watch",
    ),
    cli.setting_option(
        "--checkpoint-dir",
        setting="checkpoint_dir",
        default=settings.checkpoint_dir,
        type=cli.path,
        help="Spark checkpoint",
    ),
)

stream_options = cli.options(
    folder_options,
    cli.setting_option(
        "--archive-dir",
        setting="archive_dir",
        default=settings.archive_dir,
        type=cli.path,
        help="processed files go here with --processed archive",
    ),
    cli.setting_option(
        "--archive-days",
        setting="archive_days",
        type=cli.days,
        help="the job deletes archived files this many days after archiving them; "
        "0 keeps them for ever",
    ),
    cli.setting_option(
        "--quarantine-dir",
        setting="quarantine_dir",
        default=settings.quarantine_dir,
        type=cli.path,
        help="files that cannot be read as CSV text go here",
    ),
    cli.setting_option(
        "--settle-seconds",
        setting="settle_seconds",
        type=cli.seconds,
        help="a file the kernel says nothing about is complete once unchanged this long",
    ),
    cli.setting_option(
        "--part-mb",
        setting="part_mb",
        type=cli.positive_float,
        metavar="MB",
        help="a file bigger than this is handed to Spark in parts of at most this size, cut "
        "between records: memory stays bounded whatever the file's size",
    ),
    cli.setting_option(
        "--escape",
        setting="csv_escape",
        type=click.Choice(("\\", "")),
        metavar="CHAR",
        help="read quotes escaped with a backslash inside quoted fields (\\\", as Spark's CSV "
        "writer and MySQL's INTO OUTFILE write them): --escape '\\'. Without it, RFC 4180's "
        'doubled quote (""), and a backslash-escaped field is quarantined as malformed, '
        "never loaded with stray quotes",
    ),
    cli.setting_option(
        "--naive-timezone",
        setting="naive_timezone",
        type=cli.zone,
        help="read an event_time written without a zone (2026-11-25 10:00:00) as a wall time "
        "in this IANA zone, e.g. Europe/Berlin; the file ledger records it with each delivery. "
        "Without it such times are quarantined: they are ambiguous",
    ),
    cli.setting_option(
        "--processed",
        setting="processed_files",
        type=click.Choice(("archive", "delete")),
        help="what happens to a file once all its rows are committed",
    ),
    cli.setting_option(
        "--trigger", setting="trigger_seconds", type=cli.seconds, help="micro-batch interval"
    ),
    cli.setting_option(
        "--max-files-per-trigger",
        setting="max_files_per_trigger",
        type=cli.positive_int,
        help="at most N parts (files, or parts of big ones) per micro-batch",
    ),
    cli.setting_option(
        "--max-mb-per-trigger",
        setting="max_mb_per_trigger",
        type=cli.positive_float,
        metavar="MB",
        help="and at most this many MB per micro-batch (at least one part): bounds memory; "
        "many small files go in one batch, big ones in several",
    ),
    cli.setting_option(
        "--master", setting="spark_master", help="Spark master URL, e.g. spark://host:7077"
    ),
    click.option(
        "--conf",
        multiple=True,
        metavar="KEY=VALUE",
        help="a Spark setting, e.g. --conf spark.executor.memory=2g (repeatable)",
    ),
    cli.setting_option(
        "--spark-ui",
        setting="spark_ui",
        is_flag=True,
        help="serve Spark's web UI (jobs, stages, streaming queries) on loopback; it costs memory",
    ),
    cli.setting_option(
        "--spark-ui-port",
        setting="spark_ui_port",
        type=cli.port,
        help="its port; Spark tries the next ones when taken",
    ),
    cli.setting_option(
        "--metrics-port",
        setting="metrics_port",
        type=cli.port_or_off,
        help="serve Prometheus metrics on http://127.0.0.1:PORT/metrics: rows, files, batch "
        "seconds, lag, files waiting and in flight",
    ),
    cli.setting_option(
        "--metrics-host",
        setting="metrics_host",
        metavar="ADDRESS",
        help="the address it listens on; 0.0.0.0 in a container",
    ),
    click.option("--stream-name", default="ecommerce_events", help="name in logs and the ledger"),
    click.option(
        "--db-retry-seconds",
        type=cli.seconds,
        default=120.0,
        help="keep retrying an unreachable PostgreSQL this long before failing",
    ),
    cli.verbose_option(),
)


def _spark_conf(pairs: tuple[str, ...]) -> dict[str, str]:
    conf = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.startswith("spark."):
            raise settings.SettingsError(f"--conf takes spark.KEY=VALUE, got {pair!r}")
        conf[key] = value
    return conf


def _logging(verbose: bool) -> None:
    cli.configure_logging(verbose)
    log_level = config_module.env_name("spark_log_level")
    if verbose and log_level not in settings.environment():
        os.environ[log_level] = "warn"  # the session reads it from settings.current()


def stream(
    *, once: bool, conf: tuple[str, ...], spark_ui: bool, spark_ui_port: int, **o: Any
) -> int:
    """Run the streaming job with the options of ``stream_options``."""
    from ingestion import job

    _logging(o["verbose"])
    ui = {"spark.ui.enabled": "true", "spark.ui.port": str(spark_ui_port)} if spark_ui else {}
    config = job.JobConfig(
        input_dir=o["input_dir"],
        checkpoint_dir=o["checkpoint_dir"],
        archive_dir=o["archive_dir"],
        archive_days=o["archive_days"],
        quarantine_dir=o["quarantine_dir"],
        settle_seconds=o["settle_seconds"],
        part_bytes=config_module.megabytes(o["part_mb"]),
        master=o["master"],
        trigger_seconds=o["trigger"],
        once=once,
        max_files_per_trigger=o["max_files_per_trigger"],
        max_bytes_per_trigger=config_module.megabytes(o["max_mb_per_trigger"]),
        processed=o["processed"],
        escape=o["escape"] or None,
        naive_timezone=o["naive_timezone"] or None,
        stream_name=o["stream_name"],
        db_retry_seconds=o["db_retry_seconds"],
        metrics_port=o["metrics_port"],
        metrics_host=o["metrics_host"],
        spark_conf={**ui, **_spark_conf(conf)},
    )
    job.run(config)
    return 0


def report(input_dir, checkpoint_dir, require_batch: bool) -> int:
    """``status``: last batches, totals, files waiting; with ``require_batch``, 1 until
    a first micro-batch has committed."""
    from ingestion import status

    print(status.report(input_dir, checkpoint_dir))
    return 1 if require_batch and status.committed_batches() == 0 else 0


# status takes the stream's command line (it reads the folders), and --require-batch
status_options = cli.options(
    stream_options,
    click.option(
        "--require-batch",
        is_flag=True,
        help="exit 1 until a first micro-batch has committed (a healthcheck)",
    ),
    click.option("--once", is_flag=True, hidden=True),  # the stream's, taken and unused
)


@click.group(cls=cli.DefaultGroup, default="run", help=DESCRIPTION, epilog=cli.verbatim(EPILOG))
def main() -> None:
    pass


@main.command("run", help=DESCRIPTION, epilog=cli.verbatim(EPILOG))
@stream_options
@click.option("--once", is_flag=True, help="process every file present (in batches), then exit")
def run_command(**options: Any) -> int:
    return stream(**options)


STATUS_HELP = (
    "The file and batch ledgers: last batches, totals, files waiting. It takes the "
    "stream's options, so that the stream's own command line works with 'status'; "
    "the folders are what it reads."
)


@main.command("status", help=STATUS_HELP)
@status_options
def status_command(input_dir, checkpoint_dir, require_batch: bool, **_stream: Any) -> int:
    cli.configure_logging(_stream["verbose"])
    return report(input_dir, checkpoint_dir, require_batch)


if __name__ == "__main__":
    cli.run(main, PROG)
