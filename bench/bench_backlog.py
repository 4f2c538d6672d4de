"""Memory under backlog: the job started on hundreds of waiting files stays bounded.

    .venv/bin/python bench/bench_backlog.py [--files 600] [--rows-per-file 2000]

Starts `python -m ingestion --once` on a backlog of --files files and samples
the peak resident memory of the JVM and of the Python driver. The job reads
at most --max-files-per-trigger parts (default 1000) and --max-mb-per-trigger
MB (default 256) per micro-batch, so the peak depends on those, not on the
size of the backlog: the second run, with a backlog twice as large, shows it. Prints figures; never passes or fails.
"""

from __future__ import annotations

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


def run(data: Path) -> tuple[float, support.RssSampler, str]:
    with tempfile.TemporaryDirectory(dir=support.BENCH_STATE) as state:
        start = time.perf_counter()
        process = subprocess.Popen(
            support.ingestion_command(support.linked_inputs(data, state), state),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=support.REPO_ROOT,
        )
        with support.RssSampler(process.pid) as sampler:
            output, _ = process.communicate()
        if process.returncode != 0:
            sys.exit(output[-3000:])
        summary = next((line for line in output.splitlines() if "stopped:" in line), "")
    return time.perf_counter() - start, sampler, summary.split("stopped: ", 1)[-1]


@click.command(cls=cli.Command, help=__doc__.splitlines()[0])
@click.option("--files", type=int, default=600)
@click.option("--rows-per-file", type=int, default=2000)
def main(**options) -> None:
    args = SimpleNamespace(**options)
    support.isolated_warehouse()
    for files in (args.files, args.files * 2):
        data = support.dataset(files * args.rows_per_file, args.rows_per_file, seed=7)
        wall, sampler, summary = run(data)
        print(
            f"backlog of {files} files ({files * args.rows_per_file:,} rows): {wall:.0f}s; "
            f"peak RSS JVM {sampler.peak_jvm_mb:,.0f} MB + Python {sampler.peak_python_mb:,.0f} MB "
            f"= {sampler.peak_total_mb:,.0f} MB ({summary})",
            flush=True,
        )


if __name__ == "__main__":
    cli.run(main, "bench_backlog")
