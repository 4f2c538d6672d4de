"""Ingestion throughput, side by side with two baselines, on the same files in one run.

    .venv/bin/python bench/bench_ingestion.py [--events 2000000] [--rows-per-file 10000] [--runs 3]

(a) physical limit: psql \\copy of the files into a scratch table with the
    contract's columns, one loader, no validation;
(b) the common approach: Spark Structured Streaming foreachBatch -> Spark's
    JDBC writer (append, reWriteBatchedInserts=true), no validation, no
    exactly-once (the PostgreSQL JDBC driver from libpostgresql-jdbc-java);
(c) ours: `python -m ingestion --once`: validation, quarantine, lineage and the
    exactly-once ledger, into raw.ecommerce_events.

Each path runs --runs times in turn; the medians are printed. "overall" is
rows / process wall time (Spark's start included); "steady" excludes the
first micro-batch. Peak RSS is sampled from /proc. It prints figures and
never passes or fails on time. Runs on its own PostgreSQL (see support.py).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))

import support  # noqa: E402

from pipeline import cli  # noqa: E402

JDBC_JAR = Path(os.environ.get("ECOM_JDBC_JAR", "/usr/share/java/postgresql.jar"))
MAX_FILES = 50


def prepare_tables() -> None:
    from pipeline import contract

    columns = ", ".join(f"{f.name} {f.sql_type}" for f in contract.FIELDS)
    support.admin_sql(
        "create schema if not exists bench_scratch; "
        f"create table if not exists bench_scratch.events_copy ({columns}) "
        "with (autovacuum_enabled = false); "
        f"create table if not exists bench_scratch.events_jdbc ({columns}) "
        "with (autovacuum_enabled = false); "
        "alter table raw.ecommerce_events set (autovacuum_enabled = false); "
        "alter table raw.ecommerce_events_rejected set (autovacuum_enabled = false)"
    )


def reset() -> None:
    from pipeline import db

    support.admin_sql(
        f"truncate bench_scratch.events_copy, bench_scratch.events_jdbc; {db.TRUNCATE_RAW}; "
        "checkpoint"
    )


def copy_command(files: list[Path]) -> tuple[list[str], dict[str, str], Path]:
    """Baseline (a): psql \\copy of every file into bench_scratch.events_copy, no validation.

    Returns the command, its environment (the administrator's libpq settings)
    and the script file, which the caller deletes after the run.
    """
    from pipeline import contract, settings

    admin = settings.connection(None)
    script = "\n".join(
        f"\\copy bench_scratch.events_copy ({', '.join(contract.FIELD_NAMES)}) from '{path}' "
        "with (format csv, header true)"
        for path in files
    )
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script + "\n")
    env = dict(
        os.environ,
        PGHOST=admin.host,
        PGPORT=str(admin.port),
        PGDATABASE=admin.dbname,
        PGUSER=admin.user,
        PGPASSWORD=admin.password or "",
    )
    return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", handle.name], env, Path(handle.name)


def run_copy(files: list[Path]) -> dict:
    cmd, env, script = copy_command(files)
    wall, _, sampler = support.measure(cmd, env)
    script.unlink()
    rows = support.admin_sql("select count(*) from bench_scratch.events_copy")[0][0]
    return {
        "wall": wall,
        "rows": rows,
        "steady": rows / wall,
        "jvm_mb": 0.0,
        "py_mb": sampler.peak_total_mb,
    }


def run_jdbc(data: Path) -> dict:
    with tempfile.TemporaryDirectory() as checkpoint:
        wall, result, sampler = support.measure(
            [sys.executable, __file__, "--jdbc-worker", str(data), checkpoint], dict(os.environ)
        )
    batches = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    rows = support.admin_sql("select count(*) from bench_scratch.events_jdbc")[0][0]
    return {
        "wall": wall,
        "rows": rows,
        "steady": _steady(batches),
        "jvm_mb": sampler.peak_jvm_mb,
        "py_mb": sampler.peak_python_mb,
    }


def _steady(batches: list[dict]) -> float:
    """Rows per second after the first batch: rows of batches 2..n over their span."""
    if len(batches) < 2:
        return float("nan")
    rows = sum(b["rows"] for b in batches[1:])
    return rows / (batches[-1]["end"] - batches[0]["end"])


def run_ours(data: Path) -> dict:
    with tempfile.TemporaryDirectory(dir=support.BENCH_STATE) as state:
        wall, result, sampler = support.measure(
            support.ingestion_command(
                support.linked_inputs(data, state), state, "--max-files-per-trigger", str(MAX_FILES)
            ),
            dict(os.environ),
        )
    ledger = support.admin_sql(
        "select rows_in, extract(epoch from committed_at) from raw.ingestion_batches order by batch_id"
    )
    batches = [{"rows": rows, "end": float(end)} for rows, end in ledger]
    rows = support.admin_sql("select count(*) from raw.ecommerce_events")[0][0]
    rejected = support.admin_sql("select count(*) from raw.ecommerce_events_rejected")[0][0]
    return {
        "wall": wall,
        "rows": rows + rejected,
        "steady": _steady(batches),
        "jvm_mb": sampler.peak_jvm_mb,
        "py_mb": sampler.peak_python_mb,
        "spark_log": [line for line in result.stderr.splitlines() if "batch" in line][-1:],
    }


def jdbc_worker(data: str, checkpoint: str) -> None:
    """Baseline (b), in its own process: CSV stream -> foreachBatch -> JDBC append."""
    from ingestion.spark import build_session
    from pipeline import contract, settings

    # the JVM's default JIT: C1 alone makes this baseline 37% slower per row
    spark = build_session(
        "local[*]", app_name="bench-jdbc", quick_jit=False, **{"spark.jars": str(JDBC_JAR)}
    )
    admin = settings.connection(None)
    spark_types = {
        "uuid": "string",
        "text": "string",
        "bigint": "bigint",
        "numeric(10,2)": "decimal(10,2)",
        "integer": "int",
        "timestamptz": "timestamp",
    }
    schema = ", ".join(f"{f.name} {spark_types[f.sql_type]}" for f in contract.FIELDS)
    url = f"jdbc:postgresql://{admin.host}:{admin.port}/{admin.dbname}"
    props = {
        "user": admin.user,
        "password": admin.password or "",
        "driver": "org.postgresql.Driver",
        "reWriteBatchedInserts": "true",
        "stringtype": "unspecified",
        "batchsize": "10000",
    }

    counted = [0]

    def write(df, batch_id: int) -> None:
        df.write.jdbc(url, "bench_scratch.events_jdbc", mode="append", properties=props)
        end = time.time()
        total = support.admin_sql("select count(*) from bench_scratch.events_jdbc")[0][0]
        print(json.dumps({"batch": batch_id, "rows": total - counted[0], "end": end}), flush=True)
        counted[0] = total

    stream = (
        spark.readStream.schema(schema)
        .option("header", "true")
        .option("maxFilesPerTrigger", MAX_FILES)
        .csv(data)
    )
    query = (
        stream.writeStream.foreachBatch(write)
        .option("checkpointLocation", checkpoint)
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    spark.stop()


@click.command(cls=cli.Command, help=__doc__.splitlines()[0])
@click.option("--events", type=int, default=2_000_000)
@click.option("--rows-per-file", type=int, default=10_000)
@click.option("--runs", type=int, default=3)
@click.option("--jdbc-worker", nargs=2, hidden=True)
def main(**options) -> None:
    args = SimpleNamespace(**options)
    if args.jdbc_worker:
        support.isolated_warehouse()
        jdbc_worker(*args.jdbc_worker)
        return
    if not JDBC_JAR.exists():
        sys.exit(
            f"{JDBC_JAR} not found: apt-get install libpostgresql-jdbc-java (or set ECOM_JDBC_JAR)"
        )
    support.isolated_warehouse()
    data = support.dataset(args.events, args.rows_per_file, seed=42)
    files = sorted(data.glob("*.csv"))
    prepare_tables()
    results: dict[str, list[dict]] = {"a": [], "b": [], "c": []}
    for run in range(1, args.runs + 1):
        for key, label, fn in (
            ("a", "psql \\copy", lambda: run_copy(files)),
            ("b", "Spark JDBC", lambda: run_jdbc(data)),
            ("c", "ours", lambda: run_ours(data)),
        ):
            reset()
            result = fn()
            results[key].append(result)
            print(
                f"run {run} {label:<11} {result['rows']:>9,} rows in {result['wall']:6.1f}s "
                f"overall {result['rows'] / result['wall']:>9,.0f} rows/s, steady {result['steady']:>9,.0f} rows/s",
                flush=True,
            )
    print()
    print(
        f"{len(files)} files, {args.events:,} events, {os.cpu_count()} cores; medians of {args.runs} runs"
    )
    print(
        f"{'path':<46} {'wall s':>7} {'overall r/s':>12} {'steady r/s':>11} {'JVM MB':>7} {'py MB':>6}"
    )
    names = {
        "a": "(a) psql \\copy, one loader, no validation",
        "b": "(b) Spark foreachBatch -> JDBC append",
        "c": "(c) ours: validate, quarantine, exactly-once",
    }
    medians = {}
    for key, runs in results.items():
        wall = support.median([r["wall"] for r in runs])
        overall = support.median([r["rows"] / r["wall"] for r in runs])
        steady = support.median([r["steady"] for r in runs])
        medians[key] = (overall, steady)
        print(
            f"{names[key]:<46} {wall:>7.1f} {overall:>12,.0f} {steady:>11,.0f} "
            f"{max(r['jvm_mb'] for r in runs):>7,.0f} {max(r['py_mb'] for r in runs):>6,.0f}"
        )
    for other in ("a", "b"):
        print(
            f"c/{other}: overall {medians['c'][0] / medians[other][0]:.2f}x, "
            f"steady {medians['c'][1] / medians[other][1]:.2f}x"
        )


if __name__ == "__main__":
    cli.run(main, "bench_ingestion")
