"""Ingestion throughput by file shape: the same events, written as the field's tools write them.

    .venv/bin/python bench/bench_dialects.py [--events 1000000] [--rows-per-file 10000] [--runs 3]
                                             [--big-rows 1000000]

The generator's files (the contract's own header: the JVM's path) are the
baseline; each other shape carries the same rows:

- reordered columns and one column beyond the contract (a SQL export);
- every field quoted, the header too (Python's csv QUOTE_ALL, R, pyarrow);
- ``;``-separated (a European spreadsheet export);
- gzip-compressed (the plain files, ``.csv.gz``).

All but gzip take the Python path (ingestion.dialect in a UDF). Then one big
file (``--big-rows`` rows) plain and gzip-compressed, side by side: the cost
of decompressing while the intake claims it, and its peak memory.

Each shape runs ``python -m ingestion --once`` --runs times; medians are
printed ("overall": rows / process wall, Spark's start included; "steady":
after the first micro-batch). Prints figures; never passes or fails on time.
Runs on its own PostgreSQL (see support.py).
"""

from __future__ import annotations

import csv
import gzip
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))

import support  # noqa: E402

from pipeline import cli  # noqa: E402

MAX_FILES = 50


def _rewrite(source: Path, target: Path, shape: str) -> None:
    """``source`` (a generator file) as ``shape`` writes it, into ``target``."""
    if shape == "gzip":
        with source.open("rb") as raw, gzip.open(target, "wb") as out:
            shutil.copyfileobj(raw, out)
        return
    with source.open(newline="") as handle:
        rows = list(csv.reader(handle))
    with target.open("w", newline="") as out:
        if shape == "reordered":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerows(
                [[*reversed(row), "web" if i else "channel"] for i, row in enumerate(rows)]
            )
        elif shape == "quote-all":
            csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
        elif shape == "semicolons":
            csv.writer(out, delimiter=";", lineterminator="\n").writerows(rows)
        else:
            raise ValueError(shape)


def shaped(data: Path, shape: str) -> Path:
    """The data set's files as ``shape`` writes them (made once, reused)."""
    if shape == "plain":
        return data
    folder = data.parent / f"shape-{shape}"
    done = folder / ".complete"
    if not done.exists():
        print(f"writing the data set as {shape} into {folder} (once)", flush=True)
        folder.mkdir(exist_ok=True)
        for path in sorted(data.glob("*.csv")):
            name = path.name + (".gz" if shape == "gzip" else "")
            _rewrite(path, folder / name, shape)
        done.touch()
    return folder


def big_file(rows: int, compressed: bool) -> Path:
    """One file of ``rows`` generated rows (and its gzip), made once."""
    data = support.dataset(rows, rows, seed=7)
    (plain,) = sorted(data.glob("*.csv"))
    if not compressed:
        return data
    folder = data.parent / "shape-gzip"
    target = folder / (plain.name + ".gz")
    if not target.exists():
        folder.mkdir(exist_ok=True)
        _rewrite(plain, target, "gzip")
    return folder


def _linked(data: Path, state: Path) -> Path:
    inputs = state / "inputs"
    inputs.mkdir()
    for path in sorted(data.iterdir()):
        if path.name.startswith("."):
            continue
        try:
            os.link(path, inputs / path.name)
        except OSError:
            shutil.copy2(path, inputs / path.name)
    return inputs


def run_ours(data: Path) -> dict:
    from pipeline import db

    support.admin_sql(f"{db.TRUNCATE_RAW}; checkpoint")
    with tempfile.TemporaryDirectory(dir=support.BENCH_STATE) as state:
        command = support.ingestion_command(
            _linked(data, Path(state)), state, "--max-files-per-trigger", str(MAX_FILES)
        )
        wall, _, sampler = support.measure(command, dict(os.environ))
    ledger = support.admin_sql(
        "select rows_in, extract(epoch from committed_at) from raw.ingestion_batches "
        "order by committed_at"
    )
    loaded = support.admin_sql("select count(*) from raw.ecommerce_events")[0][0]
    rejected = support.admin_sql("select count(*) from raw.ecommerce_events_rejected")[0][0]
    steady = float("nan")
    if len(ledger) >= 2:
        steady = sum(r for r, _ in ledger[1:]) / (float(ledger[-1][1]) - float(ledger[0][1]))
    return {
        "wall": wall,
        "rows": loaded + rejected,
        "loaded": loaded,
        "steady": steady,
        "py_mb": sampler.peak_python_mb,
        "jvm_mb": sampler.peak_jvm_mb,
    }


def _table(title: str, results: dict[str, list[dict]], baseline: str) -> None:
    """One row a shape; the ratio to the baseline by steady rows/s, or by overall rows/s
    when a run had one micro-batch (one file)."""
    print()
    print(title)
    print(
        f"{'shape':<28} {'rows':>10} {'loaded':>10} {'wall s':>7} {'overall r/s':>12} "
        f"{'steady r/s':>11} {'ratio':>6} {'py MB':>6} {'JVM MB':>7}"
    )

    def rate(runs: list[dict]) -> float:
        steady = support.median([r["steady"] for r in runs])
        return steady if steady == steady else support.median([r["rows"] / r["wall"] for r in runs])

    base = rate(results[baseline])
    for shape, runs in results.items():
        steady = support.median([r["steady"] for r in runs])
        print(
            f"{shape:<28} {runs[0]['rows']:>10,} {runs[0]['loaded']:>10,} "
            f"{support.median([r['wall'] for r in runs]):>7.1f} "
            f"{support.median([r['rows'] / r['wall'] for r in runs]):>12,.0f} {steady:>11,.0f} "
            f"{rate(runs) / base:>5.2f}x {max(r['py_mb'] for r in runs):>6,.0f} "
            f"{max(r['jvm_mb'] for r in runs):>7,.0f}"
        )


@click.command(cls=cli.Command, help=__doc__.splitlines()[0])
@click.option("--events", type=int, default=1_000_000)
@click.option("--rows-per-file", type=int, default=10_000)
@click.option("--runs", type=int, default=3)
@click.option("--big-rows", type=int, default=1_000_000, help="0: skip the big file")
def main(**options) -> None:
    args = SimpleNamespace(**options)
    support.isolated_warehouse()
    data = support.dataset(args.events, args.rows_per_file, seed=42, bad_rate="0")
    shapes = ("plain", "reordered", "quote-all", "semicolons", "gzip")
    folders = {shape: shaped(data, shape) for shape in shapes}
    results: dict[str, list[dict]] = {shape: [] for shape in shapes}
    for run in range(1, args.runs + 1):
        for shape in shapes:
            result = run_ours(folders[shape])
            results[shape].append(result)
            print(
                f"run {run} {shape:<11} {result['rows']:>9,} rows in {result['wall']:6.1f}s, "
                f"steady {result['steady']:>9,.0f} rows/s",
                flush=True,
            )
    files = len(list(data.glob("*.csv")))
    _table(
        f"{files} files of {args.rows_per_file:,} rows, {os.cpu_count()} cores; "
        f"medians of {args.runs} runs",
        results,
        "plain",
    )
    if args.big_rows:
        big = {"one file, plain": [], "one file, gzip": []}
        for _ in range(args.runs):
            big["one file, plain"].append(run_ours(big_file(args.big_rows, compressed=False)))
            big["one file, gzip"].append(run_ours(big_file(args.big_rows, compressed=True)))
        _table(f"one file of {args.big_rows:,} rows", big, "one file, plain")


if __name__ == "__main__":
    cli.run(main, "bench_dialects")
