"""What the checkpoints check: one Expectation Suite per table, defined here in code.

This module is the only place an expectation is written. The JSON under
``expectations/gx/expectations/`` is generated from it (``python -m
expectations sync``) and never edited by hand; a run refuses JSON that
differs from this module.

Every expectation compiles to SQL that PostgreSQL runs (GX's
SqlAlchemyExecutionEngine on a table asset): nothing is pulled into pandas.
A staging or mart suite reads its whole table; the raw layer's suites read the
run's window, the rows of the batches committed since the last passed run
(checkpoints.WINDOWED: views over raw and the ledgers, sql/migrations/0006). Rules that span tables (the ledger against the landing table) or
rows (a rate against its counts) are UnexpectedRowsExpectations: a query that
returns the offending rows, ``{batch}`` being the suite's own table. (GX leaves
aliasing ``{batch}`` to the query when the query has a JOIN, and aliases it
itself otherwise: hence ``{batch} as ...`` in the queries with joins only.)

The raw layer's columns, types and allowed values come from the event
contract (pipeline/contract.py), so a change there reaches these suites too.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable

from expectations import checkpoints
from pipeline import contract

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402

# The type names GX reports for PostgreSQL columns (reflected by SQLAlchemy),
# per type of the contract's DDL.
REFLECTED_TYPES = {
    "uuid": "UUID",
    "text": "TEXT",
    "bigint": "BIGINT",
    "integer": "INTEGER",
    f"numeric({contract.PRICE_PRECISION},{contract.PRICE_SCALE})": (
        f"NUMERIC({contract.PRICE_PRECISION}, {contract.PRICE_SCALE})"
    ),
    "timestamptz": "TIMESTAMP WITH TIME ZONE",
    "jsonb": "JSONB",
}

# event_time must lie in [EVENT_TIME_MIN, now + 1 day]. The upper bound moves
# with the clock, so it is a suite parameter the runner passes at run time.
EVENT_TIME_MIN = "2000-01-01T00:00:00+00:00"
EVENT_TIME_MAX_PARAMETER = "event_time_max"

STAGED_EVENTS = "staging.stg_ecommerce__events"


def _sql(query: str) -> str:
    """A query as stored in the suite and shown in Data Docs: dedented, stripped."""
    return textwrap.dedent(query).strip()


def raw_ecommerce_events() -> list[gxe.Expectation]:
    """The landing table's rows in the run's window: the contract's columns and rules,
    plus lineage. (That the stream has landed anything is the ledger's expectation:
    a window may hold no rows.)"""
    columns = [(f.name, f.sql_type) for f in contract.FIELDS] + list(contract.LINEAGE_COLUMNS)
    text_fields = [f.name for f in contract.FIELDS if f.kind == "text"]
    return [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[name for name, _ in columns],
            exact_match=True,
            description="Exactly the contract's columns plus lineage (source_file, batch_id, ingested_at, delivery_id, query_id) and the columns beyond the contract (extra_columns).",
        ),
        *(
            gxe.ExpectColumnTypeToBe(column=name, type_=REFLECTED_TYPES[sql_type])
            for name, sql_type in columns
        ),
        # delivery_id: null on rows landed before the file ledger existed;
        # extra_columns: null unless the file had columns beyond the contract
        *(
            gxe.ExpectColumnValuesToNotBeNull(column=name)
            for name, _ in columns
            if name not in ("delivery_id", "extra_columns")
        ),
        gxe.ExpectColumnValuesToBeInSet(column="event_type", value_set=list(contract.EVENT_TYPES)),
        gxe.ExpectColumnValuesToBeBetween(column="user_id", min_value=1),
        gxe.ExpectColumnValuesToBeBetween(column="product_id", min_value=1),
        gxe.ExpectColumnValuesToBeBetween(column="price", min_value=0),
        gxe.ExpectColumnValuesToBeBetween(column="quantity", min_value=contract.QUANTITY_MIN),
        gxe.ExpectColumnValuesToBeBetween(
            column="event_time",
            min_value=EVENT_TIME_MIN,
            max_value={"$PARAMETER": EVENT_TIME_MAX_PARAMETER},
            description="No event before 2000 or more than a day in the future.",
        ),
        *(
            gxe.ExpectColumnValueLengthsToBeBetween(
                column=name, min_value=1, max_value=contract.TEXT_MAX_LENGTH
            )
            for name in text_fields
        ),
    ]


def raw_ecommerce_events_rejected() -> list[gxe.Expectation]:
    """The quarantined lines in the run's window: each says why, in the contract's codes."""
    codes = ", ".join(f"'{code}'" for code in contract.reason_codes())
    return [
        gxe.UnexpectedRowsExpectation(
            description="Every quarantined line says why: at least one reason, each a documented code (pipeline/contract.py, the table of reasons in docs/ingestion.md).",
            unexpected_rows_query=_sql(f"""
                select source_file, line_number, reasons
                from {{batch}}
                where coalesce(cardinality(reasons), 0) = 0
                    or array_position(reasons, null) is not null
                    or not reasons <@ array[{codes}]::text[]
            """),
        ),
    ]


# A batch whose partition retention dropped has no rows left: the reconciliations
# leave out the batches that started before the newest dropped range ends.
_TRIMMED = "(select max(range_to) from raw.partitions_dropped)"


def raw_ingestion_batches() -> list[gxe.Expectation]:
    """The exactly-once ledger's batches in the run's window: each accounts for its
    lines, and raw agrees with it, per batch and per file part."""
    events, rejected = "raw.ecommerce_events", "raw.ecommerce_events_rejected"
    return [
        gxe.UnexpectedRowsExpectation(
            description="At least one micro-batch has committed, ever.",
            unexpected_rows_query=_sql("""
                select 0 as batches_committed
                from {batch}
                having count(*) = 0 and not exists (select from raw.ingestion_batches)
            """),
        ),
        gxe.ExpectColumnValuesToBeBetween(column="rows_loaded", min_value=0),
        gxe.ExpectColumnValuesToBeBetween(column="rows_rejected", min_value=0),
        gxe.UnexpectedRowsExpectation(
            description="Every batch accounts for each line it read: rows_in = rows_loaded + rows_rejected.",
            unexpected_rows_query=_sql("""
                select query_id, batch_id, rows_in, rows_loaded, rows_rejected
                from {batch}
                where rows_in is distinct from rows_loaded + rows_rejected
            """),
        ),
        _ledger_matches(
            "rows_loaded",
            events,
            "The rows in raw.ecommerce_events per batch (query_id, batch_id) equal the ledger's rows_loaded (batches in partitions dropped by retention left out).",
        ),
        _ledger_matches(
            "rows_rejected",
            rejected,
            "The rows in raw.ecommerce_events_rejected per batch (query_id, batch_id) equal the ledger's rows_rejected (batches in partitions dropped by retention left out).",
        ),
        _parts_match(
            "rows_loaded",
            events,
            "The rows in raw.ecommerce_events per batch and delivery equal the rows_loaded of the delivery's parts committed in that batch.",
        ),
        _parts_match(
            "rows_rejected",
            rejected,
            "The rows in raw.ecommerce_events_rejected per batch and delivery equal the rows_rejected of the delivery's parts committed in that batch.",
        ),
    ]


def raw_ingestion_files() -> list[gxe.Expectation]:
    """The file ledger's rows written in the run's window: each delivered file accounts
    for its rows. (Its parts against raw: the batch ledger's expectations.)"""
    return [
        gxe.ExpectColumnValuesToBeInSet(
            column="status", value_set=["claimed", "loaded", "quarantined"]
        ),
        gxe.UnexpectedRowsExpectation(
            description="A quarantined file says why.",
            unexpected_rows_query=_sql("""
                select delivery_id, source_file
                from {batch}
                where status = 'quarantined' and reason is null
            """),
        ),
        gxe.UnexpectedRowsExpectation(
            description="Every loaded file accounts for each row it held: rows_in = rows_loaded + rows_rejected, summed over its parts.",
            unexpected_rows_query=_sql("""
                select files.delivery_id, files.source_file, files.rows_in, files.rows_loaded,
                    files.rows_rejected, parts.parts as parts_committed
                from {batch} as files
                cross join lateral (
                    select count(*) as parts, sum(rows_in) as rows_in,
                        sum(rows_loaded) as rows_loaded, sum(rows_rejected) as rows_rejected
                    from raw.ingestion_file_parts
                    where delivery_id = files.delivery_id
                ) as parts
                where files.status = 'loaded' and (
                    files.rows_in is distinct from files.rows_loaded + files.rows_rejected
                    or (files.parts > 0 and (
                        parts.parts is distinct from files.parts
                        or parts.rows_in is distinct from files.rows_in
                        or parts.rows_loaded is distinct from files.rows_loaded
                        or parts.rows_rejected is distinct from files.rows_rejected)))
            """),
        ),
    ]


def _parts_match(ledger_column: str, table: str, description: str) -> gxe.Expectation:
    """``table``'s rows in the window (checkpoints.relation) against the ledger."""
    rows, name = checkpoints.relation(table), table.split(".")[1]
    # Parts commit with their rows, so this holds for files still in flight too.
    # Rows without a delivery landed before the file ledger existed.
    return gxe.UnexpectedRowsExpectation(
        description=description,
        unexpected_rows_query=_sql(f"""
            with ledger as (
                select parts.query_id, parts.batch_id, parts.delivery_id,
                    sum(parts.{ledger_column}) as ledger_{ledger_column},
                    min(batches.xact_started_at) as xact_started_at
                from {{batch}} as batches
                join raw.ingestion_file_parts as parts
                    on parts.query_id = batches.query_id and parts.batch_id = batches.batch_id
                group by parts.query_id, parts.batch_id, parts.delivery_id
            ),
            landed as (
                select query_id, batch_id, delivery_id, count(*) as rows_in_table
                from {rows}
                where delivery_id is not null
                group by query_id, batch_id, delivery_id
            )
            select
                coalesce(ledger.delivery_id, landed.delivery_id) as delivery_id,
                coalesce(ledger.query_id, landed.query_id) as query_id,
                coalesce(ledger.batch_id, landed.batch_id) as batch_id,
                coalesce(ledger.ledger_{ledger_column}, 0) as parts_{ledger_column},
                coalesce(landed.rows_in_table, 0) as rows_in_{name}
            from ledger
            full outer join landed
                on ledger.query_id = landed.query_id and ledger.batch_id = landed.batch_id
                    and ledger.delivery_id = landed.delivery_id
            where coalesce(ledger.ledger_{ledger_column}, 0) <> coalesce(landed.rows_in_table, 0)
                and not coalesce(ledger.xact_started_at < {_TRIMMED}, false)
        """),
    )


def _ledger_matches(ledger_column: str, table: str, description: str) -> gxe.Expectation:
    """``table``'s rows in the window (checkpoints.relation) against the ledger."""
    rows, name = checkpoints.relation(table), table.split(".")[1]
    # A batch is (query_id, batch_id): a new checkpoint starts batch ids at 0
    # again, and two queries run side by side. A batch on one side only counts
    # as 0 rows on the other (rows without a query_id, landed before migration
    # 0003 without a ledger row, are such a batch).
    return gxe.UnexpectedRowsExpectation(
        description=description,
        unexpected_rows_query=_sql(f"""
            with landed as (
                select query_id, batch_id, count(*) as rows_in_table
                from {rows}
                group by query_id, batch_id
            )
            select
                coalesce(ledger.query_id, landed.query_id) as query_id,
                coalesce(ledger.batch_id, landed.batch_id) as batch_id,
                coalesce(ledger.{ledger_column}, 0) as ledger_{ledger_column},
                coalesce(landed.rows_in_table, 0) as rows_in_{name}
            from {{batch}} as ledger
            full outer join landed
                on ledger.query_id = landed.query_id and ledger.batch_id = landed.batch_id
            where coalesce(ledger.{ledger_column}, 0) <> coalesce(landed.rows_in_table, 0)
                and not coalesce(ledger.xact_started_at < {_TRIMMED}, false)
        """),
    )


def staging_events() -> list[gxe.Expectation]:
    """The deduplicated events every mart is built from: there are some. (Its key and
    its agreement with raw are dbt's tests.)"""
    return [gxe.ExpectTableRowCountToBeBetween(min_value=1)]


# The marts' suites check what each row must satisfy by definition: counts and
# totals are not negative, every rate is its counts' ratio, shares of a whole lie
# in [0, 1]. Each is one scan of a small table. Keys, and the marts' agreement with
# staging, are dbt's (enforced contracts, unique/not_null tests, the singular tests
# in dbt_project/tests): checked once, where they are built.


def _at_least_zero(*columns: str) -> list[gxe.Expectation]:
    return [gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0) for column in columns]


