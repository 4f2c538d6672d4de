"""dbt from Python, one way for demo and live mode: dbt's programmatic runner
(``dbtRunner``), whose result object is read, never its printed text."""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

from pipeline import settings
from pipeline.errors import UserError, first_line

# dbt's own summary line: "Done. PASS=91 WARN=0 ERROR=0 SKIP=0 NO-OP=3 TOTAL=94"
_SUMMARY = {
    "success": "PASS",
    "pass": "PASS",
    "warn": "WARN",
    "error": "ERROR",
    "fail": "ERROR",
    "runtime error": "ERROR",
    "skipped": "SKIP",
    "no-op": "NO-OP",
}


class DbtError(UserError):
    """dbt could not run, or a node failed; the message names the nodes."""


def invoke(args: list[str], manifest: Any = None) -> Any:
    """``dbt ARGS`` in this process, on the project, its profile and the warehouse's
    settings; returns dbt's dbtRunnerResult."""
    os.environ.update({**settings.environment(), **settings.dbt_environment()})
    from dbt.cli.main import dbtRunner

    return dbtRunner(manifest=manifest).invoke(args)


def _nodes(result: Any) -> list[Any]:
    return getattr(result.result, "results", None) or []


def _status(node: Any) -> str:
    return str(getattr(node.status, "value", node.status)).lower()


def statuses(result: Any) -> Counter:
    """Nodes per status, named as dbt's summary names them."""
    return Counter(_SUMMARY.get(_status(node), _status(node).upper()) for node in _nodes(result))


def summary(result: Any) -> str:
    counts = statuses(result)
    names = ("PASS", "WARN", "ERROR", "SKIP", "NO-OP")
    return " ".join(f"{name}={counts[name]}" for name in names) + f" TOTAL={sum(counts.values())}"


def failure_line(node: Any) -> str:
    """One failed dbt node (a dbt RunResult) as 'name: first line of its message'."""
    return f"{node.node.name}: {first_line(node.message, 'failed, without a message')}"


def failed_nodes(result: Any) -> list[Any]:
    return [node for node in _nodes(result) if _status(node) in ("error", "fail")]


def check(result: Any, what: str) -> Any:
    """``result`` if dbt succeeded, else DbtError naming the failed nodes."""
    if result.success:
        return result
    failed = failed_nodes(result)
    hint = ""
    if any("out of sync" in (node.message or "") for node in failed):
        hint = (
            "; a model's columns changed since its table was built: rebuild once with "
            "'make dbt DBT_ARGS=--full-refresh'"
        )
    detail = "; ".join(failure_line(node) for node in failed) or first_line(
        result.exception, "see the dbt log"
    )
    raise DbtError(f"{what} failed: {detail}{hint}")


class Project:
    """dbt in this process: parsed once, then `dbt run` per cycle without re-parsing."""

    def __init__(self, verbose: bool = False) -> None:
        # dbt's file log (dbt_project/logs/dbt.log) at debug level holds every
        # statement: some 3,000 lines a cycle, a tenth of a cycle's time
        self._common = ["--quiet", *([] if verbose else ["--log-level-file", "info"])]
        parsed = check(invoke(["parse", *self._common]), "dbt parse")
        self._dbt_manifest = parsed.result
        self.slowest = ""

    def run(self, selection: list[str] | None = None) -> float:
        """`dbt run` of the whole project, or of a ``selection`` (dbt flags); returns seconds."""
        started = time.monotonic()
        # --no-write-json: a cycle every few seconds need not rewrite target/*.json
        result = invoke(
            ["run", *self._common, "--no-write-json", *(selection or [])],
            manifest=self._dbt_manifest,
        )
        check(result, "dbt run")
        elapsed = time.monotonic() - started
        timings = sorted(
            ((r.execution_time or 0.0, r.node.name) for r in result.result or []), reverse=True
        )
        self.slowest = ", ".join(f"{name} {seconds:.1f}s" for seconds, name in timings[:2])
        return elapsed
