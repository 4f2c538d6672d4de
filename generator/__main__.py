"""python -m generator: fake e-commerce events as CSV files for the stream."""

from __future__ import annotations

import argparse
import logging
import random
import signal
import sys
from pathlib import Path

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

EPILOG = f"""\
examples:
  # feed the stream: 1000 events/s, a file a second, until Ctrl-C
  {PROG}
  # faster, and more often
  {PROG} --rate 5000 --interval 0.5
  # the same million events, byte for byte, every time
  {PROG} --events 1000000 --seed 7
  # 1% malformed rows and 0.5% repeated rows, for the quarantine and dedupe paths
  {PROG} --files 20 --rows-per-file 500 --bad-rate 0.01 --duplicate-rate 0.005
  # 100 s of traffic from a given time, quietly
  {PROG} --events 100000 --start-time 2026-11-25T09:00:00Z --quiet

Files are written as .<name>.csv.tmp in the output folder and renamed to
<name>.csv when complete, so a reader never sees half a file. Each file then
gets a line in the manifest (file, rows, bad_rows, duplicate_rows, sha256,
seed, created_at), the ground truth for reconciliation. The folders default to
ECOM_INPUT_DIR and ECOM_MANIFEST (environment, then .env), else
.warehouse/inputs and .warehouse/manifest.jsonl.
"""


def parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = cli.OneLineParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG.replace(PROG, prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = p.add_argument_group("what to write")
    how_many = mode.add_mutually_exclusive_group()
    how_many.add_argument(
        "--events", type=cli.positive_int, metavar="N", help="batch: write N events, then exit"
    )
    how_many.add_argument(
        "--files", type=cli.positive_int, metavar="N", help="batch: write N files, then exit"
    )
    mode.add_argument(
        "--rows-per-file",
        type=cli.positive_int,
        default=10_000,
        metavar="M",
        help="events per file (continuous mode: at most); duplicates come on top (default: 10000)",
    )
    mode.add_argument(
        "--rate",
        type=cli.positive_float,
        default=1000.0,
        metavar="R",
        help="events per second of event time (default: 1000)",
    )
    mode.add_argument(
        "--interval",
        type=cli.positive_float,
        default=1.0,
        metavar="S",
        help="continuous: seconds between files (default: 1.0)",
    )
    mode.add_argument(
        "--seed",
        type=cli.integer,
        help="random seed; the same seed gives the same events (default: random, logged)",
    )
    mode.add_argument(
        "--start-time",
        type=cli.utc_time,
        metavar="ISO",
        help="where the event clock starts, e.g. 2026-11-25T00:00:00Z; late events are up to an "
        "hour earlier (default: now in continuous mode; in batch mode 2026-11-01T00:00:00Z "
        "with --seed, else so that the events end now)",
    )
    mode.add_argument(
        "--sessions",
        type=cli.positive_int,
        metavar="N",
        help="browsing sessions open at a time (default: rate x 10 s, at most 20000); fewer "
        "sessions complete their funnel sooner in small batches",
    )
    faults = p.add_argument_group("fault injection (off by default)")
    faults.add_argument(
        "--bad-rate",
        type=cli.fraction,
        default=0.0,
        metavar="F",
        help="share of events replaced by malformed rows the ingestion must quarantine",
    )
    faults.add_argument(
        "--duplicate-rate",
        type=cli.fraction,
        default=0.0,
        metavar="F",
        help="share of events after which an earlier row is sent again, verbatim (same "
        "event_id), on top of the events, as at-least-once delivery would",
    )
    where = p.add_argument_group("where")
    cli.setting_option(
        where,
        "--output-dir",
        setting="input_dir",
        default=settings.input_dir(),
        type=Path,
        metavar="DIR",
        help="the folder the stream watches",
    )
    cli.setting_option(
        where,
        "--manifest",
        setting="manifest",
        default=settings.manifest_path(),
        type=Path,
        metavar="FILE",
        help="manifest to append to, outside DIR",
    )
    output = p.add_argument_group("output")
    output.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    output.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = parser(prog).parse_args(argv)
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
    cli.run_main(lambda: main(sys.argv[1:]), PROG)
