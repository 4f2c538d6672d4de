"""`dbt source freshness` tells whether the stream is alive.

The raw tables are given a single event, batch and file loaded some minutes
ago; dbt must pass, warn or fail after the thresholds in
dbt_project/models/staging/ecommerce/_ecommerce__sources.yml (warn after 15 minutes,
error after 60).
"""

from __future__ import annotations

import json

import pytest

from pipeline import db, settings
from tests.support.marts import run_dbt, truncate_raw

pytestmark = pytest.mark.integration

QUERY_ID = "00000000-0000-4000-8000-00000000f7e5"


def _load_one_batch(minutes_ago: int) -> None:
    truncate_raw()
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute(
            "insert into raw.ecommerce_events values (gen_random_uuid(), 'view', 1, 'u', 1, 'p', "
            "'c', 1.00, 1, now(), 's', 'f.csv', 1, now() - make_interval(mins => %s), null, "
            f"'{QUERY_ID}')",
            (minutes_ago,),
        )
        cur.execute(
            "insert into raw.ingestion_batches (stream_name, query_id, batch_id, files, rows_in, "
            "rows_loaded, rows_rejected, started_at, committed_at) values ('ecommerce_events', "
            f"'{QUERY_ID}', 1, "
            "'{f.csv}', 1, 1, 0, now() - make_interval(mins => %s), "
            "now() - make_interval(mins => %s))",
            (minutes_ago, minutes_ago),
        )
        cur.execute(
            "insert into raw.ingestion_files (delivery_id, source_file, size_bytes, parts, status, "
            "rows_in, rows_loaded, rows_rejected, claimed_at, completed_at) values ('d1', 'f.csv', "
            "100, 1, 'loaded', 1, 1, 0, now() - make_interval(mins => %s), "
            "now() - make_interval(mins => %s))",
            (minutes_ago, minutes_ago),
        )
        conn.commit()


@pytest.mark.parametrize(
    ("minutes_ago", "status", "returncode"),
    [(2, "pass", 0), (30, "warn", 0), (120, "error", 1), (3 * 24 * 60, "error", 1)],
)
def test_freshness_follows_the_age_of_the_newest_batch(warehouse, minutes_ago, status, returncode):
    _load_one_batch(minutes_ago)
    result = run_dbt("source", "freshness", check=False)
    sources = json.loads((settings.state_dir() / "dbt" / "target" / "sources.json").read_text())[
        "results"
    ]
    assert {s["unique_id"].rsplit(".", 1)[1]: s["status"] for s in sources} == {
        "ecommerce_events": status,
        "ingestion_batches": status,
        "ingestion_files": status,
    }
    assert result.returncode == returncode, result.stdout[-3000:]
