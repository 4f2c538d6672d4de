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
