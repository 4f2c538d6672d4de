"""`make demo`: the whole pipeline end to end on the local warehouse, then a short report.

generate (seeded, with a few bad rows and duplicates) -> Spark streaming
ingestion (--once) -> dbt build -> Great Expectations checkpoints -> report.

Safe to run twice: the demo keeps its files in .warehouse/demo, and on the
project-managed PostgreSQL it empties the raw tables first, so every run
reports the same numbers. On your own server (PGHOST set) it only appends:
duplicates are removed in staging, so the marts come out the same.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import click

from ecom import dbt_runner, localdb
from pipeline import cli, db, settings
from pipeline.errors import UserError

log = logging.getLogger("demo")


class DemoError(UserError):
    """A step of the demo failed; the message says which, and where to look."""


@dataclass
class DemoRun:
    folder: Path
    events: int
    seed: int
    timings: dict[str, float] = field(default_factory=dict)
    dbt_summary: str = ""
    gx_summary: list[str] = field(default_factory=list)
    gx_ok: bool = False


def _step(run: DemoRun, name: str, cmd: list[str]) -> str:
    log.info("%s: %s", name, " ".join(cmd[:6]) + (" ..." if len(cmd) > 6 else ""))
    started = time.monotonic()
    result = subprocess.run(
        cmd,
        cwd=settings.home_dir(),
        env={**settings.environment(), **settings.dbt_environment()},
        capture_output=True,
        text=True,
    )
    run.timings[name] = time.monotonic() - started
    output = result.stdout + result.stderr
    if result.returncode not in (0, 1) or (result.returncode == 1 and name != "checkpoints"):
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise DemoError(f"{name} failed (exit {result.returncode}):\n{tail}")
    return output


# The demo's micro-batches carry this stream name, so it can tell its own data from others'.
DEMO_STREAM = "demo"


def reset_raw(run: DemoRun, allow_reset: bool = False) -> None:
    """Start from an empty raw layer on the managed warehouse, but never wipe data
    of other streams (make stream, make live) without --reset."""
    if localdb.is_managed():
        with db.connection(None) as conn, conn.cursor() as cur:
            cur.execute(
                "select count(*), coalesce(sum(rows_in), 0) from raw.ingestion_batches "
                "where stream_name <> %s",
                (DEMO_STREAM,),
            )
            batches, rows = cur.fetchone()
            if batches and not allow_reset:
                raise DemoError(
                    f"the warehouse holds {rows:,} rows in {batches:,} micro-batches of other "
                    "streams (make stream, make live); the demo starts from an empty raw layer "
                    "and would delete them: run 'ecom demo --reset' (make demo "
                    "DEMO_ARGS=--reset) to allow it"
                )
            cur.execute(db.TRUNCATE_RAW)
            conn.commit()
        log.info("emptied the raw tables of the project-managed warehouse")
    else:
        log.info("your own PostgreSQL: appending (staging removes the duplicates)")
    shutil.rmtree(run.folder, ignore_errors=True)
    run.folder.mkdir(parents=True)


def pipeline(run: DemoRun) -> None:
    _generate_and_ingest(run)
    _build_and_check(run)


def _generate_and_ingest(run: DemoRun) -> None:
    python = sys.executable
    inputs, manifest = run.folder / "inputs", run.folder / "manifest.jsonl"
    _step(
        run,
        "generate",
        [
            python,
            "-m",
            "generator",
            "--events",
            str(run.events),
            "--seed",
            str(run.seed),
            "--rows-per-file",
            "5000",
            "--bad-rate",
            "0.01",
            "--duplicate-rate",
            "0.02",
            "--output-dir",
            str(inputs),
            "--manifest",
            str(manifest),
            "--quiet",
        ],
    )
    _step(
        run,
        "ingest",
        [
            python,
            "-m",
            "ingestion",
            "--once",
            "--input-dir",
            str(inputs),
            "--checkpoint-dir",
            str(run.folder / "checkpoint"),
            "--archive-dir",
            str(run.folder / "archive"),
            "--quarantine-dir",
            str(run.folder / "quarantine"),
            "--stream-name",
            DEMO_STREAM,
        ],
    )


def _build_and_check(run: DemoRun) -> None:
    full_refresh = ["--full-refresh"] if localdb.is_managed() else []
    log.info("dbt build%s", " --full-refresh" if full_refresh else "")
    started = time.monotonic()
    built = dbt_runner.check(dbt_runner.invoke(["build", "--quiet", *full_refresh]), "dbt build")
    run.timings["dbt build"] = time.monotonic() - started
    run.dbt_summary = dbt_runner.summary(built)
    from expectations import checkpoints, runner  # GX: 3 s to import, only here

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    log.info("checkpoints: %s", ", ".join(checkpoints.NAMES))
    started = time.monotonic()
    outcomes = list(runner.run(list(checkpoints.NAMES)))
    run.timings["checkpoints"] = time.monotonic() - started
    run.gx_summary = [outcome.summary() for outcome in outcomes]
    run.gx_ok = bool(outcomes) and all(outcome.success for outcome in outcomes)
    failures = [failure.line() for outcome in outcomes for failure in outcome.failures]
    run.gx_summary += failures[:5]


def _rows(role: str, statement: str) -> list[tuple]:
    with db.connection(role) as conn, conn.cursor() as cur:
        cur.execute(statement)
        return cur.fetchall()


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def report(run: DemoRun) -> str:
    lines = [
        "",
        "=" * 72,
        f"Demo: {run.events:,} events (seed {run.seed}) through the whole pipeline",
        "=" * 72,
        *_mart_lines(),
        "",
        f"dbt build   {run.dbt_summary}",
        "GX          " + ("\n            ".join(run.gx_summary) or "(no result)"),
        "",
        "Steps: " + ", ".join(f"{name} {seconds:.0f}s" for name, seconds in run.timings.items()),
        "",
        "Look further:",
        *_next_steps(),
    ]
    return "\n".join(lines)


def _mart_lines() -> list[str]:
    """What the warehouse holds now: ingestion, the funnel, the top products."""
    loaded, rejected = _rows(
        "auditor",
        "select (select count(*) from raw.ecommerce_events), "
        "(select count(*) from raw.ecommerce_events_rejected)",
    )[0]
    reasons = _rows(
        "auditor",
        "select reason, count(*) from raw.ecommerce_events_rejected, unnest(reasons) as reason "
        "group by reason order by 2 desc, 1 limit 5",
    )
    staged = _rows("auditor", "select count(*) from staging.stg_ecommerce__events")[0][0]
    top = _rows(
        "analyst",
        "select product_name, category, orders, units, revenue from marts.revenue_by_product "
        "order by revenue desc, product_id limit 5",
    )
    funnel = _rows(
        "analyst",
        "select sum(views), sum(add_to_carts), sum(purchases), sum(revenue) "
        "from marts.fct_funnel_daily",
    )[0]
    converting = _rows(
        "analyst",
        "select product_name, views, purchases, view_to_purchase_rate, min_views "
        "from marts.top_converting_products where conversion_rank <= 5 order by conversion_rank",
    )
    views, carts, purchases, revenue = funnel
    lines = [
        f"Ingestion   {loaded:,} rows loaded, {rejected:,} quarantined; "
        f"{staged:,} distinct events after deduplication",
    ]
    if reasons:
        lines.append("            top reasons: " + ", ".join(f"{r} ({n})" for r, n in reasons))
    lines += [
        f"Funnel      {views:,} views -> {carts:,} add-to-carts ({_share(carts, views)}) -> "
        f"{purchases:,} purchases ({_share(purchases, carts)} of carts); revenue {revenue:,.2f}",
        "",
        "Top products by revenue",
    ]
    for name, category, orders, units, amount in top:
        lines.append(
            f"  {name[:34]:<34} {category[:14]:<14} {orders:>4} orders {units:>5} units {amount:>12,.2f}"
        )
    lines.append("")
    least = converting[0][4] if converting else 20
    lines.append(f"Best view-to-purchase rates (products with >= {least} views and a purchase)")
    for name, product_views, product_purchases, product_rate, _ in converting:
        lines.append(
            f"  {name[:34]:<34} {product_purchases:>4} of {product_views:>5} views  "
            f"{float(product_rate or 0) * 100:5.1f}%"
        )
    return lines


def _next_steps() -> list[str]:
    """What to try next, as make targets in a checkout, as ecom commands when installed."""
    context = settings.REPO_ROOT / "expectations" / "gx"  # as expectations.context places it
    if not settings.uses_checkout():
        context = settings.state_dir() / "gx"
    data_docs = context / "uncommitted" / "data_docs" / "local_site" / "index.html"
    steps = [
        (
            "make docs",
            "ecom dbt docs generate; ecom dbt docs serve",
            "dbt docs (models, tests, lineage) on http://127.0.0.1:8080",
        ),
        (
            "make psql ROLE=analyst",
            "ecom psql --role analyst",
            "psql as the BI role; try: select * from marts.revenue_by_product;",
        ),
        ("make dashboard", "ecom dashboard", "the marts in a browser, on http://127.0.0.1:8050"),
        (
            "make live",
            "ecom live",
            "generator + stream + dbt cycles, with mart freshness per cycle",
        ),
        ("make status", "ecom status", "the ingestion ledger: last batches, totals, files waiting"),
    ]
    column = 0 if settings.uses_checkout() else 1
    width = max(len(step[column]) for step in steps) + 2
    return [
        *(f"  {step[column]:<{width}} {step[2]}" for step in steps),
        f"  open {data_docs}   (GX Data Docs)",
    ]


@click.command(cls=cli.Command, help=__doc__.splitlines()[0])
@click.option("--events", type=cli.positive_int, default=50_000, help="events to generate")
@click.option("--seed", type=cli.integer, default=2026, help="the generator's seed")
@click.option(
    "--folder", type=cli.path, help="demo files (default: <state dir>/demo, e.g. .warehouse/demo)"
)
@click.option(
    "--reset",
    is_flag=True,
    help="on the project-managed warehouse, empty raw even when it holds data of "
    "other streams (make stream, make live)",
)
@click.option(
    "--start/--no-start",
    default=True,
    hidden=True,
    help="start (or reach) the warehouse first, once the arguments are known to be good",
)
def main(events: int, seed: int, folder: Path | None, reset: bool, start: bool) -> int:
    """The demo; with ``start``, the warehouse is started (or reached) first, once the
    arguments are known to be good (a fresh install's first command)."""
    cli.configure_logging()
    if start:
        localdb.up()
    run = DemoRun(folder or settings.state_dir() / "demo", events, seed)
    started = time.monotonic()
    reset_raw(run, allow_reset=reset)
    pipeline(run)
    print(report(run))
    print(
        f"\nDemo finished in {time.monotonic() - started:.0f}s: "
        + ("all green." if run.gx_ok else "some checkpoints FAILED (see above).")
    )
    return 0 if run.gx_ok else 1


if __name__ == "__main__":
    cli.run(main, "make demo", ["--no-start", *sys.argv[1:]])
