"""The event contract and the things that must follow it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline import contract

MIGRATIONS = sorted((Path(__file__).resolve().parents[2] / "sql" / "migrations").glob("*.sql"))
DDL = "\n".join(path.read_text() for path in MIGRATIONS)

GOOD = [
    "3f1c2b9e-5d4a-4e8f-9a7b-1c2d3e4f5a6b",
    "purchase",
    "42",
    "Ada Lovelace",
    "7",
    "Ergonomic Chair",
    "furniture",
    "199.90",
    "2",
    "2026-11-25T10:15:00Z",
    "s-42-1",
]


def _table_columns(table: str) -> list[tuple[str, str]]:
    match = re.search(
        rf"create table if not exists {re.escape(table)} \((.*?)\n\);", DDL, re.S | re.I
    )
    assert match, f"{table} not found in the DDL"
    columns = []
    for line in match.group(1).splitlines():
        line = line.strip().rstrip(",")
        if (
            not line
            or line.startswith("--")
            or line.split()[0] in ("primary", "constraint", "check")
        ):
            continue
        name, rest = line.split(None, 1)
        columns.append((name, rest.split()[0]))
    # columns added in place to an existing warehouse come after the original ones
    added = rf"alter table {re.escape(table)} add column if not exists (\w+) (\w+)"
    columns += re.findall(added, DDL, re.I)
    return columns


def test_header_is_the_documented_order():
    assert contract.CSV_HEADER == (
        "event_id,event_type,user_id,user_name,product_id,product_name,"
        "category,price,quantity,event_time,session_id"
    )


def test_landing_table_ddl_follows_the_contract():
    expected = [(f.name, f.sql_type) for f in contract.FIELDS] + list(contract.LINEAGE_COLUMNS)
    assert _table_columns("raw.ecommerce_events") == expected


def test_landing_table_has_every_column_not_null():
    block = DDL.split("create table if not exists raw.ecommerce_events (")[1].split(");")[0]
    column_lines = [
        ln for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("--")
    ]
    assert all("not null" in ln for ln in column_lines)


def test_good_row_is_valid():
    assert contract.validate_row(GOOD) == []


@pytest.mark.parametrize(
    ("index", "value", "reason"),
    [
        (0, "not-a-uuid", "invalid_event_id"),
        (1, "refund", "invalid_event_type"),
        (1, "Purchase", "invalid_event_type"),
        (2, "0", "invalid_user_id"),
        (2, "-3", "invalid_user_id"),
        (2, "4.0", "invalid_user_id"),
        (4, "abc", "invalid_product_id"),
        (7, "-1.00", "invalid_price"),
        (7, "1.999", "invalid_price"),
        (7, "1e3", "invalid_price"),
        (7, " 19.99", "invalid_price"),
        (7, "123456789.00", "invalid_price"),
        (8, "0", "invalid_quantity"),
        (8, "1.5", "invalid_quantity"),
        (8, "99999999999", "invalid_quantity"),
        (9, "2026-11-25 10:15:00", "invalid_event_time"),
        (9, "2026-13-25T10:15:00Z", "invalid_event_time"),
        (9, "yesterday", "invalid_event_time"),
        (10, "", "missing_session_id"),
        (3, "", "missing_user_name"),
        (3, "x" * 1001, "invalid_user_name"),
    ],
)
def test_bad_values_are_rejected_with_their_reason(index, value, reason):
    row = list(GOOD)
    row[index] = value
    assert contract.validate_row(row) == [reason]


def test_several_reasons_are_all_reported():
    row = list(GOOD)
    row[1], row[7] = "refund", "-5"
    assert contract.validate_row(row) == ["invalid_event_type", "invalid_price"]


def test_wrong_column_counts():
    assert contract.validate_row(GOOD[:-1]) == ["malformed_csv_row"]
    assert contract.validate_row([*GOOD, "extra"]) == ["malformed_csv_row"]
    assert contract.validate_line("") == ["malformed_csv_row"]


def test_offsets_are_converted_to_utc():
    parsed = contract.parse_timestamp("2026-11-25T12:15:00.5+02:00")
    assert parsed is not None
    assert parsed.isoformat() == "2026-11-25T10:15:00.500000+00:00"


def test_validate_line_handles_quoting():
    line = ",".join(GOOD[:5]) + ',"Chair, ergonomic",furniture,199.90,2,2026-11-25T10:15:00Z,s1'
    assert contract.validate_line(line) == []
    assert contract.validate_line('a,"unterminated') != []
