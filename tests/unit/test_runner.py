"""The checkpoint runner's pure pieces (no services)."""

from __future__ import annotations

from datetime import UTC, datetime

from expectations import runner


def _outcome(*observed: str) -> runner.Outcome:
    failures = [
        runner.Failure("marts.dim_users", None, "expect_column_values_to_be_between", "", text)
        for text in observed
    ]
    return runner.Outcome(
        "marts_layer", not failures, 3, 3 - len(failures), datetime.now(UTC), 1.0, failures
    )


def test_only_a_torn_read_is_run_again():
    torn = "an error: Invalid result values were found when trying to instantiate an X."
    assert runner._torn(_outcome(torn))
    assert not runner._torn(_outcome(torn, "1 of 5003 rows unexpected, e.g. -1.00"))
    assert not runner._torn(_outcome("an error: column missing"))
    assert not runner._torn(_outcome())


def test_a_window_says_what_it_holds_and_sets_its_bounds_on_gx_sessions():
    since = datetime(2026, 12, 5, 6, 42, 46, 932235, tzinfo=UTC)
    new = runner.Window(from_xmin=1139, to_xmin=1200, since=since, batches=2, rows=20_020)
    assert new.describe() == "2 batches (20,020 rows) committed since the last passed run"
    assert new.session_settings() == {
        "ecom.raw_check_from_xmin": "1139",
        "ecom.raw_check_to_xmin": "1200",
        "ecom.raw_check_since": "2026-12-05T06:42:46.932235+00:00",
    }
    empty = runner.Window(from_xmin=1200, to_xmin=1201, since=None, batches=0, rows=0)
    assert empty.describe() == "no batch committed since the last passed run"
    assert empty.session_settings()["ecom.raw_check_since"] == "infinity"  # no row at all
    # the first run, or --full: every row, those no ledger batch accounts for included
    every = runner.Window(from_xmin=0, to_xmin=1200, since=since, batches=1, rows=5)
    assert every.describe() == "every batch: 1 batch (5 rows)"
    assert every.session_settings()["ecom.raw_check_since"] == "-infinity"
    outcome = runner.Outcome("raw_layer", True, 3, 3, since, 1.25, window=new)
    assert outcome.summary() == (
        "raw_layer: 3/3 expectations passed, on 2 batches (20,020 rows) committed since the "
        "last passed run (1.2s)"
    )
