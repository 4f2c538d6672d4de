"""Live mode's Great Expectations checkpoints (not Spark's checkpoint folder): the
latest outcome of each, and a run in the background while the dbt cycles go on."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ecom import children
from expectations import checkpoints

log = logging.getLogger("live")

# The checkpoints, in layer order.
CHECKPOINTS = checkpoints.NAMES


@dataclass
class GxStatus:
    """The latest result of each checkpoint, and how many runs failed."""

    latest: dict[str, tuple[int, int, bool, float]] = field(default_factory=dict)
    runs: int = 0
    failures: int = 0

    def record(self, name: str, passed: int, total: int, success: bool) -> None:
        self.latest[name] = (passed, total, success, time.monotonic())
        self.runs += 1
        self.failures += not success

    @property
    def failed_checkpoints(self) -> list[str]:
        return [name for name, (_, _, success, _) in self.latest.items() if not success]

    def text(self, now: float) -> str:
        if not self.latest:
            return "GX not run yet"
        passed = sum(value[0] for value in self.latest.values())
        total = sum(value[1] for value in self.latest.values())
        newest = max(value[3] for value in self.latest.values())
        failed = self.failed_checkpoints
        verdict = "ok" if not failed else "FAILED " + ",".join(failed)
        return f"GX {verdict} {passed}/{total} ({now - newest:.0f}s ago)"


def run_checkpoints(status: GxStatus, names: list[str]) -> None:
    """Run checkpoints in this process (GX is imported once), recording each outcome."""
    from expectations import runner

    for outcome in runner.run(names):
        record(status, outcome)


def record(status: GxStatus, outcome) -> None:
    """One checkpoint's outcome (expectations.runner.Outcome) into ``status``."""
    status.record(outcome.checkpoint, outcome.successful, outcome.evaluated, outcome.success)
    for failure in outcome.failures[:3]:
        log.warning("%s: %s", outcome.checkpoint, failure.line())


class BackgroundCheckpoints:
    """The checkpoints in a child process (niced), while the dbt cycles go on.

    Every expectation is one SQL statement on one table, and every table is
    written in whole transactions (the stream's rows with their ledger row, a
    dbt model at a time), so a check sees a consistent state at any moment:
    rules that span models (keys, marts against staging) are dbt's tests, run
    where the models are built. One GX run at a time: they share the GX
    context's files. The outcomes are read from quality.checkpoint_runs, where
    the runner records each one, not from the child's output.
    """

    def __init__(self, log_dir: Path) -> None:
        self.log_path = log_dir / "checkpoints.log"
        self.process: subprocess.Popen | None = None
        self.started_at = datetime.now(UTC)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        self.started_at = datetime.now(UTC)
        # niced: a check in the background must not slow the marts' freshness
        self.process = children.spawn(
            ["-m", "expectations", "run", *CHECKPOINTS], self.log_path, "wb", niceness=10
        )

    def collect(self, status: GxStatus, wait: float = 0) -> None:
        """Record the finished run's outcomes (waiting up to ``wait`` seconds for it)."""
        if self.process is None:
            return
        try:
            code = self.process.wait(wait) if wait else self.process.poll()
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            return
        self.process = None
        from expectations import runner

        recorded = runner.recorded_outcomes(self.started_at)
        for name in CHECKPOINTS:
            if name in recorded:
                record(status, recorded[name])
            else:
                log.warning("%s did not run (exit %s): see %s", name, code, self.log_path)
                status.record(name, 0, 0, False)

    def stop(self) -> None:
        if self.running():
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