def _shares(*columns: str) -> list[gxe.Expectation]:
    """Shares of a whole: between 0 and 1 (null, when the denominator is 0, passes)."""
    return [
        gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=1)
        for column in columns
    ]


def _ratio(rate: str, numerator: str, denominator: str, scale: int = 6) -> gxe.Expectation:
    """``rate`` is ``numerator / denominator`` rounded to ``scale`` decimals, null when
    the denominator is 0: the definition of dbt_project/macros/safe_ratio.sql."""
    return gxe.UnexpectedRowsExpectation(
        description=(
            f"{rate} = {numerator} / {denominator}, to {scale} decimals "
            f"(null when {denominator} is 0)."
        ),
        unexpected_rows_query=_sql(f"""
            select *
            from {{batch}}
            where {rate} is distinct from
                round(({numerator})::numeric / nullif({denominator}, 0), {scale})
        """),
    )


def revenue_by_product() -> list[gxe.Expectation]:
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *_at_least_zero("orders", "units", "revenue", "avg_selling_price"),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="units",
            column_B="orders",
            or_equal=True,
            description="Every order holds at least one unit.",
        ),
        _ratio("avg_selling_price", "revenue", "units", scale=2),
    ]


def conversion_rate_by_product() -> list[gxe.Expectation]:
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *_at_least_zero("views", "add_to_carts", "purchases", "sessions_viewed"),
        # Event-level rates divide counts of different events: a product can
        # be carted more often than viewed, so they are >= 0 but may exceed 1.
        _ratio("view_to_cart_rate", "add_to_carts", "views"),
        _ratio("cart_to_purchase_rate", "purchases", "add_to_carts"),
        _ratio("view_to_purchase_rate", "purchases", "views"),
        _ratio("session_conversion_rate", "sessions_purchased_after_view", "sessions_viewed"),
        *_shares("session_conversion_rate"),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="sessions_viewed", column_B="sessions_purchased_after_view", or_equal=True
        ),
    ]


