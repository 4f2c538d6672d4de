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
    "int_user_days_aggregated": "user_id, event_date",
    "int_product_days_described": "product_id, event_date",
}
# What the daily facts count of sessions and pairs, from the session views
# (the same definitions, recomputed from all staged events), per day.
SESSIONS_PER_DAY = """
    select first_event_date, count(*), count(*) filter (where has_viewed),
        count(*) filter (where has_carted_after_view),
        count(*) filter (where has_purchased_after_cart)
    from staging.int_sessions_aggregated group by 1 order by 1
"""
FUNNEL_SESSIONS_PER_DAY = """
    select event_date, sessions, sessions_viewed, sessions_carted, sessions_purchased
    from marts.fct_funnel_daily where sessions > 0 order by 1
"""
PAIRS_PER_PRODUCT_DAY = """
    select product_id, first_viewed_date, count(*),
        count(*) filter (where has_purchased_after_view)
    from staging.int_session_products_aggregated where has_viewed group by 1, 2 order by 1, 2
"""
PRODUCT_PAIRS_PER_DAY = """
    select product_id, event_date, sessions_viewed, sessions_purchased_after_view
    from marts.fct_product_daily where sessions_viewed > 0 order by 1, 2
"""


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
    session_counts = {
        sql: query(sql)
        for sql in (
            SESSIONS_PER_DAY,
            FUNNEL_SESSIONS_PER_DAY,
            PAIRS_PER_PRODUCT_DAY,
            PRODUCT_PAIRS_PER_DAY,
        )
    }
    scenario_d = query(
        "select events, has_carted_after_view, has_purchased_after_cart "
        "from staging.int_sessions_aggregated where session_id = 'scn-d'"
    )

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
        session_counts=session_counts,
        scenario_d=scenario_d,
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


def test_a_late_view_moves_a_session_up_the_funnel(runs):
    # scenario d: its cart preceded its only view until a late, earlier view arrived
    assert runs.scenario_d == [(4, True, True)]


def test_the_incremental_facts_count_what_the_session_views_define(runs):
    # two codes of one definition: the facts' session deltas (macros/days.sql),
    # folded run by run, and the views over all staged events
    counts = runs.session_counts
    assert counts[SESSIONS_PER_DAY], "no sessions"
    assert counts[FUNNEL_SESSIONS_PER_DAY] == counts[SESSIONS_PER_DAY]
    assert counts[PAIRS_PER_PRODUCT_DAY], "no viewed pairs"
    assert counts[PRODUCT_PAIRS_PER_DAY] == counts[PAIRS_PER_PRODUCT_DAY]


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


def test_the_session_tables_of_the_release_before_become_views(runs):
    # that release kept both as incremental tables
    with db.connection("transformer") as conn, conn.cursor() as cur:
        for model in ("int_sessions_aggregated", "int_session_products_aggregated"):
            cur.execute(f"drop view staging.{model}")
            cur.execute(f"create table staging.{model} (session_id text, events bigint)")
        conn.commit()
    run_dbt("run", "--select", "int_sessions_aggregated", "int_session_products_aggregated")
    kinds = query(
        "select relname, relkind from pg_class where relnamespace = 'staging'::regnamespace "
        "and relname in ('int_sessions_aggregated', 'int_session_products_aggregated') order by 1"
    )
    assert kinds == [("int_session_products_aggregated", "v"), ("int_sessions_aggregated", "v")]
    assert query(SESSIONS_PER_DAY) == runs.session_counts[SESSIONS_PER_DAY]
