"""CPU-seconds per 500k rows of each ingestion path: JVM, Python, PostgreSQL.

    .venv/bin/python bench/bench_ingestion_cpu.py [--paths abc] [--runs 3]

On a shared machine wall time says little; CPU-seconds are what a path costs.
The process tree of each path is sampled from /proc every 50 ms (JVM = every
``java`` process, Python = the rest of the tree), and so is the whole
PostgreSQL cluster (the postmaster, its live children and the children it has
reaped). "steady" is the CPU spent between the end of the first micro-batch
and the end of the last, per 500k rows of the batches after the first (no
Spark start, no JIT warm-up); "total" is the whole process, start included.
(a) has no batches: its figures are for the whole run. Medians of --runs.
Prints figures; never passes or fails on time.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_ingestion as bi  # noqa: E402
import support  # noqa: E402

from pipeline import cli  # noqa: E402

PER = 500_000


def _cpu(pid: int) -> tuple[float, float]:
    """(own, reaped children) CPU seconds of one process."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks, (int(fields[13]) + int(fields[14])) / ticks


def _postmaster_pid() -> int:
    from ecom import localdb

    data = localdb.cluster().data
    return int((data / "postmaster.pid").read_text().split()[0])


class CpuSampler:
    """Samples (time, jvm, python, pg) cumulative CPU seconds."""

    def __init__(self, pid: int, pg_pid: int, interval: float = 0.05) -> None:
        self.pid, self.pg_pid, self.interval = pid, pg_pid, interval
        self.samples: list[tuple[float, float, float, float]] = []
        self._seen: dict[int, tuple[bool, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._pg0 = self._pg()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _pg(self) -> float:
        own, reaped = _cpu(self.pg_pid)
        total = own + reaped
        for child in support._tree(self.pg_pid)[1:]:
            with contextlib.suppress(OSError, IndexError):
                total += _cpu(child)[0]
        return total

    def _sample(self) -> None:
        for pid in support._tree(self.pid):
            try:
                own = _cpu(pid)[0]
            except (OSError, IndexError):
                continue
            self._seen[pid] = (support._is_java(pid) or self._seen.get(pid, (False, 0))[0], own)
        jvm = sum(cpu for is_java, cpu in self._seen.values() if is_java)
        py = sum(cpu for is_java, cpu in self._seen.values() if not is_java)
        self.samples.append((time.time(), jvm, py, self._pg() - self._pg0))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def at(self, when: float) -> tuple[float, float, float]:
        best = min(self.samples, key=lambda s: abs(s[0] - when))
        return best[1:]


def _measure(cmd: list[str], env: dict) -> tuple[float, str, CpuSampler]:
    start = time.perf_counter()
    process = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=support.REPO_ROOT,
    )
    with CpuSampler(process.pid, _postmaster_pid()) as sampler:
        stdout, stderr = process.communicate()
    if process.returncode != 0:
        sys.exit(f"{cmd[:4]} failed:\n{stderr[-3000:]}")
    return time.perf_counter() - start, stdout, sampler


def _figures(wall: float, rows: int, sampler: CpuSampler, batches: list[dict]) -> dict:
    total = sampler.samples[-1][1:]
    result = {"wall": wall, "rows": rows, "total": [c * PER / rows for c in total]}
    if len(batches) >= 2:
        first, last = sampler.at(batches[0]["end"]), sampler.at(batches[-1]["end"])
        steady_rows = sum(b["rows"] for b in batches[1:])
        span = batches[-1]["end"] - batches[0]["end"]
        result["steady"] = [(b - a) * PER / steady_rows for a, b in zip(first, last, strict=True)]
        result["steady_rate"] = steady_rows / span
    else:
        result["steady"] = result["total"]
        result["steady_rate"] = rows / wall
    return result


def run_copy(files: list[Path]) -> dict:
    cmd, env, script = bi.copy_command(files)
    wall, _, sampler = _measure(cmd, env)
    script.unlink()
    rows = bi._admin_sql("select count(*) from bench_scratch.events_copy")[0][0]
    return _figures(wall, rows, sampler, [])


def run_jdbc(data: Path) -> dict:
    with tempfile.TemporaryDirectory() as checkpoint:
        wall, stdout, sampler = _measure(
            [sys.executable, bi.__file__, "--jdbc-worker", str(data), checkpoint], dict(os.environ)
        )
    batches = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    rows = bi._admin_sql("select count(*) from bench_scratch.events_jdbc")[0][0]
    return _figures(wall, rows, sampler, batches)


def run_ours(data: Path, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(dir=support.BENCH_STATE) as state:
        wall, _, sampler = _measure(
            support.ingestion_command(
                support.linked_inputs(data, state),
                state,
                "--max-files-per-trigger",
                str(bi.MAX_FILES),
                *extra,
            ),
            dict(os.environ),
        )
    ledger = bi._admin_sql(
        "select rows_in, extract(epoch from committed_at) from raw.ingestion_batches order by batch_id"
    )
    batches = [{"rows": rows, "end": float(end)} for rows, end in ledger]
    rows = sum(b["rows"] for b in batches)
    loaded = bi._admin_sql("select count(*) from raw.ecommerce_events")[0][0]
    rejected = bi._admin_sql("select count(*) from raw.ecommerce_events_rejected")[0][0]
    assert loaded + rejected == rows, (loaded, rejected, rows)
    result = _figures(wall, rows, sampler, batches)
    result["loaded"], result["rejected"] = loaded, rejected
    return result


@click.command(cls=cli.Command, help=__doc__.splitlines()[0])
@click.option("--events", type=int, default=2_000_000)
@click.option("--rows-per-file", type=int, default=10_000)
@click.option("--runs", type=int, default=3)
@click.option("--paths", default="abc")
@click.option("--label", default="")
@click.option("--conf", multiple=True, help="spark.KEY=VALUE for (c)")
def main(**options) -> None:
    args = SimpleNamespace(**options)
    support.isolated_warehouse()
    data = support.dataset(args.events, args.rows_per_file, seed=42)
    files = sorted(data.glob("*.csv"))
    bi.prepare_tables()
    extra = [x for conf in args.conf for x in ("--conf", conf)]
    runners = {
        "a": lambda: run_copy(files),
        "b": lambda: run_jdbc(data),
        "c": lambda: run_ours(data, extra),
    }
    results: dict[str, list[dict]] = {k: [] for k in args.paths}
    for run in range(1, args.runs + 1):
        for key in args.paths:
            bi.reset()
            result = runners[key]()
            results[key].append(result)
            print(
                f"{args.label} run {run} ({key}) "
                + json.dumps(
                    {
                        k: (
                            round(v, 3)
                            if isinstance(v, float)
                            else [round(x, 3) for x in v]
                            if isinstance(v, list)
                            else v
                        )
                        for k, v in result.items()
                    }
                ),
                flush=True,
            )
    print(f"\n{args.label}: medians of {args.runs}, CPU-s per {PER:,} rows (JVM / Python / PG)")
    for key, runs in results.items():

        def med(name: str, i: int, runs: list[dict] = runs) -> float:
            return support.median([r[name][i] for r in runs])

        print(
            f"({key}) steady {med('steady', 0):5.2f} / {med('steady', 1):5.2f} / {med('steady', 2):5.2f}"
            f"  total {med('total', 0):5.2f} / {med('total', 1):5.2f} / {med('total', 2):5.2f}"
            f"  steady {support.median([r['steady_rate'] for r in runs]):9,.0f} rows/s"
            f"  overall {support.median([r['rows'] / r['wall'] for r in runs]):9,.0f} rows/s"
            f"  wall {support.median([r['wall'] for r in runs]):6.1f}s"
        )


if __name__ == "__main__":
    cli.run(main, "bench_ingestion_cpu")