def fct_product_daily() -> list[gxe.Expectation]:
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *_at_least_zero("views", "add_to_carts", "purchases", "units", "revenue"),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="units",
            column_B="purchases",
            or_equal=True,
            description="Every purchase holds at least one unit.",
        ),
    ]


def fct_funnel_daily() -> list[gxe.Expectation]:
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *_at_least_zero("views", "add_to_carts", "purchases", "units", "revenue", "sessions"),
        _ratio("session_view_to_cart_rate", "sessions_carted", "sessions_viewed"),
        _ratio("session_cart_to_purchase_rate", "sessions_purchased", "sessions_carted"),
        _ratio("session_conversion_rate", "sessions_purchased", "sessions_viewed"),
        *_shares(
            "session_view_to_cart_rate", "session_cart_to_purchase_rate", "session_conversion_rate"
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="sessions", column_B="sessions_viewed", or_equal=True
        ),
    ]


def dim_products() -> list[gxe.Expectation]:
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *_at_least_zero("unit_price"),
    ]


def dim_users() -> list[gxe.Expectation]:
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *_at_least_zero("events", "orders", "revenue"),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="events",
            column_B="orders",
            or_equal=True,
            description="An order is one of the user's events.",
        ),
    ]


# Suite name (the table it validates) -> its expectations. One suite per table.
SUITES: dict[str, Callable[[], list[gxe.Expectation]]] = {
    "raw.ecommerce_events": raw_ecommerce_events,
    "raw.ecommerce_events_rejected": raw_ecommerce_events_rejected,
    "raw.ingestion_batches": raw_ingestion_batches,
    "raw.ingestion_files": raw_ingestion_files,
    STAGED_EVENTS: staging_events,
    "marts.revenue_by_product": revenue_by_product,
    "marts.conversion_rate_by_product": conversion_rate_by_product,
    "marts.fct_product_daily": fct_product_daily,
    "marts.fct_funnel_daily": fct_funnel_daily,
    "marts.dim_products": dim_products,
    "marts.dim_users": dim_users,
}


def build_suite(table: str) -> gx.ExpectationSuite:
    """The Expectation Suite for ``table`` (a key of SUITES), as defined in this module."""
    return gx.ExpectationSuite(name=table, expectations=SUITES[table]())
