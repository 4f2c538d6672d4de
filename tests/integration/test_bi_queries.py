"""The analyst's queries in sql/queries run as ecom_analyst against a warehouse the pipeline built."""

from __future__ import annotations

import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from pipeline import settings
from tests.support.marts import build_warehouse
from tests.support.streaming import REPO_ROOT, query

pytestmark = pytest.mark.integration

QUERIES = sorted((REPO_ROOT / "sql" / "queries").glob("*.sql"))


@pytest.fixture(scope="module")
def built(warehouse, tmp_path_factory):
    build_warehouse(tmp_path_factory.mktemp("bi"), seed=8)


def psql_as_analyst(path: Path) -> list[list[str]]:
    analyst = settings.connection("analyst")
    env = settings.environment()
    env.update(PGUSER=analyst.user, PGPASSWORD=analyst.password or "")
    result = subprocess.run(
        ["psql", "-X", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1", "-f", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [line.split("|") for line in result.stdout.splitlines() if line.strip()]


def test_there_are_queries():
    assert {path.stem for path in QUERIES} >= {
        "revenue_by_product_and_category",
        "conversion_funnel",
        "top_converting_products",
        "revenue_per_hour",
        "quarantine_reasons_over_time",
        "ingestion_rate",
        "data_quality_history",
    }


@pytest.mark.parametrize("path", QUERIES, ids=lambda p: p.stem)
def test_query_runs_as_the_analyst_and_returns_rows(built, path):
    assert psql_as_analyst(path), f"{path.name} returned no rows"


def test_category_revenue_adds_up_to_staging(built):
    rows = psql_as_analyst(REPO_ROOT / "sql" / "queries" / "revenue_by_product_and_category.sql")
    category_rows = [row for row in rows if len(row) == 5]
    total = sum(Decimal(row[3]) for row in category_rows)
    staged = query(
        "select sum(unit_price * quantity) from staging.stg_ecommerce__events "
        "where event_type = 'purchase'"
    )[0][0]
    assert total == staged


def test_quarantine_reasons_match_raw(built):
    rows = psql_as_analyst(REPO_ROOT / "sql" / "queries" / "quarantine_reasons_over_time.sql")
    by_reason: dict[str, int] = {}
    for _, reason, lines, _ in rows:
        by_reason[reason] = by_reason.get(reason, 0) + int(lines)
    raw = dict(
        query(
            "select reason, count(*) from raw.ecommerce_events_rejected, unnest(reasons) as reason "
            "group by reason"
        )
    )
    assert by_reason == raw and raw


def test_the_analyst_cannot_read_raw_with_these_tools(built, tmp_path):
    probe = tmp_path / "probe.sql"
    probe.write_text("select count(*) from raw.ecommerce_events;\n")
    with pytest.raises(AssertionError, match="permission denied"):
        psql_as_analyst(probe)
