"""How fast does the generator write events? Prints figures; never passes or fails on time.

    .venv/bin/python bench/bench_generator.py [--events 1000000] [--runs 3] [--rows-per-file 10000]

Each run is a full batch run (files fsynced and renamed, manifest appended,
sha256 computed) into a fresh temporary folder, which is deleted afterwards.
The catalog is built in the first run and cached for the others, as in one
long-lived generator. Wall-clock figures depend on what else the machine is
doing, so CPU time is printed too.
"""

from __future__ import annotations

import logging
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generator import run  # noqa: E402
from pipeline import cli  # noqa: E402


def bench(events: int, runs: int, rows_per_file: int, bad_rate: float) -> list[float]:
    rates = []
    for number in range(1, runs + 1):
        folder = Path(tempfile.mkdtemp(prefix="bench-generator-"))
        try:
            config = run.Config(
                output_dir=folder / "inputs",
                manifest=folder / "manifest.jsonl",
                seed=7,
                start_time=datetime(2026, 11, 1, tzinfo=UTC),
                rows_per_file=rows_per_file,
                bad_rate=bad_rate,
            )
            cpu = time.process_time()
            summary = run.run_batch(config, events)
            cpu = time.process_time() - cpu
            size = sum(p.stat().st_size for p in config.output_dir.iterdir())
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        rates.append(summary.rows_per_s)
        print(
            f"run {number}: {summary.events:,} events, {summary.files} files, "
            f"{size / 1e6:,.0f} MB in {summary.seconds:.2f} s wall, {cpu:.2f} s CPU: "
            f"{summary.rows_per_s:,.0f} events/s ({summary.rows / cpu:,.0f} per CPU-second)",
            flush=True,
        )
    return rates


@click.command(cls=cli.Command, help=__doc__.splitlines()[0])
@click.option("--events", type=int, default=1_000_000)
@click.option("--runs", type=int, default=3)
@click.option("--rows-per-file", type=int, default=10_000)
@click.option("--bad-rate", type=float, default=0.0)
def main(**options) -> None:
    args = SimpleNamespace(**options)
    logging.basicConfig(level=logging.WARNING)
    rates = bench(args.events, args.runs, args.rows_per_file, args.bad_rate)
    print(f"median: {statistics.median(rates):,.0f} events/s over {len(rates)} runs")


if __name__ == "__main__":
    cli.run(main, "bench_generator")
