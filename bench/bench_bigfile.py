"""One big file (an hourly export), side by side with psql \\copy of the same file.

    .venv/bin/python bench/bench_bigfile.py [--rows 1000000] [--runs 3]

(a) psql \\copy of the file into a scratch table with the contract's columns,
    no validation;
(b) ours: `python -m ingestion --once` on the same file, which the intake
    hands to Spark in parts of --part-mb (8 MB), cut between records: the
    whole file validated, loaded or quarantined, with its ledger rows;
(c) ours, the running stream: the file renamed into the inputs folder of a
    job that is up (a small warm-up file loaded first), timed from the rename
    to the commit of the file's last part (raw.ingestion_files.completed_at).

Prints wall time, rows/s and peak RSS (JVM and the rest of the process tree)
per path, medians of --runs, and ours relative to psql. It prints figures and
never passes or fails on time. Runs on its own PostgreSQL (see support.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_ingestion as bi  # noqa: E402
import support  # noqa: E402

from pipeline import cli  # noqa: E402


def run_ours(data: Path) -> dict:
    with tempfile.TemporaryDirectory(dir=support.BENCH_STATE) as state:
        wall, result, sampler = bi._measure(
            support.ingestion_command(support.linked_inputs(data, state), state),
            dict(os.environ),
        )
    ((rows, parts, status, load),) = bi._admin_sql(
        "select coalesce(sum(rows_in), 0), coalesce(sum(parts), 0), string_agg(status, ','), "
        "extract(epoch from max(completed_at) - min(claimed_at)) from raw.ingestion_files"
    )
    return {
        "wall": wall,
        "rows": int(rows),
        "parts": int(parts),
        "status": status,
        "claim_to_loaded": float(load or 0),
        "jvm_mb": sampler.peak_jvm_mb,
        "py_mb": sampler.peak_python_mb,
        "total_mb": sampler.peak_total_mb,
        "log": [line for line in result.stderr.splitlines() if "stopped:" in line][-1:],
    }


def run_stream(data: Path) -> dict:
    import signal
    import time

    with tempfile.TemporaryDirectory(dir=support.BENCH_STATE) as state:
        inputs = Path(state) / "inputs"
        inputs.mkdir()
        log_path = Path(state) / "stream.log"
        process = subprocess.Popen(
            support.ingestion_command(inputs, state, once=False),
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=support.REPO_ROOT,
            start_new_session=True,
        )
        with support.RssSampler(process.pid) as sampler:
            warmup = Path(state) / "warmup.csv"
            (big,) = data.glob("*.csv")
            with big.open() as source:
                warmup.write_text("".join(next(source) for _ in range(1001)))
            os.rename(warmup, inputs / "warmup.csv")
            _wait(lambda: _loaded() == 1, process, log_path)
            os.link(big, Path(state) / big.name)
            started = time.time()
            os.rename(Path(state) / big.name, inputs / big.name)
            _wait(lambda: _loaded() == 2, process, log_path)
            ((done, rows),) = bi._admin_sql(
                "select extract(epoch from completed_at), rows_in from raw.ingestion_files "
                "where status = 'loaded' and rows_in > 1000"
            )
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=120)
    return {
        "wall": float(done) - started,
        "rows": int(rows),
        "jvm_mb": sampler.peak_jvm_mb,
        "py_mb": sampler.peak_python_mb,
        "total_mb": sampler.peak_total_mb,
    }


def _loaded() -> int:
    return bi._admin_sql("select count(*) from raw.ingestion_files where status = 'loaded'")[0][0]


def _wait(predicate, process, log_path: Path, timeout: float = 1800) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the stream stopped or timed out:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.05)


def run_copy(data: Path) -> dict:
    result = bi.run_copy(sorted(data.glob("*.csv")))
    result["total_mb"] = result["py_mb"]
    return result


@click.command(cls=cli.Command, help=__doc__.splitlines()[0])
@click.option("--rows", type=int, default=1_000_000)
@click.option("--runs", type=int, default=3)
def main(**options) -> None:
    args = SimpleNamespace(**options)
    support.isolated_warehouse()
    data = support.dataset(args.rows, args.rows, seed=43)
    (size,) = [path.stat().st_size for path in data.glob("*.csv")]
    bi.prepare_tables()
    results: dict[str, list[dict]] = {"a": [], "b": [], "c": []}
    for run in range(1, args.runs + 1):
        for key, label, fn in (
            ("a", "psql \\copy", lambda: run_copy(data)),
            ("b", "ours", lambda: run_ours(data)),
            ("c", "ours, live", lambda: run_stream(data)),
        ):
            bi.reset()
            result = fn()
            results[key].append(result)
            extra = (
                f", {result['parts']} parts, {result['status']}, claimed -> loaded in "
                f"{result['claim_to_loaded']:.1f}s"
                if key == "b"
                else ""
            )
            print(
                f"run {run} {label:<11} {result['rows']:>10,} rows in {result['wall']:6.1f}s, "
                f"peak RSS {result['total_mb']:,.0f} MB{extra}",
                flush=True,
            )
            subprocess.run(["sync"], check=False)
    print()
    print(
        f"one file of {size / 1e6:,.0f} MB, {args.rows:,} events, {os.cpu_count()} cores; "
        f"medians of {args.runs} runs"
    )
    print(f"{'path':<40} {'wall s':>7} {'rows/s':>10} {'JVM MB':>7} {'rest MB':>8} {'total MB':>9}")
    median = support.median
    walls = {}
    for key, label in (
        ("a", "(a) psql \\copy, no validation"),
        ("b", "(b) ours, --once"),
        ("c", "(c) ours, running stream (rename->commit)"),
    ):
        runs = results[key]
        walls[key] = median([r["wall"] for r in runs])
        print(
            f"{label:<40} {walls[key]:>7.1f} {median([r['rows'] / r['wall'] for r in runs]):>10,.0f} "
            f"{median([r['jvm_mb'] for r in runs]):>7,.0f} {median([r['py_mb'] for r in runs]):>8,.0f} "
            f"{median([r['total_mb'] for r in runs]):>9,.0f}"
        )
    print(f"running stream / psql \\copy: {walls['c'] / walls['a']:.2f}x")
    claim = median([r["claim_to_loaded"] for r in results["b"]])
    print(
        f"ours / psql \\copy wall time: {walls['b'] / walls['a']:.2f}x (the process, Spark's start included)"
    )
    print(
        f"ours, from the file's claim to its last part's commit: {claim:.1f}s, "
        f"{claim / walls['a']:.2f}x psql \\copy"
    )
    print("last run of ours:", *results["b"][-1]["log"])


if __name__ == "__main__":
    cli.run(main, "bench_bigfile")
