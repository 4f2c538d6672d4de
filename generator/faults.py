"""Malformed rows for fault injection: each breaks the event contract in one way.

Every kind yields ONE physical line that :func:`pipeline.contract.validate_line`
rejects, so the ingestion must quarantine it (a unit test holds every kind to
that). Bad rows are made from a fresh random event, outside any session, so
the good rows of a file still form consistent sessions.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from generator.catalog import csv_field
from pipeline import contract

# Positions of the fields in contract.FIELD_NAMES.
EVENT_ID = contract.FIELD_NAMES.index("event_id")
EVENT_TYPE = contract.FIELD_NAMES.index("event_type")
USER_ID = contract.FIELD_NAMES.index("user_id")
USER_NAME = contract.FIELD_NAMES.index("user_name")
PRODUCT_ID = contract.FIELD_NAMES.index("product_id")
PRODUCT_NAME = contract.FIELD_NAMES.index("product_name")
CATEGORY = contract.FIELD_NAMES.index("category")
PRICE = contract.FIELD_NAMES.index("price")
QUANTITY = contract.FIELD_NAMES.index("quantity")
EVENT_TIME = contract.FIELD_NAMES.index("event_time")
SESSION_ID = contract.FIELD_NAMES.index("session_id")

Cells = list[str]  # CSV-encoded cells of one line


def _wrong_type(rng: random.Random, cells: Cells) -> None:
    field, values = rng.choice(
        (
            (USER_ID, ("abc", "12a", "user-42", "4.2", "0x1F")),
            (PRODUCT_ID, ("abc", "p-17", "1e3", "seven")),
            (QUANTITY, ("two", "1.5", "one", "3 units")),
            (PRICE, ("abc", "12,50", "$19.99", "N/A", "1e2")),
        )
    )
    cells[field] = csv_field(rng.choice(values))


def _negative_price(rng: random.Random, cells: Cells) -> None:
    cells[PRICE] = "-" + cells[PRICE]


def _price_three_decimals(rng: random.Random, cells: Cells) -> None:
    cells[PRICE] = cells[PRICE] + str(rng.randrange(1, 10))


def _unknown_event_type(rng: random.Random, cells: Cells) -> None:
    cells[EVENT_TYPE] = rng.choice(
        ("click", "refund", "VIEW", "add-to-cart", "checkout", "wishlist")
    )


def _missing_column(rng: random.Random, cells: Cells) -> None:
    del cells[rng.randrange(len(cells))]


def _extra_column(rng: random.Random, cells: Cells) -> None:
    cells.insert(rng.randrange(len(cells) + 1), rng.choice(("extra", "", "1", '"web, mobile"')))


def _broken_quoting(rng: random.Random, cells: Cells) -> None:
    # An opening quote that is never closed (on this line): the rest of the line
    # becomes one field, so the line no longer splits into all the columns.
    # Never the last field, whose unclosed quote would swallow no comma.
    field = rng.randrange(len(cells) - 1)
    cells[field] = '"' + cells[field].strip('"')


def _bad_timestamp(rng: random.Random, cells: Cells) -> None:
    stamp = cells[EVENT_TIME]  # 2026-11-25T10:15:03.123Z
    date, clock = stamp[:10], stamp[11:-1]
    cells[EVENT_TIME] = rng.choice(
        (
            stamp[:-1],  # no zone
            date + "T" + clock + "+1600",  # an offset beyond PostgreSQL's range
            date[:5] + "02-30T" + clock + "Z",  # no such day
            date[:5] + "13-01T" + clock + "Z",  # no such month
            date + "T25" + clock[2:] + "Z",  # no such hour
            f"{date[8:10]}/{date[5:7]}/{date[:4]} {clock[:8]}",  # not ISO-8601
            "1795000000000",  # epoch milliseconds
            "yesterday",
        )
    )


def _empty_field(rng: random.Random, cells: Cells) -> None:
    cells[rng.randrange(len(cells))] = ""


def _invalid_uuid(rng: random.Random, cells: Cells) -> None:
    value = cells[EVENT_ID]
    cells[EVENT_ID] = rng.choice(
        (
            "not-a-uuid",
            value.replace("-", ""),  # 32 hex digits, no hyphens
            value[:-1],  # one digit short
            value[:-1] + "g",  # not hex
            "{" + value + "}",
            value + "-0",
        )
    )


def _out_of_range(rng: random.Random, cells: Cells) -> None:
    field, value = rng.choice(
        (
            (QUANTITY, "0"),
            (QUANTITY, "-1"),
            (QUANTITY, str(contract.QUANTITY_MAX + 1)),
            (USER_ID, "0"),
            (USER_ID, "-5"),
            (PRODUCT_ID, str(contract.ID_MAX + 1)),
            (PRICE, "100000000.00"),
        )
    )
    cells[field] = value


def _oversized_text(rng: random.Random, cells: Cells) -> None:
    field = rng.choice((USER_NAME, PRODUCT_NAME, CATEGORY, SESSION_ID))
    value = cells[field].strip('"') or "x"
    repeat = contract.TEXT_MAX_LENGTH // len(value) + 1 + rng.randrange(3)
    cells[field] = csv_field(value * repeat)


KINDS: dict[str, Callable[[random.Random, Cells], None]] = {
    "wrong_type": _wrong_type,
    "negative_price": _negative_price,
    "price_three_decimals": _price_three_decimals,
    "unknown_event_type": _unknown_event_type,
    "missing_column": _missing_column,
    "extra_column": _extra_column,
    "broken_quoting": _broken_quoting,
    "bad_timestamp": _bad_timestamp,
    "empty_field": _empty_field,
    "invalid_uuid": _invalid_uuid,
    "out_of_range": _out_of_range,
    "oversized_text": _oversized_text,
}
BAD_KINDS: tuple[str, ...] = tuple(KINDS)


def bad_line(rng: random.Random, values: list[str], kind: str | None = None) -> str:
    """One malformed CSV line (ending in a newline) made from a valid event's raw ``values``.

    ``kind`` is one of :data:`BAD_KINDS`; by default one is drawn at random.
    """
    if len(values) != len(contract.FIELD_NAMES):
        raise ValueError(f"expected {len(contract.FIELD_NAMES)} values, got {len(values)}")
    cells = [csv_field(value) for value in values]
    KINDS[kind or rng.choice(BAD_KINDS)](rng, cells)
    line = ",".join(cells)
    if "\n" in line or "\r" in line:  # pragma: no cover - the pools are single-line
        raise AssertionError("a bad row must stay on one physical line")
    return line + "\n"
