"""python -m generator: fake e-commerce events as CSV files for the stream."""

from __future__ import annotations

import logging
import random
import signal
from types import SimpleNamespace

import click

from generator import run
from pipeline import cli, settings

PROG = "python -m generator"

DESCRIPTION = """\
Write fake e-commerce events (views, add-to-carts and purchases in browsing
sessions) as CSV files into the folder the streaming job watches.

modes:
  continuous (the default)  every --interval s, a file with the --rate events/s
                            of that interval, until Ctrl-C or SIGTERM (exit 0)
  batch                     --events N, or --files N --rows-per-file M; then exit
"""

EPILOG = """\
examples:
  # feed the stream: 1000 events/s, a file a second, until Ctrl-C
  {prog}
  # faster, and more often
  {prog} --rate 5000 --interval 0.5
  # the same million events, byte for byte, every time
  {prog} --events 1000000 --seed 7
  # 1% malformed rows and 0.5% repeated rows, for the quarantine and dedupe paths
  {prog} --files 20 --rows-per-file 500 --bad-rate 0.01 --duplicate-rate 0.005
  # 100 s of traffic from a given time, quietly
  {prog} --events 100000 --start-time 2026-11-25T09:00:00Z --quiet

Files are written as .<name>.csv.tmp in the output folder and renamed to
<name>.csv when complete, so a reader never sees half a file. Each file then
gets a line in the manifest (file, rows, bad_rows, duplicate_rows, sha256,
seed, created_at), the ground truth for reconciliation. The folders default to
ECOM_INPUT_DIR and ECOM_MANIFEST (environment, then .env), else
.warehouse/inputs and .warehouse/manifest.jsonl.
"""


def traffic_options(rate: float, bad_rate: float, duplicate_rate: float):
    """--rate, --interval, --bad-rate and --duplicate-rate, with these defaults: the
    generator's own, and live mode's (which starts the generator with them)."""
    return cli.options(
        click.option(
            "--rate",
            type=cli.positive_float,
            default=rate,
            metavar="R",
            help="events per second of event time",
        ),
        click.option(
            "--interval",
            type=cli.positive_float,
            default=1.0,
            metavar="S",
            help="continuous: seconds between files",
        ),
        click.option(
            "--bad-rate",
            type=cli.fraction,
            default=bad_rate,
            help="share of events replaced by malformed rows the ingestion must quarantine",
        ),
        click.option(
            "--duplicate-rate",
            type=cli.fraction,
            default=duplicate_rate,
            help="share of events after which an earlier row is sent again, verbatim (same "
            "event_id), on top of the events, as at-least-once delivery would",
        ),
    )


def _one_of(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """--events and --files exclude each other."""
    other = "files" if param.name == "events" else "events"
    if value is not None and ctx.params.get(other) is not None:
        raise click.UsageError(f"argument --{param.name}: not allowed with argument --{other}")
    return value


@click.command(cls=cli.Command, help=cli.verbatim(DESCRIPTION), epilog=cli.verbatim(EPILOG))
@click.option(
    "--events",
    type=cli.positive_int,
    callback=_one_of,
    help="batch: write N events, then exit",
)
@click.option(
    "--files", type=cli.positive_int, callback=_one_of, help="batch: write N files, then exit"
)
@click.option(
    "--rows-per-file",
    type=cli.positive_int,
    default=10_000,
    metavar="M",
    help="events per file (continuous mode: at most); duplicates come on top",
)
@traffic_options(rate=1000.0, bad_rate=0.0, duplicate_rate=0.0)
@click.option(
    "--seed",
    type=cli.integer,
    help="random seed; the same seed gives the same events (default: random, logged)",
)
@click.option(
    "--start-time",
    type=cli.utc_time,
    help="where the event clock starts, e.g. 2026-11-25T00:00:00Z; late events are up to an "
    "hour earlier (default: now in continuous mode; in batch mode 2026-11-01T00:00:00Z "
    "with --seed, else so that the events end now)",
)
@click.option(
    "--sessions",
    type=cli.positive_int,
    help="browsing sessions open at a time (default: rate x 10 s, at most 20000); fewer "
    "sessions complete their funnel sooner in small batches",
)
@cli.setting_option(
    "--output-dir",
    setting="input_dir",
    default=settings.input_dir,
    type=cli.path,
    metavar="DIR",
    help="the folder the stream watches",
)
@cli.setting_option(
    "--manifest",
    setting="manifest",
    default=settings.manifest_path,
    type=cli.path,
    metavar="FILE",
    help="manifest to append to, outside DIR",
)
@click.option("-q", "--quiet", is_flag=True, help="warnings and errors only")
@cli.verbose_option()
def main(**options) -> int:
    return generate(SimpleNamespace(**options))


def generate(args: SimpleNamespace) -> int:
    cli.configure_logging(args.verbose)
    if args.quiet:
        logging.getLogger("generator").setLevel(logging.WARNING)
    log = logging.getLogger("generator")

    batch = args.events is not None or args.files is not None
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    start_time = args.start_time
    if start_time is None and batch and args.seed is not None:
        start_time = run.SEEDED_BATCH_START
    config = run.Config(
        output_dir=args.output_dir,
        manifest=args.manifest,
        seed=seed,
        rate=args.rate,
        rows_per_file=args.rows_per_file,
        interval=args.interval,
        start_time=start_time,
        bad_rate=args.bad_rate,
        duplicate_rate=args.duplicate_rate,
        sessions=args.sessions,
    )
    log.info("seed %d (repeat this run with --seed %d)", seed, seed)

    stop = run.StopFlag()

    def request_stop(signum: int, _frame: object) -> None:
        # Never raise here: a file is finished, renamed and in the manifest, or not
        # started. Writing one takes milliseconds, so a second Ctrl-C just waits too.
        if not stop.is_set():
            log.info("%s: stopping after the current file", signal.Signals(signum).name)
        stop.set(signum)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    if batch:
        events = args.events if args.events is not None else args.files * args.rows_per_file
        summary = run.run_batch(config, events, stop)
    else:
        summary = run.run_continuous(config, stop)
    log.info("%s: %s", "stopped" if summary.stopped else "done", summary.describe())
    if batch and summary.stopped:
        return 128 + (stop.signal or signal.SIGINT)  # the batch is incomplete
    return 0


if __name__ == "__main__":
    cli.run(main, PROG)
