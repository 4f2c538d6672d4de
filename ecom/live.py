"""`make live`: the whole pipeline running continuously, one status line per cycle.

Starts the generator (continuous, ``--rate`` events/s) and the streaming job as
child processes (their logs go to files), then loops: every ``--every``
seconds ``dbt run`` (in this process, parsed once; the incremental models read
only the new rows; a cycle starts on a stream commit within half a second of
its time, so that it stages the batch just committed), and every
``--checkpoint-every`` seconds a run of every model, after which the Great
Expectations checkpoints run in a child process while the cycles go on (each
expectation reads one table, which is always in a committed state). After each cycle one line:

    12:00:31 cycle 7   in 5,000 ev/s | loaded 151,204 +25,020 (4,995/s) quarantined 0 | waiting 1 file | dbt 2.9s | freshness 4.3s | GX ok 105/105 (21s ago)

- in: events the generator wrote per second since the last line (its manifest);
- loaded / quarantined: rows committed by the stream since start (its ledger);
- freshness: now minus the newest event the marts hold
  (``max(marts.fct_revenue_hourly.last_event_at)``), right after the cycle;
  an event that lands just after a cycle started waits for the next one, so
  the worst case for a single event is about freshness + one cycle.

Ctrl-C (or SIGTERM, or ``--duration``) stops the generator, lets the stream
finish its batch, runs a last dbt cycle so the marts hold everything loaded,
and prints a summary with the freshness percentiles of the cycles before the
stop (after it, now minus the newest event measures the stop, not the lag; the
last cycle is reported on its own line). A second Ctrl-C skips the last cycle.
"""

from __future__ import annotations

import logging
import signal
import statistics
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import click
import psycopg2

from ecom import children, dbt_runner, live_gx
from ecom import live_measures as measures
from generator import manifest
from generator.__main__ import traffic_options
from pipeline import cli, db, partitions, settings
from pipeline.errors import UserError

log = logging.getLogger("live")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How often raw's partitions are maintained (ahead, and retention), after a dbt run.
MAINTAIN_SECONDS = 60.0
# What a regular cycle rebuilds: the incremental models, whose cost follows the new
# events (the daily facts included: they fold new events in, see their headers).
INCREMENTAL = ["--select", "config.materialized:incremental"]
# A cycle is due --every s after the previous one started; it starts on the
# first stream commit within this window around that time (or at its end).
COMMIT_WINDOW = 1.0


class LiveError(UserError):
    """A part of the live pipeline failed; the message says which and where its log is."""


PROG = "ecom live"


_options = cli.options(
    traffic_options(rate=5000.0, bad_rate=0.001, duplicate_rate=0.001),
    click.option(
        "--every",
        type=cli.seconds,
        default=5.0,
        help="start a dbt cycle about this often: on the first stream commit within half a "
        "second of it, so that it stages the newest batch; cycles never overlap",
    ),
    click.option(
        "--checkpoint-every",
        type=cli.seconds,
        default=300.0,
        help="this often, a cycle rebuilds every model (not only the incremental ones) and "
        "starts the checkpoints in the background, while the cycles go on; 0: incremental "
        "models only, no checkpoints",
    ),
    click.option(
        "--duration",
        type=cli.seconds,
        help="stop by itself after this long (default: run until Ctrl-C)",
    ),
    click.option(
        "--keep-files",
        is_flag=True,
        help="archive processed files instead of deleting them (fills the disk at high rates)",
    ),
    click.option(
        "--no-generator",
        is_flag=True,
        help="do not start the generator: stream whatever lands in the inputs folder",
    ),
    partitions.retention_option(
        "--raw-retention-days",
        "every minute, create raw's partitions ahead and drop those older than DAYS whose "
        "batches dbt has staged (ecom maintain); 0 drops nothing",
    ),
    cli.setting_option(
        "--metrics-port",
        setting="metrics_port",
        type=cli.port_or_off,
        help="serve Prometheus metrics on http://127.0.0.1:PORT/metrics (dbt cycle seconds, "
        "mart freshness, checkpoint outcomes), and the stream's on PORT+1",
    ),
    cli.verbose_option("debug logging, also in dbt's log file (every statement of every cycle)"),
)


# --------------------------------------------------------------------------- dbt


# --------------------------------------------------------------------------- the loop


