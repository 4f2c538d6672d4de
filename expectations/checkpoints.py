"""Which tables each checkpoint validates. Plain data: importing it does not load GX."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckpointSpec:
    name: str
    description: str
    tables: tuple[str, ...]  # one validation definition per table, suite of the same name


CHECKPOINTS: tuple[CheckpointSpec, ...] = (
    CheckpointSpec(
        "raw_layer",
        "the landing table against the event contract; the batch and file ledgers against raw",
        ("raw.ecommerce_events", "raw.ingestion_batches", "raw.ingestion_files"),
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


def get(name: str) -> CheckpointSpec:
    for spec in CHECKPOINTS:
        if spec.name == name:
            return spec
    raise KeyError(name)


def all_tables() -> list[str]:
    return [table for spec in CHECKPOINTS for table in spec.tables]
