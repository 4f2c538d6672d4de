"""Incremental dbt runs give exactly what a full refresh gives.

Half of the files are loaded and built (full refresh); then the rest arrives
(replays of events already staged, late events for old days, sessions that
continue) and `dbt build` runs incrementally. The marts must then equal both
a `--full-refresh` over all the data and the independent computation, and the
second run must really have been incremental (it kept what it had staged).
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from pipeline import db
from tests.support.ingest import ingest_csv_folder
from tests.support.marts import (
    MARTS,
    START,
    expected_marts,
    incremental_scenarios,
    make_events,
    mart_rows,
    plan_files,
    query,
    run_dbt,
    truncate_raw,
    valid_events,
    write_files,
)

pytestmark = pytest.mark.integration

SEED = 4242
FILES = 6
# The intermediate models that fold new events into stored rows, and their keys.
FOLDED = {
    "int_sessions_aggregated": "session_id",
    "int_session_products_aggregated": "session_id, product_id",
    "int_user_days_aggregated": "user_id, event_date",
    "int_product_days_described": "product_id, event_date",
}


def _folded_rows(model: str) -> list[dict]:
    """All rows of an intermediate model by its key, without when they were staged."""
    rows = query(f"select to_jsonb(t) from staging.{model} as t order by {FOLDED[model]}")
    return [
        {k: v for k, v in row.items() if k not in ("staged_at", "first_staged_at")}
        for (row,) in rows
    ]


def _staging_runs() -> list[tuple]:
    """(staged_at, rows) per dbt run that staged events, oldest first."""
    return query(
        "select staged_at, count(*) from staging.stg_ecommerce__events group by 1 order by 1"
    )


@pytest.fixture(scope="module")
def runs(warehouse, tmp_path_factory):
    truncate_raw()
    events = make_events(SEED)
    # Late events only for the day the first load ends in: the days before it
    # are then touched by the second load through the scenarios alone.
    chunks = plan_files(events, SEED, files=FILES, late_since=START + timedelta(days=2))
    scenario_first, scenario_rest = incremental_scenarios()
    chunks[FILES // 2 - 1].extend(e.line() for e in scenario_first)
    chunks[-1].extend(e.line() for e in scenario_rest)
    first, rest = chunks[: FILES // 2], chunks[FILES // 2 :]

    folder = tmp_path_factory.mktemp("dbt-incremental-first")
    write_files(folder, first)
    ingest_csv_folder(folder)
    run_dbt("build", "--full-refresh")
    after_first = {mart: mart_rows(mart) for mart in MARTS}
    staged_first = _staging_runs()

    folder = tmp_path_factory.mktemp("dbt-incremental-rest")
    write_files(folder, rest, first_number=len(first) + 1)
    ingest_csv_folder(folder)
    run_dbt("build")
    incremental = {mart: mart_rows(mart) for mart in MARTS}
    folded = {model: _folded_rows(model) for model in FOLDED}
    staged_incremental = _staging_runs()

    run_dbt("run")  # nothing new: must change nothing
    rerun = {mart: mart_rows(mart) for mart in MARTS}
    staged_rerun = _staging_runs()

    # staging rebuilt on its own: downstream runs see every event as new
    run_dbt("run", "--full-refresh", "--select", "stg_ecommerce__events")
    run_dbt("run")
    restaged = {mart: mart_rows(mart) for mart in MARTS}

    run_dbt("build", "--full-refresh")
    full = {mart: mart_rows(mart) for mart in MARTS}
    folded_full = {model: _folded_rows(model) for model in FOLDED}

    return SimpleNamespace(
        first_events=valid_events(first),
        all_events=valid_events(chunks),
        rest=rest,
        after_first=after_first,
        staged_first=staged_first,
        incremental=incremental,
        staged_incremental=staged_incremental,
        rerun=rerun,
        staged_rerun=staged_rerun,
        restaged=restaged,
        full=full,
        folded=folded,
        folded_full=folded_full,
    )


def test_the_second_half_has_replays_late_events_and_continued_sessions(runs):
    first_ids = {e.event_id for e in runs.first_events}
    rest = valid_events(runs.rest)
    assert any(e.event_id in first_ids for e in rest)  # replays of staged events
    newest_first = max(e.event_at for e in runs.first_events)
    new = [e for e in rest if e.event_id not in first_ids]
    assert sum(e.event_at < newest_first for e in new) > 5  # late: older than what was built
    first_sessions = {e.session_id for e in runs.first_events}
    assert any(e.session_id in first_sessions for e in new)  # sessions that continue


def test_the_first_build_covers_the_first_half(runs):
    assert runs.after_first == expected_marts(runs.first_events)
    assert runs.after_first != runs.incremental


def test_the_second_run_was_incremental(runs):
    # the first run's rows were kept as they were, the new ones were added once
    assert runs.staged_incremental[0] == runs.staged_first[0]
    assert len(runs.staged_incremental) == 2
    assert sum(n for _, n in runs.staged_incremental) == len(runs.all_events)


@pytest.mark.parametrize("mart", MARTS)
def test_incremental_equals_full_refresh(runs, mart):
    assert runs.incremental[mart] == runs.full[mart]


@pytest.mark.parametrize("model", FOLDED)
def test_folded_intermediate_rows_equal_full_refresh(runs, model):
    assert runs.folded[model], model
    assert runs.folded[model] == runs.folded_full[model]


def test_a_late_view_moves_a_folded_session_up_the_funnel(runs):
    # scenario d: its cart preceded its only view until a late, earlier view arrived
    (row,) = [r for r in runs.folded["int_sessions_aggregated"] if r["session_id"] == "scn-d"]
    assert (row["events"], row["has_carted_after_view"], row["has_purchased_after_cart"]) == (
        4,
        True,
        True,
    )
    assert row["carts_before_view"] == []


@pytest.mark.parametrize("mart", MARTS)
def test_incremental_equals_the_independent_computation(runs, mart):
    assert runs.incremental[mart] == expected_marts(runs.all_events)[mart]


def test_a_run_without_new_data_changes_nothing(runs):
    assert runs.staged_rerun == runs.staged_incremental
    assert runs.rerun == runs.incremental


@pytest.mark.parametrize("mart", MARTS)
def test_a_rebuild_of_staging_alone_is_absorbed_downstream(runs, mart):
    # the additive dim_users must not add every event to itself a second time
    assert runs.restaged[mart] == runs.full[mart]


def test_a_session_table_of_the_release_before_is_rebuilt_once(runs):
    # that release stored neither the first event's id nor the carts before the view
    with db.connection("transformer") as conn, conn.cursor() as cur:
        cur.execute(
            "alter table staging.int_sessions_aggregated "
            "drop column first_event_id, drop column carts_before_view"
        )
        cur.execute("update staging.int_sessions_aggregated set events = -1")
        conn.commit()
    run_dbt("run", "--select", "int_sessions_aggregated")
    assert _folded_rows("int_sessions_aggregated") == runs.folded_full["int_sessions_aggregated"]
