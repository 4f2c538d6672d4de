"""Run checkpoints: check the database first, run GX, report, record the outcome.

:func:`run` yields one :class:`Outcome` per checkpoint. Before GX is even
imported, it connects as ecom_auditor and checks that every table the
checkpoints validate exists and is readable, so that a wrong password or a
missing ``dbt build`` ends in one clear line instead of a stack of failed
expectations. It refuses to run a GX context that differs from the code
(``python -m expectations sync`` updates it). Each outcome is stored in
quality.checkpoint_runs (when that table exists) for BI to chart data quality
over time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2.extras import Json

from expectations import checkpoints, failures
from expectations.failures import Failure
from pipeline import db
from pipeline.errors import UserError

log = logging.getLogger(__name__)


class CheckpointError(UserError):
    """A checkpoint cannot run (unknown name, a table missing); the message names the fix."""


@dataclass(frozen=True)
class Window:
    """What a run of a windowed checkpoint checks: the batches of the loader
    transactions [from_xmin, to_xmin) (sql/migrations/0006). to_xmin is the xmin of
    a snapshot taken as the run starts: every transaction with a smaller id had
    finished, so no batch joins the window later. from_xmin is the to_xmin of the
    last passed run (0: from the first batch, on the first run or with --full)."""

    from_xmin: int
    to_xmin: int
    since: datetime | None  # the oldest xact_started_at in it; None: no batch
    batches: int
    rows: int

    def session_settings(self) -> dict[str, str]:
        """The settings the views of the window read (no spaces: libpq's options)."""
        if self.from_xmin == 0:  # every row, those that no batch accounts for included
            since = "-infinity"
        else:
            since = self.since.isoformat() if self.since else "infinity"
        return {
            "ecom.raw_check_from_xmin": str(self.from_xmin),
            "ecom.raw_check_to_xmin": str(self.to_xmin),
            "ecom.raw_check_since": since,
        }

    def describe(self) -> str:
        held = f"{self.batches:,} batch{'' if self.batches == 1 else 'es'} ({self.rows:,} rows)"
        if self.from_xmin == 0:
            return f"every batch: {held}"
        if not self.batches:
            return "no batch committed since the last passed run"
        return f"{held} committed since the last passed run"


@dataclass
class Outcome:
    """The result of one checkpoint run."""

    checkpoint: str
    success: bool
    evaluated: int
    successful: int
    run_at: datetime
    duration: float
    failures: list[Failure] = field(default_factory=list)
    window: Window | None = None

    def summary(self) -> str:
        text = f"{self.checkpoint}: {self.successful}/{self.evaluated} expectations passed"
        if not self.success:
            text += f", {self.evaluated - self.successful} failed"
        if self.window is not None:
            text += f", on {self.window.describe()}"
        return f"{text} ({self.duration:.1f}s)"


def resolve(names: list[str]) -> list[checkpoints.CheckpointSpec]:
    """The checkpoints called ``names``, in the order given; unknown names are a user error."""
    unknown = [name for name in names if name not in checkpoints.NAMES]
    if unknown:
        raise CheckpointError(
            f"unknown checkpoint {', '.join(repr(n) for n in unknown)}; "
            f"known: {', '.join(checkpoints.NAMES)} (or --all)"
        )
    return [checkpoints.get(name) for name in dict.fromkeys(names)]


def preflight(tables: list[str]) -> None:
    """Connect as ecom_auditor and make sure every table exists and is readable."""
    with db.connection("auditor") as conn, conn.cursor() as cur:
        missing, unreadable = [], []
        for table in tables:
            cur.execute(
                "select to_regclass(%s) is not null, "
                "coalesce(has_table_privilege(to_regclass(%s), 'select'), false)",
                (table, table),
            )
            exists, readable = cur.fetchone()
            if not exists:
                missing.append(table)
            elif not readable:
                unreadable.append(table)
        conn.rollback()
    if missing:
        built_by_dbt = any(table.startswith(("staging.", "marts.")) for table in missing)
        fix = (
            "build them with dbt first ('ecom dbt build', or 'make dbt')"
            if built_by_dbt
            else "migrate the schema with 'ecom db' (or 'make db')"
        )
        raise CheckpointError(
            f"{', '.join(missing)} {'does' if len(missing) == 1 else 'do'} not exist "
            f"(or ecom_auditor cannot see {'it' if len(missing) == 1 else 'them'}): {fix}"
        )
    if unreadable:
        raise CheckpointError(
            f"ecom_auditor may not read {', '.join(unreadable)}: 'make db' restores the grants "
            "on raw; dbt grants select on what it builds (dbt_project.yml)"
        )


def run(names: list[str], *, record: bool = True, full: bool = False) -> Iterator[Outcome]:
    """Run the checkpoints ``names`` in order; yields each outcome as it finishes.

    A windowed checkpoint (raw_layer) checks the batches committed since its last
    passed run, recorded in quality.checkpoint_runs; with ``full``, every batch.
    """
    specs = resolve(names)
    preflight([checkpoints.relation(table) for spec in specs for table in spec.tables])
    windows = {spec.name: window(spec.name, full=full) for spec in specs if spec.windowed}
    session_settings = {
        name: value for one in windows.values() for name, value in one.session_settings().items()
    }

    from great_expectations.core.run_identifier import RunIdentifier

    from expectations import context as gx_context
    from expectations import suites

    context = gx_context.open_context(session_settings=session_settings)
    # Never run definitions other than the code's, and never rewrite committed
    # files behind the user's back: a stale context is a user error.
    stale = gx_context.sync(context, write=False)
    if stale:
        raise CheckpointError(
            f"the GX context in expectations/gx is out of date with the code ({'; '.join(stale)}): "
            "run 'python -m expectations sync' and commit expectations/gx"
        )
    for spec in specs:
        outcome = _run_one(context, spec.name, suites.EVENT_TIME_MAX_PARAMETER, RunIdentifier)
        if _torn(outcome):
            log.warning(
                "%s: a table changed between the queries of one expectation (%s); run again",
                spec.name,
                outcome.failures[0].observed,
            )
            outcome = _run_one(context, spec.name, suites.EVENT_TIME_MAX_PARAMETER, RunIdentifier)
        outcome.window = windows.get(spec.name)
        if record:
            _record(outcome)
        yield outcome


def window(name: str, *, full: bool = False) -> Window:
    """The window of a run of the windowed checkpoint ``name`` that starts now."""
    with db.connection("auditor") as conn, conn.cursor() as cur:
        from_xmin = 0
        if not full:
            cur.execute(
                "select checked_to_xmin from quality.checkpoint_runs "
                "where checkpoint_name = %s and success and checked_to_xmin is not null "
                "order by checked_to_xmin desc limit 1",
                (name,),
            )
            row = cur.fetchone()
            from_xmin = row[0] if row else 0
        cur.execute("select pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        (to_xmin,) = cur.fetchone()
        if from_xmin > to_xmin:  # transaction ids start again in a restored cluster
            log.warning(
                "%s: the last passed run's window ends after transaction %s, beyond this "
                "server's transactions (a restored warehouse?): checking every batch",
                name,
                from_xmin,
            )
            from_xmin = 0
        cur.execute(
            "select count(*), coalesce(sum(rows_in), 0), min(xact_started_at) "
            "from raw.ingestion_batches where xact_id >= %s and xact_id < %s",
            (from_xmin, to_xmin),
        )
        batches, rows, since = cur.fetchone()
        conn.rollback()
    return Window(from_xmin, to_xmin, since, batches, int(rows))


def _run_one(context: Any, name: str, time_max_parameter: str, run_identifier: Any) -> Outcome:
    run_at = datetime.now(UTC)
    parameters = {time_max_parameter: (run_at + timedelta(days=1)).isoformat()}
    started = time.perf_counter()
    result = context.checkpoints.get(name).run(
        expectation_parameters=parameters,
        run_id=run_identifier(run_name=name, run_time=run_at),
    )
    duration = time.perf_counter() - started
    return _outcome(context, name, result, run_at, duration, parameters)


# GX computes one expectation with several queries; when dbt commits between them (live
# mode runs the checkpoints beside its cycles), their counts disagree and GX refuses to
# build a result (InvalidCacheValueError). That says nothing of the data: run it again.
_TORN = "an error: Invalid result values were found"


def _torn(outcome: Outcome) -> bool:
    return bool(outcome.failures) and all(f.observed.startswith(_TORN) for f in outcome.failures)


def data_docs_index() -> Path:
    """Where the Data Docs site's index.html is (written by the checkpoints' action)."""
    from expectations import context as gx_context

    return gx_context.GX_DIR / gx_context.DATA_DOCS_DIR / "index.html"


def _outcome(
    context: Any, name: str, result: Any, run_at: datetime, duration: float, parameters: dict
) -> Outcome:
    evaluated = successful = 0
    found: list[Failure] = []
    for validation in result.run_results.values():
        table = validation.suite_name
        statistics = validation.statistics
        evaluated += statistics["evaluated_expectations"]
        successful += statistics["successful_expectations"]
        failed = [r for r in validation.results if not r.success]
        samples = failures.Samples(context, table, parameters) if failed else None
        for expectation_result in failed:
            found.append(failures.failure(table, expectation_result, samples))
    return Outcome(name, bool(result.success), evaluated, successful, run_at, duration, found)


def recorded_outcomes(since: datetime) -> dict[str, Outcome]:
    """The latest outcome of each checkpoint run since ``since``, as ``_record`` stored
    it in quality.checkpoint_runs (without the expectations' arguments and descriptions,
    which it does not store)."""
    with db.connection("auditor") as conn, conn.cursor() as cur:
        cur.execute(
            "select distinct on (checkpoint_name) checkpoint_name, success, "
            "evaluated_expectations, successful_expectations, run_at, duration_seconds, "
            "failures from quality.checkpoint_runs where run_at >= %s "
            "order by checkpoint_name, run_at desc",
            (since,),
        )
        return {
            name: Outcome(
                checkpoint=name,
                success=success,
                evaluated=evaluated,
                successful=successful,
                run_at=run_at,
                duration=float(duration or 0),
                failures=[
                    Failure(
                        table=f.get("table") or "?",
                        column=f.get("column"),
                        expectation_type=f.get("expectation_type") or "?",
                        arguments="",
                        observed=str(f.get("observed")),
                    )
                    for f in failures or []
                ],
            )
            for name, success, evaluated, successful, run_at, duration, failures in cur
        }


def _record(outcome: Outcome) -> None:
    """Store the outcome in quality.checkpoint_runs (sql/migrations), if it exists."""
    failures = [
        {
            "table": f.table,
            "column": f.column,
            "expectation_type": f.expectation_type,
            "observed": f.observed,
        }
        for f in outcome.failures
    ]
    try:
        with db.connection("auditor") as conn, conn.cursor() as cur:
            cur.execute("select to_regclass('quality.checkpoint_runs') is not null")
            if not cur.fetchone()[0]:
                log.warning(
                    "not recorded: quality.checkpoint_runs does not exist ('make db' creates it)"
                )
                return
            values = {
                "checkpoint_name": outcome.checkpoint,
                "success": outcome.success,
                "evaluated_expectations": outcome.evaluated,
                "successful_expectations": outcome.successful,
                "failed_expectations": outcome.evaluated - outcome.successful,
                "run_at": outcome.run_at,
                "duration_seconds": round(outcome.duration, 3),
                "failures": Json(failures),
            }
            if outcome.window is not None:  # the next run starts where a passed one ended
                values.update(
                    checked_from_xmin=outcome.window.from_xmin,
                    checked_to_xmin=outcome.window.to_xmin,
                    checked_batches=outcome.window.batches,
                    checked_rows=outcome.window.rows,
                )
            cur.execute(
                f"insert into quality.checkpoint_runs ({', '.join(values)}) "
                f"values ({', '.join(['%s'] * len(values))})",
                list(values.values()),
            )
            conn.commit()
    except psycopg2.Error as exc:  # the verdict stands; only its history entry is missing
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        log.warning("not recorded in quality.checkpoint_runs: %s ('make db' grants it)", message)
