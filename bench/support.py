"""Shared pieces of the ingestion benchmarks: an isolated database, data, RSS sampling.

Benchmarks never touch your warehouse: they run their own project-managed
PostgreSQL (state in .warehouse/bench, any free port) unless ECOM_STATE_DIR says
otherwise, and keep their data in .warehouse/bench/data.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

BENCH_STATE = Path(os.environ.get("ECOM_BENCH_STATE_DIR", REPO_ROOT / ".warehouse" / "bench"))


def isolated_warehouse() -> None:
    """Point the settings at the benchmark's own PostgreSQL, and start it."""
    os.environ["ECOM_STATE_DIR"] = str(BENCH_STATE)
    os.environ["ECOM_ENV_FILE"] = str(BENCH_STATE / ".env")
    os.environ["ECOM_LOCAL_PGPORT"] = os.environ.get("ECOM_BENCH_PGPORT", "auto")
    for var in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"):
        os.environ.pop(var, None)
    from ecom import localdb
    from pipeline import cli

    cli.configure_logging()
    localdb.up()


def admin_sql(statement: str) -> list[tuple]:
    """Run ``statement`` as the administrator and commit; its rows, if any."""
    from pipeline import db

    with db.connection(None) as conn, conn.cursor() as cur:
        cur.execute(statement)
        rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows


def measure(cmd: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess, RssSampler]:
    """Run ``cmd`` from the repository root; (wall seconds, its result, its RSS sampler).
    Exits with its error output if it fails."""
    start = time.perf_counter()
    process = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    with RssSampler(process.pid) as sampler:
        stdout, stderr = process.communicate()
    wall = time.perf_counter() - start
    result = subprocess.CompletedProcess(cmd, process.returncode, stdout, stderr)
    if process.returncode != 0:
        sys.exit(f"{cmd[:4]} failed:\n{stderr[-3000:]}")
    return wall, result, sampler


def linked_inputs(data: Path, state: Path) -> Path:
    """A fresh inputs folder holding ``data``'s files as hard links: the job moves
    what it ingests out of its inputs folder, the data set stays whole."""
    inputs = Path(state) / "inputs"
    inputs.mkdir()
    for path in sorted(data.glob("*.csv")):
        try:
            os.link(path, inputs / path.name)
        except OSError:  # another file system
            shutil.copy2(path, inputs / path.name)
    return inputs


def ingestion_command(inputs: Path, state: str | Path, *extra: str, once: bool = True) -> list[str]:
    """``python -m ingestion`` over ``inputs``, its checkpoint in ``state``, files deleted
    once loaded (--once unless ``once`` is False)."""
    return [
        sys.executable,
        "-m",
        "ingestion",
        *(["--once"] if once else []),
        "--input-dir",
        str(inputs),
        "--checkpoint-dir",
        f"{state}/checkpoint",
        "--processed",
        "delete",
        *extra,
    ]


def dataset(events: int, rows_per_file: int, seed: int, **generator_args: str) -> Path:
    """A seeded folder of generated CSV files, made once and reused by later runs."""
    extra = [f"--{k.replace('_', '-')}={v}" for k, v in sorted(generator_args.items())]
    name = f"events{events}-rows{rows_per_file}-seed{seed}" + "".join(
        a.replace("--", "-").replace("=", "") for a in extra
    )
    folder = BENCH_STATE / "data" / name
    done = folder / ".complete"
    if not done.exists():
        print(f"generating {events:,} events into {folder} (once)", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "generator",
                "--events",
                str(events),
                "--rows-per-file",
                str(rows_per_file),
                "--seed",
                str(seed),
                "--output-dir",
                str(folder / "files"),
                "--manifest",
                str(folder / "manifest.jsonl"),
                "--quiet",
                *extra,
            ],
            check=True,
            cwd=REPO_ROOT,
        )
        done.touch()
    return folder / "files"


def _tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pids
    for child in children:
        pids += _tree(int(child))
    return pids


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _is_java(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "java"
    except OSError:
        return False


class RssSampler:
    """Samples the resident memory of a process tree: peak of the JVM(s), of the rest, of both."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_jvm_mb = 0.0
        self.peak_python_mb = 0.0
        self.peak_total_mb = 0.0
        self.cpu_seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            jvm = other = 0
            for pid in _tree(self.pid):
                if _is_java(pid):
                    jvm += _rss_kb(pid)
                else:
                    other += _rss_kb(pid)
            self.peak_jvm_mb = max(self.peak_jvm_mb, jvm / 1024)
            self.peak_python_mb = max(self.peak_python_mb, other / 1024)
            self.peak_total_mb = max(self.peak_total_mb, (jvm + other) / 1024)
            time.sleep(self.interval)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process tree."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError):
            continue
    return total


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
