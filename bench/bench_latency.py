"""End-to-end latency of the running stream, its idle CPU, and its cold start.

    .venv/bin/python bench/bench_latency.py [--probes 50] [--rate 5000] [--trigger 0.5]

With the job running continuously and the generator writing --rate events/s in
the background, small probe files (100 rows) are renamed into the inputs
folder one at a time; the latency of a probe is the time from its rename until
its rows are visible in PostgreSQL (its ledger row commits in the same
transaction as its rows). Then the generator stops and the job's CPU use while
idle is measured. Prints figures; never passes or fails on time. Runs on its
own PostgreSQL (see support.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))

import support  # noqa: E402

from pipeline import cli  # noqa: E402


def probe_file(folder: Path, name: str, rows: int) -> None:
    from pipeline import contract

    lines = [contract.CSV_HEADER]
    for i in range(rows):
        lines.append(
            f"{uuid.uuid4()},view,{i + 1},Probe User,{i + 1},Probe Product,probe,1.00,1,"
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())},{name}"
        )
    tmp = folder / f".{name}.csv.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, folder / f"{name}.csv")


def visible(cur, name: str) -> bool:
    cur.execute("select 1 from raw.ingestion_batches where %s = any(files)", (f"{name}.csv",))
    found = cur.fetchone() is not None
    cur.connection.rollback()
    return found


@click.command(cls=cli.Command, help=__doc__.splitlines()[0])
@click.option("--probes", type=int, default=50)
@click.option("--rate", type=int, default=5000, help="background events/s")
@click.option("--trigger", type=float, help="the job's trigger (default: its own)")
@click.option("--idle-seconds", type=float, default=20.0)
def main(**options) -> None:
    args = SimpleNamespace(**options)
    support.isolated_warehouse()
    from pipeline import db

    with tempfile.TemporaryDirectory(dir=support.BENCH_STATE) as state:
        inputs = Path(state) / "inputs"
        inputs.mkdir()
        log_path = Path(state) / "stream.log"
        trigger = ["--trigger", str(args.trigger)] if args.trigger is not None else []
        started = time.perf_counter()
        stream = subprocess.Popen(
            support.ingestion_command(inputs, state, *trigger, once=False),
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=support.REPO_ROOT,
        )
        conn = db.connect(None)
        cur = conn.cursor()
        run = uuid.uuid4().hex[:8]  # probe names never seen by an earlier run
        probe_file(inputs, f"probe-{run}-warmup", 100)
        while not visible(cur, f"probe-{run}-warmup"):
            if stream.poll() is not None:
                sys.exit(f"the stream exited:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.01)
        first_file = time.perf_counter() - started
        up = next(
            (
                line
                for line in log_path.read_text().splitlines()
                if "Spark" in line and " up in " in line
            ),
            "",
        )
        generator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "generator",
                "--output-dir",
                str(inputs),
                "--manifest",
                f"{state}/manifest.jsonl",
                "--rate",
                str(args.rate),
                "--interval",
                "0.5",
                "--quiet",
            ],
            cwd=support.REPO_ROOT,
        )
        time.sleep(5)  # let the background load settle
        latencies = []
        for number in range(args.probes):
            name = f"probe-{run}-{number:03d}"
            probe_file(inputs, name, 100)
            renamed = time.perf_counter()
            while not visible(cur, name):
                time.sleep(0.005)
            latencies.append(time.perf_counter() - renamed)
            time.sleep(0.2 + (number % 5) * 0.1)
        generator.send_signal(signal.SIGINT)
        generator.wait(timeout=60)
        while any(inputs.glob("*.csv")):
            time.sleep(0.2)
        time.sleep(3)
        cpu_before = support.tree_cpu_seconds(stream.pid)
        time.sleep(args.idle_seconds)
        idle_share = (support.tree_cpu_seconds(stream.pid) - cpu_before) / args.idle_seconds
        stream.send_signal(signal.SIGTERM)
        stream.wait(timeout=120)
        conn.close()

    print(
        f"cold start: {up.split(': ', 1)[-1] if up else '?'}; first file visible "
        f"{first_file:.1f}s after the process started"
    )
    print(
        f"latency over {len(latencies)} probes of 100 rows, background {args.rate:,} events/s, "
        f"trigger {args.trigger if args.trigger is not None else 'default'}:"
    )
    print(
        f"  p50 {support.percentile(latencies, 50):.3f}s  p95 {support.percentile(latencies, 95):.3f}s  "
        f"p99 {support.percentile(latencies, 99):.3f}s  max {max(latencies):.3f}s"
    )
    print(
        f"idle CPU of the job (JVM + Python): {idle_share * 100:.1f}% of one core over {args.idle_seconds:.0f}s"
    )


if __name__ == "__main__":
    cli.run(main, "bench_latency")
