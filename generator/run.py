"""Batch and continuous runs: events -> files in the output folder -> manifest lines.

Batch mode writes a fixed number of events as fast as it can and returns.
Continuous mode writes, every ``interval`` seconds, the ``rate * interval``
events of the interval that just passed, until it is told to stop. Both stop
between two files when ``stop`` is set (the CLI sets it on SIGINT/SIGTERM), so
an interrupted run leaves only complete files, each in the manifest.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from generator import catalog
from generator.events import EventStream, format_ms
from generator.files import Outbox
from generator.manifest import ManifestWriter, entry
from pipeline import contract
from pipeline.settings import SettingsError

log = logging.getLogger(__name__)

# Where a seeded batch starts when no --start-time is given: same seed, same bytes.
SEEDED_BATCH_START = datetime(2026, 11, 1, tzinfo=UTC)
PROGRESS_EVERY_S = 5.0
HEADER_LINE = contract.CSV_HEADER + "\n"


class Stop(Protocol):
    """What a run polls to know it should stop (``threading.Event`` fits)."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class StopFlag:
    """A stop request that is safe to set from a signal handler.

    ``threading.Event.set`` takes a lock, which a signal handler must not do:
    the main thread may hold it. This flag is a plain attribute, and
    :meth:`wait` naps in short steps.
    """

    def __init__(self) -> None:
        self.signal: int | None = None

    def set(self, signum: int = 0) -> None:
        if self.signal is None:
            self.signal = signum

    def is_set(self) -> bool:
        return self.signal is not None

    def wait(self, timeout: float | None = None) -> bool:
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(remaining, 0.05))
        return self.is_set()


@dataclass(frozen=True)
class Config:
    output_dir: Path
    manifest: Path
    seed: int
    rate: float = 1000.0  # events per second of event time
    rows_per_file: int = 10_000
    interval: float = 1.0  # continuous mode: seconds between files
    start_time: datetime | None = None
    bad_rate: float = 0.0
    duplicate_rate: float = 0.0
    sessions: int | None = None  # open sessions at a time; None: from the rate

    def __post_init__(self) -> None:
        if not self.rate > 0 or math.isinf(self.rate):
            raise SettingsError(f"--rate must be a positive number of events/s, got {self.rate}")
        if self.rows_per_file < 1:
            raise SettingsError(f"--rows-per-file must be >= 1, got {self.rows_per_file}")
        if not self.interval > 0:
            raise SettingsError(f"--interval must be > 0 seconds, got {self.interval}")
        for name, value in (
            ("--bad-rate", self.bad_rate),
            ("--duplicate-rate", self.duplicate_rate),
        ):
            if not 0 <= value <= 1:
                raise SettingsError(f"{name} must be a fraction between 0 and 1, got {value}")
        if self.sessions is not None and self.sessions < 1:
            raise SettingsError(f"--sessions must be >= 1, got {self.sessions}")
        if self.start_time is not None and self.start_time.tzinfo is None:
            raise ValueError("start_time must be timezone-aware")


@dataclass
class Summary:
    files: int = 0
    events: int = 0  # new events, the bad ones included
    bad_rows: int = 0
    duplicate_rows: int = 0  # re-sent lines, on top of the events
    seconds: float = 0.0
    stopped: bool = False  # stopped early by a signal

    @property
    def rows(self) -> int:
        """Data lines written: events + duplicates (what the manifest's rows add up to)."""
        return self.events + self.duplicate_rows

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        return (
            f"{self.files} files, {self.rows} rows = {self.events} events ({self.bad_rows} bad) "
            f"+ {self.duplicate_rows} duplicates, in {self.seconds:.2f} s: "
            f"{self.rows_per_s:,.0f} rows/s"
        )


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


