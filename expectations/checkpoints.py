"""Which tables each checkpoint validates. Plain data: importing it does not load GX."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckpointSpec:
    name: str
    description: str
    tables: tuple[str, ...]  # one validation definition per table, suite of the same name
    # windowed: each run checks what committed since the last passed run (see WINDOWED)
    windowed: bool = False


CHECKPOINTS: tuple[CheckpointSpec, ...] = (
    CheckpointSpec(
        "raw_layer",
        "the landing table against the event contract, quarantined lines' reasons, the batch "
        "and file ledgers against raw: the batches committed since the last passed run",
        (
            "raw.ecommerce_events",
            "raw.ecommerce_events_rejected",
            "raw.ingestion_batches",
            "raw.ingestion_files",
        ),
        windowed=True,
    ),
    CheckpointSpec(
        "staging_layer",
        "the deduplicated events the marts are built from are there (their key is dbt's test)",
        ("staging.stg_ecommerce__events",),
    ),
    CheckpointSpec(
        "marts_layer",
        "what each mart row must satisfy: rates equal their counts' ratios, shares in [0, 1], "
        "nothing negative (keys and totals against staging are dbt's tests)",
        (
            "marts.revenue_by_product",
            "marts.conversion_rate_by_product",
            "marts.fct_product_daily",
            "marts.fct_funnel_daily",
            "marts.dim_products",
            "marts.dim_users",
        ),
    ),
)

NAMES: tuple[str, ...] = tuple(spec.name for spec in CHECKPOINTS)

# What GX reads for a table of a windowed checkpoint: a view of the rows of the
# batches committed in the run's window (sql/migrations/0006). The table keeps
# its name in suites, Data Docs and failure lines.
WINDOWED: dict[str, str] = {
    "raw.ecommerce_events": "quality.raw_events_to_check",
    "raw.ecommerce_events_rejected": "quality.raw_rejected_to_check",
    "raw.ingestion_batches": "quality.raw_batches_to_check",
    "raw.ingestion_files": "quality.raw_files_to_check",
}


def relation(table: str) -> str:
    """The relation GX reads to validate ``table``."""
    return WINDOWED.get(table, table)


def get(name: str) -> CheckpointSpec:
    for spec in CHECKPOINTS:
        if spec.name == name:
            return spec
    raise KeyError(name)


def all_tables() -> list[str]:
    return [table for spec in CHECKPOINTS for table in spec.tables]
