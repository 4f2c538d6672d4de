"""Soak: a running stream fed many small files stays as fast, and its state as small, at the end.

    .venv/bin/python bench/bench_soak.py [--files 100000] [--rows-per-file 20]

Starts `python -m ingestion` (streaming, not --once) and feeds its inputs
folder --files generated files of --rows-per-file rows (hard links to a data
set made once, handed over as the generator does: into the folder by rename,
at most --backlog waiting at a time). Prints a line per tenth of the files:
files loaded a second, the median and p95 seconds between batch commits, the
files in a batch, the Spark checkpoint's size on disk (without the intake's
folder of files in flight) and the job's resident memory (JVM + Python).

Baseline, in the same run: the same files loaded one by one by the simplest
exactly-once loader (one connection; per file a COPY and a ledger row, one
transaction), the per-file floor of PostgreSQL itself on this machine.
Prints figures; never passes or fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))

import support  # noqa: E402

from pipeline import cli  # noqa: E402


def _size(folder: Path, skip: str = "intake") -> int:
    total = 0
    for root, dirs, files in os.walk(folder):
        if Path(root) == folder and skip in dirs:
            dirs.remove(skip)
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def _rss_mb(pid: int) -> tuple[float, float]:
    """(the JVM's, the Python processes') resident memory, MB."""
    jvm = python = 0
    for member in support._tree(pid):
        if support._is_java(member):
            jvm += support._rss_kb(member)
        else:
            python += support._rss_kb(member)
    return jvm / 1024, python / 1024


def _loaded() -> int:
    return support.admin_sql("select count(*) from raw.ingestion_files where status <> 'claimed'")[
        0
    ][0]


def _batches(since) -> tuple[list[float], list[float], list[int]]:
    """Of the batches committed since ``since``: seconds between commits, seconds in the
    sink (started to committed), files."""
    rows = support.admin_sql(
        "select extract(epoch from committed_at), "
        "extract(epoch from committed_at - started_at), cardinality(files) "
        f"from raw.ingestion_batches where committed_at > '{since}' order by committed_at"
    )
    times = [float(row[0]) for row in rows]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return gaps, [float(row[1]) for row in rows], [row[2] for row in rows]


def stream(files: list[Path], backlog: int, state: Path) -> None:
    inputs = state / "inputs"
    staging = state / "staging"
    inputs.mkdir()
    staging.mkdir()
    checkpoint = state / "checkpoint"
    log = open(state / "job.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        support.ingestion_command(inputs, state, once=False),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=support.REPO_ROOT,
        start_new_session=True,
    )
    tenth = max(1, len(files) // 10)
    fed = 0
    start = time.perf_counter()
    mark, mark_loaded = start, 0
    mark_db = support.admin_sql("select clock_timestamp()")[0][0]
    print(
        f"{'tenth':>5} {'files/s':>8} {'commit gap p50':>14} {'p95':>6} {'batch s p50':>11} "
        f"{'files/batch':>11} {'checkpoint':>10} {'RSS JVM + Python':>16}",
        flush=True,
    )
    try:
        done = 0
        while done < 10:
            loaded = _loaded()
            waiting = fed - loaded
            while fed < len(files) and waiting < backlog:
                name = f"events-{fed:07d}.csv"
                os.link(files[fed], staging / name)
                os.rename(staging / name, inputs / name)
                fed += 1
                waiting += 1
            if process.poll() is not None:
                sys.exit(f"the job stopped: see {state / 'job.log'}")
            if loaded >= (done + 1) * tenth:
                now = time.perf_counter()
                gaps, seconds, sizes = _batches(mark_db)
                rate = (loaded - mark_loaded) / (now - mark)
                print(
                    f"{done + 1:>5} {rate:>8.0f} {support.median(gaps):>13.2f}s "
                    f"{support.percentile(gaps, 95):>5.2f}s {support.median(seconds):>10.2f}s "
                    f"{support.median(sizes):>11.0f} {_size(checkpoint) / 1e3:>8.0f}kB "
                    "{:>7.0f} + {:.0f}MB".format(*_rss_mb(process.pid)),
                    flush=True,
                )
                mark, mark_loaded = now, loaded
                mark_db = support.admin_sql("select clock_timestamp()")[0][0]
                done += 1
                continue
            time.sleep(0.5)
        total = time.perf_counter() - start
        print(f"the job: {len(files):,} files in {total:.0f}s, {len(files) / total:.0f} files/s")
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def baseline(files: list[Path]) -> None:
    """Per file: COPY its data lines into a scratch table and a ledger row, one transaction."""
    from pipeline import db

    support.admin_sql(
        "create table if not exists public.soak_baseline (line text); "
        "create table if not exists public.soak_baseline_files (name text primary key); "
        "truncate public.soak_baseline, public.soak_baseline_files"
    )
    start = time.perf_counter()
    with db.connection(None) as conn, conn.cursor() as cur:
        for path in files:
            with open(path, "rb") as source:
                source.readline()  # the header
                cur.copy_expert("copy public.soak_baseline (line) from stdin", source)
            cur.execute("insert into public.soak_baseline_files values (%s)", (str(path),))
            conn.commit()
    total = time.perf_counter() - start
    print(
        f"baseline (COPY + ledger row, a transaction per file): {len(files):,} files in "
        f"{total:.0f}s, {len(files) / total:.0f} files/s"
    )
    support.admin_sql("drop table public.soak_baseline, public.soak_baseline_files")


@click.command(cls=cli.Command, help=__doc__.splitlines()[0])
@click.option("--files", type=int, default=100_000)
@click.option("--rows-per-file", type=int, default=20)
@click.option("--backlog", type=int, default=2000, help="files waiting at most")
@click.option("--baseline-files", type=int, default=5000)
def main(**options) -> None:
    args = SimpleNamespace(**options)
    support.isolated_warehouse()
    from pipeline import db

    support.admin_sql(db.TRUNCATE_RAW)  # the benchmark's own warehouse: counts start at 0
    data = support.dataset(args.files * args.rows_per_file, args.rows_per_file, seed=23)
    files = sorted(data.glob("*.csv"))[: args.files]
    print(f"{len(files):,} files of {args.rows_per_file} rows, fed to a running stream", flush=True)
    with tempfile.TemporaryDirectory(dir=support.BENCH_STATE) as state:
        stream(files, args.backlog, Path(state))
    baseline(files[: args.baseline_files])


if __name__ == "__main__":
    cli.run(main, "bench_soak")