class Live:
    def __init__(self, args: SimpleNamespace) -> None:
        self.args = args
        self.stop_requested = 0
        self.children: list[children.Child] = []
        self.totals = measures.Totals()
        self.gx = live_gx.GxStatus()
        self.last_full: float | None = None
        self.last_maintained = float("-inf")  # monotonic time of raw's last maintenance
        self.log_dir = settings.state_dir() / "live"
        self.checks = live_gx.BackgroundCheckpoints(self.log_dir)
        self.input_dir = settings.input_dir()
        self.metrics = measures.LiveMetrics(self.gx) if args.metrics_port else None

    def request_stop(self, signum: int, _frame: object) -> None:
        self.stop_requested += 1
        if self.stop_requested == 1:
            log.info("%s: stopping (again to skip the last dbt cycle)", signal.Signals(signum).name)
        else:
            raise KeyboardInterrupt

    def start_children(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.input_dir.mkdir(parents=True, exist_ok=True)
        stream_args = [
            "-m",
            "ingestion",
            "--processed",
            "archive" if self.args.keep_files else "delete",
        ]
        if self.args.metrics_port:
            stream_args += ["--metrics-port", str(self.args.metrics_port + 1)]
        self.children.append(children.start("stream", stream_args, self.log_dir))
        if not self.args.no_generator:
            generator_args = [
                "-m",
                "generator",
                "--rate",
                str(self.args.rate),
                "--interval",
                str(self.args.interval),
                "--bad-rate",
                str(self.args.bad_rate),
                "--duplicate-rate",
                str(self.args.duplicate_rate),
            ]
            self.children.append(children.start("generator", generator_args, self.log_dir))

    def check_children(self) -> None:
        for child in self.children:
            if not child.alive():
                raise LiveError(
                    f"the {child.name} stopped (exit {child.process.returncode}); "
                    f"its log {child.log_path} ends with:\n{child.tail()}"
                )

    def stop_children(self) -> None:
        # The generator first: every file it finishes is then in the folder for the stream.
        for child in sorted(self.children, key=lambda c: c.name != "generator"):
            code = child.stop(timeout=60)
            log.info("the %s stopped (exit %s)", child.name, code)

    def maintain(self) -> None:
        """raw's partitions: ahead of the stream, and past the retention once staged
        (after a dbt run, which is what lets a partition go)."""
        self.last_maintained = time.monotonic()
        try:
            _made, dropped = partitions.maintain(self.args.raw_retention_days)
        except (UserError, psycopg2.Error) as exc:
            log.warning("raw's partition maintenance failed (%s); trying again later", exc)
            return
        self.totals.partitions_dropped += len(dropped)

    def cycle(
        self,
        number: int,
        dbt: dbt_runner.Project,
        generated: manifest.Tail,
        started_at: datetime,
        last: bool = False,
    ) -> None:
        began = time.monotonic()
        # what this dbt run will find, at least
        loaded, rejected = measures.ledger_since(started_at)
        # Most cycles run the incremental models only (the marts of events);
        # now and then, and last, the whole project, then the checkpoints:
        # they compare marts with staging, so they need every table rebuilt.
        # Not before the stream has delivered: on empty tables they would fail.
        full = last or (
            self.args.checkpoint_every > 0
            and loaded + rejected > 0
            and (self.last_full is None or began - self.last_full >= self.args.checkpoint_every)
        )
        dbt_seconds = dbt.run(None if full else INCREMENTAL)
        self.totals.dbt_seconds.append(dbt_seconds)
        freshness = measures.freshness(started_at)
        if self.metrics is not None:
            self.metrics.cycle(dbt_seconds, freshness)
        self.check(full, last)
        if time.monotonic() - self.last_maintained >= MAINTAIN_SECONDS:
            self.maintain()
        line = f"dbt {'all' if full else 'incr'} {dbt_seconds:.1f}s ({dbt.slowest})"
        self.report(number, began, line, freshness, generated, started_at, last)

    def check(self, full: bool, last: bool) -> None:
        """After a full cycle, the checkpoints: in the background, or, last, here."""
        self.checks.collect(self.gx)  # the background run, if it has finished
        if full and self.args.checkpoint_every > 0 and self.stop_requested < 2:
            if last:
                # nothing else runs any more: wait for the background run, then
                # check the final state here
                self.checks.collect(self.gx, wait=300)
                live_gx.run_checkpoints(self.gx, list(live_gx.CHECKPOINTS))
            elif not self.checks.running():
                self.checks.start()
            else:
                log.info("the checkpoints still run: the next turn starts after them")
        if full:
            self.last_full = time.monotonic()  # the period counts from the end of the checkpoints

    def report(
        self,
        number: int,
        began: float,
        dbt_line: str,
        freshness: float | None,
        generated: manifest.Tail,
        started_at: datetime,
        last: bool,
    ) -> None:
        """The cycle's status line, and its figures into the run's totals."""
        loaded, rejected = measures.ledger_since(started_at)
        new_loaded = loaded - self.totals.loaded
        self.totals.loaded, self.totals.rejected = loaded, rejected
        generated_rows = sum(entry["rows"] for entry in generated.new_entries())
        self.totals.generated += generated_rows
        now = time.monotonic()
        seconds = max(now - getattr(self, "_last_line", began), 1e-6)
        self._last_line = now
        self.totals.cycle_seconds.append(now - began)
        if freshness is not None and last:
            # after the stop nothing newer arrives: now - newest event is the
            # stop's time, not the pipeline's lag
            self.totals.final_freshness = freshness
        elif freshness is not None:
            self.totals.freshness.append(freshness)
        print(
            f"{datetime.now().strftime('%H:%M:%S')} cycle {number:<3} "
            f"in {generated_rows / seconds:,.0f} ev/s | "
            f"loaded {loaded:,} +{new_loaded:,} ({new_loaded / seconds:,.0f}/s) "
            f"quarantined {rejected:,} | "
            f"waiting {measures.plural(measures.waiting_files(self.input_dir), 'file')} | "
            f"{dbt_line} | "
            f"freshness {'-' if freshness is None else f'{freshness:.1f}s'} | "
            f"{self.gx.text(now)}",
            flush=True,
        )

    def wait_for_next_cycle(self, due: float) -> None:
        """Until the first stream commit within COMMIT_WINDOW of ``due`` (a
        monotonic time), or the window's end: a cycle that starts just after a
        commit stages that batch instead of waiting a cycle for it."""
        opens, closes = due - COMMIT_WINDOW / 2, due + COMMIT_WINDOW / 2
        while not self.stop_requested and time.monotonic() < opens:
            time.sleep(min(opens - time.monotonic(), 0.2))
        if not self.stop_requested and time.monotonic() < closes:
            measures.wait_for_commit(closes, lambda: bool(self.stop_requested))

    def summary(self, seconds: float) -> str:
        t = self.totals
        lines = [
            "",
            f"live: {seconds:.0f}s, {len(t.dbt_seconds)} dbt cycles; generated {t.generated:,} events, "
            f"loaded {t.loaded:,} rows, quarantined {t.rejected:,}; "
            f"{measures.plural(measures.waiting_files(self.input_dir), 'file')} left for the next run (in {self.input_dir} or in flight)",
        ]
        if t.freshness:
            lines.append(
                f"mart freshness after each cycle: p50 {statistics.median(t.freshness):.1f}s, "
                f"p95 {measures.percentile(t.freshness, 0.95):.1f}s, max {max(t.freshness):.1f}s "
                f"over {measures.plural(len(t.freshness), 'cycle')}; "
                f"cycle p50 {statistics.median(t.cycle_seconds):.1f}s, max {max(t.cycle_seconds):.1f}s "
                f"(an event waits at most about max freshness + one cycle)"
            )
        if t.final_freshness is not None:
            lines.append(
                f"last cycle, after the stop: dbt {t.dbt_seconds[-1]:.1f}s; the newest event in "
                f"the marts is {t.final_freshness:.1f}s old (the stop included)"
            )
        if t.dbt_seconds:
            lines.append(
                f"dbt run: p50 {statistics.median(t.dbt_seconds):.1f}s, max {max(t.dbt_seconds):.1f}s"
            )
        if self.args.raw_retention_days:
            lines.append(
                f"raw retention {self.args.raw_retention_days:g} days: "
                f"{measures.plural(t.partitions_dropped, 'partition')} dropped (raw.partitions_dropped)"
            )
        if self.gx.runs:
            lines.append(
                f"checkpoints: {self.gx.runs} runs, {self.gx.failures} with failures; last: "
                f"{self.gx.text(time.monotonic())}"
            )
        return "\n".join(lines)

    def run(self) -> int:
        args = self.args
        started_at = datetime.now(UTC)
        started = time.monotonic()
        previous = {sig: signal.signal(sig, self.request_stop) for sig in STOP_SIGNALS}
        generated = manifest.Tail(settings.manifest_path())  # the generator's, not dbt's
        try:
            if self.metrics is not None:
                self.metrics.serve(args.metrics_port)
            log.info("parsing the dbt project")
            dbt = dbt_runner.Project(args.verbose)
            self.start_children()
            number = 0
            while not self.stop_requested:
                if args.duration is not None and time.monotonic() - started >= args.duration:
                    log.info("--duration %.0fs reached: stopping", args.duration)
                    break
                began = time.monotonic()
                number += 1
                self.cycle(number, dbt, generated, started_at)
                self.check_children()
                self.wait_for_next_cycle(began + args.every)
            self.stop_children()
            if self.stop_requested < 2:
                log.info("last dbt cycle: the marts catch up with everything loaded")
                self.cycle(number + 1, dbt, generated, started_at, last=True)
        except KeyboardInterrupt:
            log.info("interrupted: skipping the last cycle")
        finally:
            self.checks.stop()
            for child in self.children:
                if child.alive():
                    child.stop(timeout=30)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        print(self.summary(time.monotonic() - started), flush=True)
        failed = [c.name for c in self.children if c.process.returncode not in (0, None)]
        if failed:
            log.warning("exited with an error: %s (logs in %s)", ", ".join(failed), self.log_dir)
        return 1 if failed or self.gx.failed_checkpoints else 0


@click.command(
    cls=cli.Command,
    help="Run the pipeline continuously: generator -> streaming job -> dbt every few seconds "
    "-> Great Expectations now and then, with one status line per cycle.",
    epilog="Uses the same inputs folder, Spark checkpoint and warehouse as 'make stream' (do not run "
    "both). Processed files are deleted (--keep-files archives them instead). "
    "Child logs: <state dir>/live/*.log.",
)
@_options
def main(**options) -> int:
    args = SimpleNamespace(**options)
    cli.configure_logging(args.verbose)
    if not args.verbose:
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
    if args.every <= 0:
        raise LiveError("--every must be positive")
    db.connect("auditor", retries=0).close()  # a clear line now if the warehouse is not there
    return Live(args).run()


if __name__ == "__main__":
    cli.run(main, "make live")