class _Run:
    """One run's stream, output folder and manifest; writes one file at a time."""

    def __init__(self, config: Config, start_ms: int) -> None:
        self.started = time.perf_counter()  # the summary's time includes building the shop
        self.config = config
        self.outbox = Outbox(config.output_dir)
        self.manifest = ManifestWriter(config.manifest, config.output_dir)
        self.stream = EventStream(
            catalog.build(config.seed),
            config.seed,
            start_ms=start_ms,
            rate=config.rate,
            open_sessions=config.sessions,
            bad_rate=config.bad_rate,
            duplicate_rate=config.duplicate_rate,
        )
        self.summary = Summary()
        self._last_report = (self.started, 0)

    def write_file(self, events: int, until_ms: float | None = None) -> str:
        chunk = self.stream.take(events, until_ms)
        data = (HEADER_LINE + "".join(chunk.lines)).encode("utf-8")
        name = self.outbox.publish(data)
        self.manifest.append(
            entry(
                file=name,
                rows=len(chunk.lines),
                bad_rows=chunk.bad_rows,
                duplicate_rows=chunk.duplicate_rows,
                sha256=hashlib.sha256(data).hexdigest(),
                seed=self.config.seed,
                created_at=format_ms(round(time.time() * 1000)),
            )
        )
        summary = self.summary
        summary.files += 1
        summary.events += events
        summary.bad_rows += chunk.bad_rows
        summary.duplicate_rows += chunk.duplicate_rows
        self._progress()
        return name

    def _progress(self) -> None:
        now = time.perf_counter()
        since, rows_then = self._last_report
        if now - since >= PROGRESS_EVERY_S:
            rate = (self.summary.rows - rows_then) / (now - since)
            log.info(
                "%d files, %d rows so far, %s rows/s",
                self.summary.files,
                self.summary.rows,
                f"{rate:,.0f}",
            )
            self._last_report = (now, self.summary.rows)

    def finish(self, stopped: bool) -> Summary:
        self.summary.seconds = time.perf_counter() - self.started
        self.summary.stopped = stopped
        return self.summary


def run_batch(config: Config, events: int, stop: Stop | None = None) -> Summary:
    """Write ``events`` events in files of ``config.rows_per_file`` events, then return.

    Duplicates (``config.duplicate_rate``) come on top: a file holds its events
    and the earlier lines it re-sends.

    Event times start at ``config.start_time``; without one they end about now.
    """
    if events < 1:
        raise SettingsError(f"the number of events must be >= 1, got {events}")
    if config.start_time is not None:
        start_ms = _ms(config.start_time)
    else:
        start_ms = round(time.time() * 1000 - events * 1000 / config.rate)
    run = _Run(config, start_ms)
    log.info(
        "writing %d events in files of up to %d events into %s (seed %d, start %s)",
        events,
        config.rows_per_file,
        config.output_dir,
        config.seed,
        format_ms(start_ms),
    )
    remaining = events
    stopped = False
    while remaining > 0:
        if stop is not None and stop.is_set():
            stopped = True
            break
        rows = min(config.rows_per_file, remaining)
        run.write_file(rows)
        remaining -= rows
    return run.finish(stopped)


def run_continuous(config: Config, stop: Stop) -> Summary:
    """Every ``config.interval`` s, write the events of the interval that passed, until ``stop``.

    Event times follow the wall clock (shifted to ``config.start_time`` if given).
    """
    now_ms = time.time() * 1000
    shift = (_ms(config.start_time) - now_ms) if config.start_time is not None else 0.0
    window_start = now_ms + shift
    run = _Run(config, round(window_start))
    log.info(
        "writing %s events/s, a file every %s s, into %s (seed %d); Ctrl-C to stop",
        f"{config.rate:g}",
        f"{config.interval:g}",
        config.output_dir,
        config.seed,
    )
    per_tick = config.rate * config.interval
    owed = 0.0
    next_tick = time.monotonic() + config.interval
    while not stop.wait(max(0.0, next_tick - time.monotonic())):
        window_end = time.time() * 1000 + shift
        owed += per_tick
        due = int(owed)
        owed -= due
        written = 0
        while written < due and not stop.is_set():
            rows = min(config.rows_per_file, due - written)
            written += rows
            run.write_file(rows, window_start + (window_end - window_start) * written / due)
        window_start = window_end
        next_tick += config.interval
        behind = time.monotonic() - next_tick
        if behind > config.interval:
            log.warning(
                "falling behind by %.1f s: %s events/s is more than this machine writes; "
                "lower --rate",
                behind,
                f"{config.rate:g}",
            )
            next_tick = time.monotonic() + config.interval
    return run.finish(stopped=True)
