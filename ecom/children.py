"""Live mode's child processes: the generator, the stream and the background
checks, each with its log file, its own process group and a parent-death signal."""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pipeline import settings

log = logging.getLogger("live")


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 12) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def stop(self, timeout: float) -> int | None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0fs: killing it", self.name, timeout)
            self.process.kill()
            return self.process.wait()


def child_command(args: list[str], niceness: int = 0) -> list[str]:
    """The child's command line. setpriv (util-linux) gives it a parent-death signal,
    so a child does not outlive live mode killed with -9; no preexec_fn, which is not
    safe in a process with threads (dbt's). Without setpriv, best effort: none.
    ``niceness``: run it under nice(1), behind the dbt cycles for the CPU."""
    command = [sys.executable, *args]
    nice = shutil.which("nice")
    if niceness and nice:
        command = [nice, "-n", str(niceness), *command]
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *command] if setpriv else command


def spawn(args: list[str], log_path: Path, mode: str = "ab", niceness: int = 0) -> subprocess.Popen:
    """A child of live mode: output to ``log_path``, its own process group (Ctrl-C
    reaches live mode only; it stops the children in order), the death signal."""
    with log_path.open(mode) as out:
        return subprocess.Popen(
            child_command(args, niceness),
            cwd=settings.home_dir(),
            env=settings.environment(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0,
        )


def start(name: str, args: list[str], log_dir: Path) -> Child:
    log_path = log_dir / f"{name}.log"
    process = spawn(args, log_path)
    log.info("started the %s (pid %d), log: %s", name, process.pid, log_path)
    return Child(name, process, log_path)
