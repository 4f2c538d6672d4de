"""dbt build on a real PostgreSQL: the marts equal an independent computation.

CSV files with replayed events, late events and invalid lines are loaded into
raw, then `dbt build --full-refresh` runs as the transformer role (models,
unit tests and data tests). Every mart must equal, row for row, what plain
Python computes from the valid, distinct events of the same files.
"""

from __future__ import annotations

import json
from collections import Counter
from types import SimpleNamespace

import pytest
from psycopg2 import errors

from pipeline import contract, settings
from tests.support.ingest import ingest_csv_folder
from tests.support.marts import (
    MARTS,
    expected_marts,
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

SEED = 20240301


@pytest.fixture(scope="module")
def built(warehouse, tmp_path_factory):
    truncate_raw()
    chunks = plan_files(make_events(SEED), SEED)
    folder = tmp_path_factory.mktemp("dbt-build-inputs")
    write_files(folder, chunks)
    ingest_csv_folder(folder)
    run_dbt("build", "--full-refresh")
    run_results = json.loads(
        (settings.state_dir() / "dbt" / "target" / "run_results.json").read_text()
    )["results"]
    events = valid_events(chunks)
    return SimpleNamespace(
        chunks=chunks, events=events, expected=expected_marts(events), run_results=run_results
    )


def test_the_input_has_replays_invalid_lines_and_the_edge_cases(built):
    lines = [line for chunk in built.chunks for line in chunk]
    valid = [line for line in lines if not contract.validate_line(line)]
    assert len(valid) > len(built.events)  # replayed events
    assert len(valid) < len(lines)  # invalid lines
    assert query("select count(*) from raw.ecommerce_events") == [(len(valid),)]
    assert query("select count(*) from raw.ecommerce_events_rejected") == [
        (len(lines) - len(valid),)
    ]
    per_product = Counter((e.product_id, e.event_type) for e in built.events)
    assert per_product[(9, "view")] == 0 and per_product[(9, "purchase")] > 0
    assert per_product[(10, "purchase")] == 0 and per_product[(10, "view")] > 0
    sessions = {}
    for event in built.events:
        sessions.setdefault(event.session_id, set()).add(event.day)
    assert any(len(days) > 1 for days in sessions.values())  # across midnight UTC


def test_staging_holds_each_valid_event_once(built):
    assert query(
        "select count(*), count(distinct event_id) from staging.stg_ecommerce__events"
    ) == [(len(built.events), len(built.events))]


def test_revenue_per_product_to_the_cent(built):
    expected = {row["product_id"]: row["revenue"] for row in built.expected["revenue_by_product"]}
    actual = dict(query("select product_id, revenue from marts.revenue_by_product"))
    assert actual == expected
    assert sum(actual.values()) > 0


def test_event_counts_per_product_exactly(built):
    expected = {
        row["product_id"]: (row["views"], row["add_to_carts"], row["purchases"])
        for row in built.expected["conversion_rate_by_product"]
    }
    rows = query(
        "select product_id, views, add_to_carts, purchases from marts.conversion_rate_by_product"
    )
    assert {row[0]: row[1:] for row in rows} == expected


@pytest.mark.parametrize("mart", MARTS)
def test_mart_equals_the_independent_computation(built, mart):
    assert mart_rows(mart) == built.expected[mart]


def test_rates_are_null_without_views(built):
    rows = query(
        "select view_to_cart_rate, view_to_purchase_rate, purchases "
        "from marts.conversion_rate_by_product where product_id = 9"
    )
    assert rows[0][:2] == (None, None) and rows[0][2] > 0


def test_build_ran_models_unit_tests_and_data_tests(built):
    status = {}
    for result in built.run_results:
        status.setdefault(result["unique_id"].split(".")[0], set()).add(result["status"])
    kinds = Counter(result["unique_id"].split(".")[0] for result in built.run_results)
    assert kinds["model"] == 19 and kinds["unit_test"] >= 5 and kinds["test"] >= 30
    assert status["model"] == {"success"}
    assert status["unit_test"] == status["test"] == {"pass"}


def test_source_freshness_passes_while_the_stream_delivers(built):
    result = run_dbt("source", "freshness")
    sources = json.loads((settings.state_dir() / "dbt" / "target" / "sources.json").read_text())[
        "results"
    ]
    assert {s["unique_id"].rsplit(".", 1)[1]: s["status"] for s in sources} == {
        "ecommerce_events": "pass",
        "ingestion_batches": "pass",
        "ingestion_files": "pass",
    }
    assert result.returncode == 0


MARTS_YAML = settings.REPO_ROOT / "dbt_project" / "models" / "marts" / "_marts__models.yml"


def _words(text: str | None) -> str:
    return " ".join((text or "").split())


@pytest.mark.parametrize("mart", MARTS)
def test_descriptions_reach_postgresql_comments_for_bi_tools(built, mart):
    import yaml

    (model,) = [m for m in yaml.safe_load(MARTS_YAML.read_text())["models"] if m["name"] == mart]
    table_comment = query(f"select obj_description('marts.{mart}'::regclass, 'pg_class')")[0][0]
    assert _words(table_comment) == _words(model["description"])
    comments = dict(
        query(
            "select attname, col_description(attrelid, attnum) from pg_attribute "
            f"where attrelid = 'marts.{mart}'::regclass and attnum > 0 and not attisdropped"
        )
    )
    described = {c["name"]: c["description"] for c in model["columns"] if c.get("description")}
    assert described, f"{mart} documents no column"
    assert {name: _words(comments.get(name)) for name in described} == {
        name: _words(text) for name, text in described.items()
    }


@pytest.mark.parametrize("mart", MARTS)
def test_analyst_reads_every_mart(built, mart):
    assert query(f"select count(*) from marts.{mart}", role="analyst")[0][0] > 0


@pytest.mark.parametrize(
    "relation",
    [
        "staging.stg_ecommerce__events",
        "staging.int_sessions_aggregated",
        "staging.stg_ecommerce__events_rejected",
    ],
)
def test_analyst_cannot_read_staging(built, relation):
    with pytest.raises(errors.InsufficientPrivilege):
        query(f"select count(*) from {relation}", role="analyst")


@pytest.mark.parametrize(
    "relation",
    ["staging.stg_ecommerce__events", "staging.int_sessions_aggregated", "marts.dim_users"],
)
def test_auditor_reads_staging_and_marts(built, relation):
    assert query(f"select count(*) from {relation}", role="auditor")[0][0] > 0
