"""ingestion.copy_input.split_batch: validated records -> COPY input, without Spark or PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pyarrow as pa

from ingestion.copy_input import split_batch
from ingestion.transform import EVENT_COLUMNS
from pipeline import contract

PART_A = "20261125T120000-0a1b2c3d.00000.0.csv"
PART_B = "20261125T120000-99887766.00000.0m.csv"
ORIGINS = {PART_A: ("orders, 2026.csv", "20261125T120000-0a1b2c3d"), PART_B: ("b.csv", "d-b")}
# in the contract's order: event_id, event_type, user_id, user_name, product_id,
# product_name, category, price, quantity, event_time, session_id
VALUES = [
    "e1",
    "view",
    "u1",
    "Ann",
    "p1",
    "Lamp",
    "home",
    "9.99",
    "1",
    "2026-11-25T10:00:00Z",
    "s1",
]


def _row(**given):
    row = {
        "is_data": True,
        "copy_line": None,
        "source_file": PART_A,
        "event_at": None,
        "reasons": None,
        "line_number": None,
        "raw_line": None,
        "fields": None,
        "extra": None,
    }
    row.update(given)
    return row


def _table(rows, with_extra=True) -> pa.Table:
    schema = [
        ("is_data", pa.bool_()),
        ("copy_line", pa.string()),
        ("source_file", pa.string()),
        ("event_at", pa.timestamp("us", tz="UTC")),
        ("reasons", pa.string()),
        ("line_number", pa.int32()),
        ("raw_line", pa.string()),
        ("fields", pa.list_(pa.string())),
    ]
    if with_extra:
        schema.append(("extra", pa.string()))
    return pa.table({name: pa.array([row[name] for row in rows], kind) for name, kind in schema})


def _records(events_csv: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(events_csv.decode("utf-8"))))


def test_lines_are_split_into_events_and_rejects_with_their_lineage():
    assert len(VALUES) == len(EVENT_COLUMNS) == len(contract.FIELD_NAMES)
    plain = ",".join(VALUES)
    quoted = ["e2", "purchase", "u1", "Ann", "p2", 'Desk, "oak"', "home", "120.00", "2", "t", "s1"]
    table = _table(
        [
            _row(is_data=False),  # the header line of part A
            _row(copy_line=plain, event_at=datetime(2026, 11, 25, 10, tzinfo=UTC)),
            _row(fields=quoted, extra='{"coupon": "X"}', event_at=datetime(2026, 11, 25, 11)),
            _row(reasons="{bad_price,bad_quantity}", line_number=4, raw_line="e3,,"),
            _row(is_data=False, source_file=PART_B),  # a part with a header and nothing else
        ]
    )
    split = split_batch(table, "q-1", 7, ORIGINS.__getitem__)
    lineage = ["orders, 2026.csv", "7", "20261125T120000-0a1b2c3d", "q-1"]
    assert _records(split.events_csv) == [
        [*VALUES, "", *lineage],  # a plain line as it came, extra columns empty (null)
        [*quoted, '{"coupon": "X"}', *lineage],
    ]
    assert split.loaded == 2
    assert split.rejects.to_pylist() == [
        {
            "source_file": "orders, 2026.csv",
            "line_number": 4,
            "raw_line": "e3,,",
            "reasons": "{bad_price,bad_quantity}",
            "batch_id": 7,
            "delivery_id": "20261125T120000-0a1b2c3d",
            "query_id": "q-1",
        }
    ]
    counts = {name: (c.loaded, c.rejected) for name, c in split.parts.items()}
    assert counts == {PART_A: (2, 1), PART_B: (0, 0)}  # every part seen, even an empty one
    assert split.newest_event_at == datetime(2026, 11, 25, 11, tzinfo=UTC)  # naive: UTC


def test_an_empty_batch_and_a_plain_name_without_a_delivery():
    empty = split_batch(_table([]), "q", 0, ORIGINS.__getitem__)
    assert (empty.events_csv, empty.loaded, empty.parts, empty.newest_event_at) == (
        b"",
        0,
        {},
        None,
    )
    assert empty.rejects.num_rows == 0
    # a folder of the tests' own (not a part of the intake's): the name stands for itself
    table = _table([_row(copy_line=",".join(VALUES), source_file="mine.csv")], with_extra=False)
    split = split_batch(table, "q", 3, lambda name: (name, None))
    assert _records(split.events_csv) == [[*VALUES, "", "mine.csv", "3", "", "q"]]
