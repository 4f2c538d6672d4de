"""The GX checkpoints on a real warehouse: generator -> streaming ingestion -> dbt build.

Both layers pass on what the pipeline produces; each fails, naming the right
expectation, when its data is broken (each breakage is undone afterwards);
and ``python -m expectations`` exits 0 / 1 / 2 with one-line errors.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from expectations import checkpoints, runner
from pipeline import db, settings
from tests.support.streaming import Folders, generate, ingest_once, query, reset_raw

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT = Path(sys.executable).parent / "dbt"


def _dbt_build() -> None:
    """dbt build --full-refresh as the transformer, its target/ and logs/ in the test state."""
    env = settings.environment()
    env.update(
        DBT_TARGET_PATH=str(settings.state_dir() / "dbt-gx" / "target"),
        DBT_LOG_PATH=str(settings.state_dir() / "dbt-gx" / "logs"),
        DO_NOT_TRACK="1",
    )
    env.pop("DBT_PGUSER", None)
    result = subprocess.run(
        [str(DBT), "build", "--full-refresh"]
        + ["--project-dir", "dbt_project", "--profiles-dir", "dbt_project"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


@pytest.fixture(scope="module")
def built(warehouse, tmp_path_factory):
    """One warehouse for the module: 20,000 generated events ingested and modelled."""
    reset_raw()
    folders = Folders(tmp_path_factory.mktemp("gx-pipeline"))
    start = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    generate(
        folders,
        *("--events", "20000", "--seed", "5", "--start-time", start),
        *("--bad-rate", "0.01", "--duplicate-rate", "0.02"),
    )
    ingested = ingest_once(folders)
    assert ingested.returncode == 0, ingested.stderr[-4000:]
    _dbt_build()
    (rejected,) = query("select count(*) from raw.ecommerce_events_rejected")[0]
    (duplicated,) = query("select count(*) - count(distinct event_id) from raw.ecommerce_events")[0]
    assert rejected > 0 and duplicated > 0  # the checks see quarantined and replayed rows
    return folders


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "expectations", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def _execute(role: str | None, statements: list[str]) -> None:
    with db.connection(role) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
        conn.commit()


@contextmanager
def _broken(role: str | None, apply: list[str], undo: list[str]) -> Iterator[None]:
    """Commit ``apply`` (GX reads through its own connection), run ``undo`` afterwards."""
    _execute(role, apply)
    try:
        yield
    finally:
        _execute(role, undo)


def _failures(name: str) -> list[runner.Failure]:
    # full: the breakages below edit rows of batches an earlier run has checked,
    # which a run of raw_layer's window leaves alone (see the window's test)
    (outcome,) = runner.run([name], record=False, full=True)
    assert outcome.success is (not outcome.failures)
    return outcome.failures


def _named(failures: list[runner.Failure]) -> set[tuple[str, str | None, str]]:
    return {(f.table, f.column, f.expectation_type) for f in failures}


# --- green -------------------------------------------------------------------


def test_every_checkpoint_passes_on_what_the_pipeline_produced(built):
    (before,) = query("select coalesce(max(run_id), 0) from quality.checkpoint_runs")[0]
    result = _cli("run", "--all")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "FAILED" not in result.stdout
    from expectations import suites

    for spec in checkpoints.CHECKPOINTS:
        (summary,) = [line for line in lines if line.startswith(f"{spec.name}: ")]
        passed, evaluated = summary.split(": ")[1].split(" ")[0].split("/")
        defined = sum(len(suites.SUITES[table]()) for table in spec.tables)
        assert passed == evaluated == str(defined), summary
    (docs,) = [line for line in lines if line.startswith("Data Docs: ")]
    index = Path(docs.removeprefix("Data Docs: "))
    assert index.name == "index.html" and index.is_file()
    assert "raw.ecommerce_events" in index.read_text(encoding="utf-8")
    recorded = query(
        "select checkpoint_name, success, failed_expectations, "
        "evaluated_expectations = successful_expectations "
        f"from quality.checkpoint_runs where run_id > {before} order by run_id"
    )
    assert recorded == [(name, True, 0, True) for name in checkpoints.NAMES]


def test_raw_layer_checks_contract_lineage_and_ledger(built):
    (outcome,) = runner.run(["raw_layer"], record=False)
    assert outcome.success and outcome.evaluated == outcome.successful
    # every column's type and nullness, plus the rules and the reconciliations
    assert outcome.evaluated >= 2 * 14 + 10


def _run(full: bool = False) -> runner.Outcome:
    (outcome,) = runner.run(["raw_layer"], full=full)
    assert outcome.window is not None
    return outcome


def test_raw_layer_checks_what_committed_since_its_last_passed_run(built):
    first = _run()
    assert first.success, [f.line() for f in first.failures]
    nothing_new = _run()
    assert nothing_new.success and nothing_new.window.batches == 0
    assert nothing_new.window.from_xmin == first.window.to_xmin
    assert "on no batch committed since the last passed run" in nothing_new.summary()

    # a new batch, committed the way the loader commits one (rows and ledger row in
    # one transaction), holding a row with an unknown event type
    query_id = "00000000-0000-4000-8000-00000000a1de"
    new_batch = [
        "insert into raw.ecommerce_events select gen_random_uuid(), "
        "case when n = 1 then 'refund' else event_type end, user_id, user_name, product_id, "
        "product_name, category, price, quantity, event_time, session_id, 'gx-window.csv', 0, "
        f"now(), null, '{query_id}' from raw.ecommerce_events, generate_series(1, 2) as n "
        "where event_id = (select event_id from raw.ecommerce_events order by event_id limit 1)",
        "insert into raw.ingestion_batches (stream_name, query_id, batch_id, files, rows_in, "
        f"rows_loaded, rows_rejected, started_at) values ('gx-window', '{query_id}', 0, "
        "'{gx-window.csv}', 2, 2, 0, now())",
    ]
    # and an old row broken in place, in a batch the first run checked
    old_row = (
        "(select event_id from raw.ecommerce_events where source_file <> 'gx-window.csv' "
        "order by event_id limit 1)"
    )
    with _broken(
        None,
        [
            *new_batch,
            f"update raw.ecommerce_events set price = -price - 1 where event_id = {old_row}",
        ],
        [
            f"update raw.ecommerce_events set price = -price - 1 where event_id = {old_row}",
            "delete from raw.ecommerce_events where source_file = 'gx-window.csv'",
            "delete from raw.ingestion_batches where stream_name = 'gx-window'",
        ],
    ):
        window = _run()
        assert (window.window.batches, window.window.rows) == (1, 2)
        assert "on 1 batch (2 rows) committed since the last passed run" in window.summary()
        assert _named(window.failures) == {
            ("raw.ecommerce_events", "event_type", "expect_column_values_to_be_in_set")
        }
        assert window.failures[0].observed.startswith("1 of 2 rows unexpected")
        # a failed run does not move the window: the next one checks the batch again
        again = _run()
        assert again.window.from_xmin == window.window.from_xmin and not again.success
        # what is not new is checked by --full only
        full = _run(full=True)
        assert full.window.from_xmin == 0 and "on every batch" in full.summary()
        assert _named(full.failures) == {
            ("raw.ecommerce_events", "event_type", "expect_column_values_to_be_in_set"),
            ("raw.ecommerce_events", "price", "expect_column_values_to_be_between"),
        }

    # undone: the next window holds the undoing transactions' batches (none), and
    # starts where the last passed run ended, before the broken batch
    after = _run()
    assert after.success and after.window.from_xmin == nothing_new.window.to_xmin


def test_raw_layer_checks_a_file_ledger_row_written_since_its_last_run(built):
    assert _run().success
    # a loaded file's totals edited by hand: the edit is new, so the window holds it
    delivery = (
        "(select min(delivery_id) from raw.ingestion_files where status = 'loaded' "
        "and rows_loaded > 0)"
    )
    with _broken(
        None,
        [
            "update raw.ingestion_files set rows_in = rows_in + 1, rows_loaded = rows_loaded + 1 "
            f"where delivery_id = {delivery}"
        ],
        [
            "update raw.ingestion_files set rows_in = rows_in - 1, rows_loaded = rows_loaded - 1 "
            f"where delivery_id = {delivery}"
        ],
    ):
        (outcome,) = runner.run(["raw_layer"], record=False)
    assert outcome.window.batches == 0
    assert _named(outcome.failures) == {
        ("raw.ingestion_files", None, "unexpected_rows_expectation")
    }
    assert "summed over its parts" in outcome.failures[0].description


# --- red: raw ------------------------------------------------------------------

PROBE_BATCH = (
    "(select query_id, batch_id from raw.ecommerce_events where source_file = 'gx-probe.csv')"
)
# A copy of the oldest loaded row, under another event_id, in the same batch
# (and no delivery: the file ledger is not what these tests break).
PROBE_ROW = (
    "insert into raw.ecommerce_events select gen_random_uuid(), {event_type}, user_id, "
    "user_name, product_id, product_name, category, price, quantity, event_time, "
    "session_id, 'gx-probe.csv', batch_id, ingested_at, null, query_id "
    "from raw.ecommerce_events order by ingested_at limit 1"
)


def test_raw_layer_names_an_unknown_event_type(built):
    # A copy of a loaded row with another id and an unknown event type, its
    # batch's ledger row adjusted so that only the event type is wrong.
    insert = PROBE_ROW.format(event_type="'refund'")
    adjust = (
        "update raw.ingestion_batches set rows_in = rows_in {0} 1, rows_loaded = rows_loaded {0} 1 "
        f"where (query_id, batch_id) = {PROBE_BATCH}"
    )
    with _broken(
        None,
        [insert, adjust.format("+")],
        [adjust.format("-"), "delete from raw.ecommerce_events where source_file = 'gx-probe.csv'"],
    ):
        failures = _failures("raw_layer")
    assert _named(failures) == {
        ("raw.ecommerce_events", "event_type", "expect_column_values_to_be_in_set")
    }
    (failure,) = failures
    assert failure.observed.startswith("1 of ") and "'refund'" in failure.observed
    assert _failures("raw_layer") == []  # undone


def test_raw_layer_names_an_event_from_the_future(built):
    with _broken(
        None,
        [
            "update raw.ecommerce_events set event_time = now() + interval '3 days' "
            "where event_id = (select event_id from raw.ecommerce_events order by event_id limit 1)"
        ],
        [
            "update raw.ecommerce_events set event_time = event_time - interval '3 days' "
            "where event_id = (select event_id from raw.ecommerce_events order by event_id limit 1)"
        ],
    ):
        failures = _failures("raw_layer")
    assert _named(failures) == {
        ("raw.ecommerce_events", "event_time", "expect_column_values_to_be_between")
    }


# A quarantined line that does not say why: issue 23's mutations found an empty
# list of reasons passing every gate.
@pytest.mark.parametrize("reasons", ["{}", "{because}", "{malformed_csv_row,NULL}"])
def test_raw_layer_names_a_quarantined_line_that_does_not_say_why(built, reasons):
    ((source_file, line_number, original),) = query(
        "select source_file, line_number, reasons::text from raw.ecommerce_events_rejected "
        "order by source_file, line_number limit 1"
    )
    where = f"where source_file = '{source_file}' and line_number = {line_number}"
    with _broken(
        None,
        [f"update raw.ecommerce_events_rejected set reasons = '{reasons}' {where}"],
        [f"update raw.ecommerce_events_rejected set reasons = '{original}' {where}"],
    ):
        failures = _failures("raw_layer")
    assert _named(failures) == {
        ("raw.ecommerce_events_rejected", None, "unexpected_rows_expectation")
    }
    (failure,) = failures
    assert "says why" in failure.description and "1 unexpected row" in failure.observed


LEDGER_BREAKS = {
    "a ledger batch whose rows never landed": (
        [
            "insert into raw.ingestion_batches (stream_name, query_id, batch_id, files, "
            "rows_in, rows_loaded, rows_rejected, started_at) values ('gx-probe', "
            "gen_random_uuid(), 999999, '{gx-probe.csv}', 5, 5, 0, now())"
        ],
        ["delete from raw.ingestion_batches where stream_name = 'gx-probe'"],
        "per batch (query_id, batch_id) equal the ledger's rows_loaded",
        "batch_id=999999, ledger_rows_loaded=5, rows_in_ecommerce_events=0",
    ),
    "a quarantined line the ledger does not count": (
        [
            "insert into raw.ecommerce_events_rejected (source_file, line_number, raw_line, "
            "reasons, batch_id, query_id) select 'gx-probe.csv', 2, 'x', "
            "array['malformed_csv_row'], batch_id, query_id from raw.ingestion_batches "
            "order by batch_id, query_id limit 1"
        ],
        ["delete from raw.ecommerce_events_rejected where source_file = 'gx-probe.csv'"],
        "per batch (query_id, batch_id) equal the ledger's rows_rejected",
        "ledger_rows_rejected=",
    ),
    "rows_in that is not rows_loaded + rows_rejected": (
        # The ledger's check constraint forbids it on write; GX catches a
        # ledger restored or written without it.
        [
            "alter table raw.ingestion_batches drop constraint ingestion_batches_rows_reconcile",
            "update raw.ingestion_batches set rows_in = rows_in + 1 "
            "where batch_id = (select min(batch_id) from raw.ingestion_batches)",
        ],
        [
            "update raw.ingestion_batches set rows_in = rows_in - 1 "
            "where batch_id = (select min(batch_id) from raw.ingestion_batches)",
            "alter table raw.ingestion_batches add constraint ingestion_batches_rows_reconcile "
            "check (rows_in = rows_loaded + rows_rejected)",
        ],
        "rows_in = rows_loaded + rows_rejected",
        "rows_in=",
    ),
}


@pytest.mark.parametrize("case", LEDGER_BREAKS, ids=list(LEDGER_BREAKS))
def test_raw_layer_names_a_ledger_that_does_not_reconcile(built, case):
    apply, undo, rule, observed = LEDGER_BREAKS[case]
    with _broken(None, apply, undo):
        failures = _failures("raw_layer")
    assert _named(failures) == {("raw.ingestion_batches", None, "unexpected_rows_expectation")}
    (failure,) = failures
    assert rule in failure.description
    assert failure.observed.startswith("1 unexpected row") and observed in failure.observed


def test_raw_layer_tells_apart_two_queries_batches_with_the_same_id(built):
    # A row landed under batch (A, n) that the ledger books to another query's
    # batch (B, n): the totals per batch_id agree, the batches do not.
    book_to_other_query = (
        "insert into raw.ingestion_batches (stream_name, query_id, batch_id, files, rows_in, "
        "rows_loaded, rows_rejected, started_at) select 'gx-probe', gen_random_uuid(), batch_id, "
        "'{gx-probe.csv}', 1, 1, 0, now() from raw.ecommerce_events "
        "where source_file = 'gx-probe.csv'"
    )
    with _broken(
        None,
        [PROBE_ROW.format(event_type="event_type"), book_to_other_query],
        [
            "delete from raw.ingestion_batches where stream_name = 'gx-probe'",
            "delete from raw.ecommerce_events where source_file = 'gx-probe.csv'",
        ],
    ):
        failures = _failures("raw_layer")
    assert _named(failures) == {("raw.ingestion_batches", None, "unexpected_rows_expectation")}
    (failure,) = failures
    assert "per batch (query_id, batch_id)" in failure.description
    # both batches: (A, n) holds one row more than its ledger row says, (B, n) one less
    assert failure.observed.startswith("2 unexpected rows, e.g. query_id=")


# --- red: staging and marts ------------------------------------------------------


def test_staging_layer_names_an_empty_staging(built):
    with _broken(
        "transformer",
        [
            "create table staging.stg_events_aside as select * from staging.stg_ecommerce__events",
            "delete from staging.stg_ecommerce__events",
        ],
        [
            "insert into staging.stg_ecommerce__events select * from staging.stg_events_aside",
            "drop table staging.stg_events_aside",
        ],
    ):
        failures = _failures("staging_layer")
    assert _named(failures) == {
        ("staging.stg_ecommerce__events", None, "expect_table_row_count_to_be_between")
    }


# (break, undo, the failures expected, a part of the first one's observation). The
# marts' keys and their totals against staging are dbt's tests, not these.
MART_BREAKS = {
    # a derived column corrupted, its counts unchanged: this passed every expectation
    # while the marts checkpoint reconciled totals instead of definitions
    "a rate that is not its counts' ratio": (
        "update marts.conversion_rate_by_product set view_to_purchase_rate = 7 "
        "where product_id = (select min(product_id) from marts.conversion_rate_by_product "
        "where views > 0)",
        "update marts.conversion_rate_by_product "
        "set view_to_purchase_rate = round(purchases::numeric / nullif(views, 0), 6) "
        "where view_to_purchase_rate = 7",
        {("marts.conversion_rate_by_product", None, "unexpected_rows_expectation")},
        "view_to_purchase_rate=7",
    ),
    "an average price that is not revenue / units": (
        "update marts.revenue_by_product set avg_selling_price = avg_selling_price + 1 "
        "where product_id = (select min(product_id) from marts.revenue_by_product "
        "where units > 0)",
        "update marts.revenue_by_product "
        "set avg_selling_price = round(revenue / nullif(units, 0), 2) where units > 0",
        {("marts.revenue_by_product", None, "unexpected_rows_expectation")},
        "1 unexpected row",
    ),
    "a conversion rate above 1": (
        "update marts.fct_funnel_daily set session_conversion_rate = session_conversion_rate + 2 "
        "where event_date = (select min(event_date) from marts.fct_funnel_daily "
        "where session_conversion_rate is not null)",
        "update marts.fct_funnel_daily set session_conversion_rate = "
        "round(sessions_purchased::numeric / nullif(sessions_viewed, 0), 6)",
        {
            (
                "marts.fct_funnel_daily",
                "session_conversion_rate",
                "expect_column_values_to_be_between",
            ),
            ("marts.fct_funnel_daily", None, "unexpected_rows_expectation"),
        },
        "",
    ),
}


@pytest.mark.parametrize("case", MART_BREAKS, ids=list(MART_BREAKS))
def test_marts_layer_names_a_corrupted_mart(built, case):
    apply, undo, expected, observed = MART_BREAKS[case]
    with _broken("transformer", [apply], [undo]):
        failures = _failures("marts_layer")
    assert _named(failures) == expected
    assert any(observed in failure.observed for failure in failures), failures


def test_marts_layer_is_green_again_after_the_corruptions(built):
    assert _failures("marts_layer") == []


# --- the command line --------------------------------------------------------------


def test_a_failed_expectation_exits_1_and_is_one_line_and_recorded(built):
    with _broken(
        "transformer",
        [
            "update marts.dim_users set revenue = -revenue - 1 where user_id = "
            "(select min(user_id) from marts.dim_users)"
        ],
        [
            "update marts.dim_users set revenue = -(revenue + 1) where user_id = "
            "(select min(user_id) from marts.dim_users)"
        ],
    ):
        result = _cli("run", "marts_layer")
    assert result.returncode == 1, result.stdout + result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED ")]
    assert any(
        line.startswith("FAILED marts.dim_users.revenue: expect_column_values_to_be_between")
        for line in failed
    ), failed
    (summary,) = [line for line in result.stdout.splitlines() if line.startswith("marts_layer: ")]
    assert f", {len(failed)} failed (" in summary
    (row,) = query(
        "select success, failed_expectations, failures from quality.checkpoint_runs "
        "where checkpoint_name = 'marts_layer' order by run_id desc limit 1"
    )
    assert row[0] is False and row[1] == len(failed)
    assert {
        "table": "marts.dim_users",
        "column": "revenue",
        "expectation_type": "expect_column_values_to_be_between",
    } in [{k: f[k] for k in ("table", "column", "expectation_type")} for f in row[2]]


def test_an_unknown_checkpoint_is_one_line_listing_the_known_ones(built):
    result = _cli("run", "raw_layer", "gold_layer")
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "unknown checkpoint 'gold_layer'" in line
    assert all(name in line for name in checkpoints.NAMES)


def test_run_without_a_checkpoint_is_a_usage_error(built):
    result = _cli("run")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "--all" in line


@pytest.mark.parametrize(
    ("env", "cause"),
    [
        ({"PGPORT": "1"}, "Connection refused"),
        ({"ECOM_AUDITOR_PASSWORD": "wrong"}, "password authentication failed"),
    ],
    ids=["unreachable", "wrong-password"],
)
def test_database_problems_are_one_line_exit_2(built, env, cause):
    result = _cli("run", "--all", **env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert "cannot connect to PostgreSQL as ecom_auditor" in line and cause in line


def test_a_table_not_built_yet_is_one_line_exit_2(built):
    with _broken(
        "transformer",
        ["alter table marts.dim_users rename to dim_users_gx_probe"],
        ["alter table marts.dim_users_gx_probe rename to dim_users"],
    ):
        result = _cli("run", "marts_layer")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "marts.dim_users does not exist" in line and "dbt build" in line


def test_help_and_list_name_every_checkpoint():
    help_text = _cli("--help")
    listing = _cli("list")
    assert help_text.returncode == 0 and listing.returncode == 0
    for name in checkpoints.NAMES:
        assert name in help_text.stdout and name in listing.stdout
    assert "exit status" in help_text.stdout
