"""What the dashboard shows, read in one snapshot as ecom_analyst.

Everything comes from the marts (dbt's output) plus the data-quality history
``quality.checkpoint_runs``, the two things the analyst role may read
(sql/roles.sql). One read-only, repeatable-read
transaction per refresh, so the tiles and the charts agree with each other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import psycopg2
import psycopg2.errors

from pipeline import db, settings
from pipeline.errors import first_line

log = logging.getLogger(__name__)

ROLE = "analyst"
ROLE_NAME = settings.ROLE_DEFAULT_NAMES[ROLE]


@dataclass(frozen=True)
class Totals:
    views: int
    add_to_carts: int
    purchases: int
    revenue: Decimal
    sessions_viewed: int
    sessions_purchased: int
    days: int
    staged_at: datetime | None

    @property
    def view_to_purchase(self) -> float | None:
        """Purchase events / view events over all time (None without views)."""
        return self.purchases / self.views if self.views else None


@dataclass(frozen=True)
class IngestionHour:
    committed_hour: datetime
    batches: int
    rows_loaded: int
    rows_rejected: int
    avg_batch_seconds: Decimal | None


@dataclass(frozen=True)
class ProductRevenue:
    product_name: str
    category: str
    orders: int
    revenue: Decimal


@dataclass(frozen=True)
class ProductConversion:
    product_name: str
    views: int
    add_to_carts: int
    purchases: int
    view_to_cart_rate: Decimal | None
    cart_to_purchase_rate: Decimal | None
    view_to_purchase_rate: Decimal | None


@dataclass(frozen=True)
class CheckpointRun:
    checkpoint_name: str
    success: bool
    successful_expectations: int
    evaluated_expectations: int
    failed_expectations: int
    run_at: datetime


@dataclass
class Snapshot:
    """One consistent read of the marts. ``marts_built`` is False before the first dbt build."""

    marts_built: bool = False
    totals: Totals | None = None
    ingestion: list[IngestionHour] = field(default_factory=list)
    top_revenue: list[ProductRevenue] = field(default_factory=list)
    top_conversion: list[ProductConversion] = field(default_factory=list)
    conversion_min_views: int = 0
    quarantine: list[tuple[str, int]] = field(default_factory=list)
    # None: quality.checkpoint_runs is not readable; []: no checkpoint has run yet
    quality: list[CheckpointRun] | None = None
    quality_error: str | None = None

    @property
    def is_empty(self) -> bool:
        return not self.marts_built or (
            (self.totals is None or self.totals.days == 0) and not self.ingestion
        )

    @property
    def rows_loaded(self) -> int:
        return sum(hour.rows_loaded for hour in self.ingestion)

    @property
    def rows_rejected(self) -> int:
        return sum(hour.rows_rejected for hour in self.ingestion)


TOTALS_SQL = """
select
    coalesce(sum(views), 0)::bigint,
    coalesce(sum(add_to_carts), 0)::bigint,
    coalesce(sum(purchases), 0)::bigint,
    coalesce(sum(revenue), 0)::numeric(18, 2),
    coalesce(sum(sessions_viewed), 0)::bigint,
    coalesce(sum(sessions_purchased), 0)::bigint,
    count(*)::bigint,
    max(staged_at)
from marts.fct_funnel_daily
"""

INGESTION_SQL = """
select committed_hour, batches, rows_loaded, rows_rejected, avg_batch_seconds
from marts.fct_ingestion_hourly
order by committed_hour
"""

TOP_REVENUE_SQL = """
select product_name, category, orders, revenue
from marts.revenue_by_product
where revenue > 0
order by revenue desc, product_id
limit %(top)s
"""

# The best converting products, as marts.top_converting_products ranks them.
CONVERSION_SQL = """
select
    product_name,
    views,
    add_to_carts,
    purchases,
    view_to_cart_rate,
    cart_to_purchase_rate,
    view_to_purchase_rate,
    min_views
from marts.top_converting_products
where conversion_rank <= %(top)s
order by conversion_rank
"""

QUARANTINE_SQL = """
select reason, sum(rejected_lines)::bigint as rejected_lines
from marts.fct_quarantine_daily
group by reason
order by rejected_lines desc, reason
"""

QUALITY_SQL = """
select distinct on (checkpoint_name)
    checkpoint_name,
    success,
    successful_expectations,
    evaluated_expectations,
    failed_expectations,
    run_at
from quality.checkpoint_runs
order by checkpoint_name, run_at desc, run_id desc
"""


def check_connection() -> str:
    """Connect once as the analyst; returns who we are, or raises DatabaseUnavailable."""
    with db.connection(ROLE) as conn, conn.cursor() as cur:
        cur.execute("select current_user, current_database()")
        user, database = cur.fetchone()
    return f"{user} on {database}"


def read_snapshot(top: int = 10) -> Snapshot:
    """Read everything the dashboard shows, in one read-only transaction as ecom_analyst."""
    snapshot = Snapshot()
    with db.connection(ROLE) as conn:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur:
            cur.execute("set local statement_timeout = '15s'")
            try:
                cur.execute(TOTALS_SQL)
            except psycopg2.errors.UndefinedTable:
                log.debug("marts not built yet")
                return snapshot
            snapshot.marts_built = True
            snapshot.totals = Totals(*cur.fetchone())
            cur.execute(INGESTION_SQL)
            snapshot.ingestion = [IngestionHour(*row) for row in cur.fetchall()]
            cur.execute(TOP_REVENUE_SQL, {"top": top})
            snapshot.top_revenue = [ProductRevenue(*row) for row in cur.fetchall()]
            cur.execute(CONVERSION_SQL, {"top": top})
            rows = cur.fetchall()
            snapshot.top_conversion = [ProductConversion(*row[:7]) for row in rows]
            snapshot.conversion_min_views = int(rows[0][7]) if rows else 0
            cur.execute(QUARANTINE_SQL)
            snapshot.quarantine = [(reason, int(lines)) for reason, lines in cur.fetchall()]
            cur.execute("savepoint quality")
            try:
                cur.execute(QUALITY_SQL)
                snapshot.quality = [CheckpointRun(*row) for row in cur.fetchall()]
            except (psycopg2.errors.InsufficientPrivilege, psycopg2.errors.UndefinedTable) as exc:
                cur.execute("rollback to savepoint quality")
                snapshot.quality_error = first_line(exc)
        conn.rollback()
    return snapshot
