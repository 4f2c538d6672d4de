"""The dashboard's pure parts: folding, summaries, the empty state, the command line."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

from dashboard import app, data, figures

REPO_ROOT = app.ASSETS.parents[1]


def run(when: str, success: bool) -> data.CheckpointRun:
    at = datetime.fromisoformat(when).replace(tzinfo=UTC)
    return data.CheckpointRun(
        "marts_layer", success, 3, 3 if success else 4, 0 if success else 1, at
    )


def test_quarantine_reasons_fold_into_other_beyond_the_limit():
    reasons = [("b", 5), ("a", 5), ("c", 1), ("d", 2)]
    assert figures.fold_reasons(reasons, 4) == [("a", 5), ("b", 5), ("d", 2), ("c", 1)]
    assert figures.fold_reasons(reasons, 3) == [("a", 5), ("b", 5), ("other (2 reasons)", 3)]


def test_quality_tile_says_failed_when_any_latest_run_failed():
    assert app.quality_summary(None)[0] == "unknown"
    assert app.quality_summary([])[0] == "not run"
    assert app.quality_summary([run("2026-01-01T10:00", True)])[0] == "passed"
    value, note, tone = app.quality_summary(
        [run("2026-01-01T10:00", True), run("2026-01-01T11:00", False)]
    )
    assert (value, tone) == ("FAILED", "bad")
    assert note == "1 of 2 checkpoints failed · 01 Jan 11:00 UTC"


def test_a_warehouse_without_marts_or_rows_is_empty():
    assert data.Snapshot().is_empty
    no_days = data.Totals(0, 0, 0, Decimal(0), 0, 0, 0, None)
    assert data.Snapshot(marts_built=True, totals=no_days).is_empty
    one_day = data.Totals(10, 2, 1, Decimal("9.99"), 5, 1, 1, None)
    assert not data.Snapshot(marts_built=True, totals=one_day).is_empty


def test_every_figure_draws_empty_input_as_nothing_plotted():
    for figure in (
        figures.revenue_figure([], 10),
        figures.conversion_figure([], 10),
        figures.quarantine_figure([]),
        figures.ingestion_figure([]),
    ):
        traces = figure.to_plotly_json()["data"]
        assert traces and all(len(trace["x"]) == len(trace["y"]) == 0 for trace in traces)
    funnel = figures.funnel_figure(data.Totals(0, 0, 0, Decimal(0), 0, 0, 0, None))
    (trace,) = funnel.to_plotly_json()["data"]
    assert (list(trace["x"]), list(trace["y"])) == (
        [0, 0, 0],
        ["Views", "Add to cart", "Purchases"],
    )


def test_help_and_a_bad_port_are_one_screen_and_one_line():
    help_text = subprocess.run(
        [sys.executable, "-m", "dashboard", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--port" in help_text and "--refresh" in help_text and "ecom_analyst" in help_text
    bad = subprocess.run(
        [sys.executable, "-m", "dashboard", "--port", "http"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "python -m dashboard: error: argument --port: expected a port number, got 'http' (see --help)"
    ]
