"""The event contract: the one definition of an e-commerce event.

Everything else derives from this module: the CSV header the generator writes,
the Spark schema and validation expressions of the ingestion, and (held by a
unit test) the DDL of ``raw.ecommerce_events``. Change a field here, and the
tests tell you every place that has to follow.

The pure-Python :func:`validate_row` is the reference implementation of the
rules. The streaming job applies the same rules as Spark SQL expressions built
from the same constants; a test checks that both agree row by row.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation


@dataclass(frozen=True)
class Field:
    """One CSV column of the event contract."""

    name: str
    kind: str  # uuid | enum | bigint | text | decimal | int | timestamp
    sql_type: str  # the column type in raw.ecommerce_events
    description: str


EVENT_TYPES: tuple[str, ...] = ("view", "add_to_cart", "purchase")

PRICE_PRECISION = 10  # numeric(10,2): at most 8 digits before the point
PRICE_SCALE = 2
PRICE_MAX = Decimal("99999999.99")
QUANTITY_MIN = 1
QUANTITY_MAX = 2_147_483_647  # PostgreSQL integer
ID_MAX = 9_223_372_036_854_775_807  # PostgreSQL bigint
TEXT_MAX_LENGTH = 1000  # longer text fields are quarantined, not truncated

# Accepted spellings of the numbers and times. They are deliberately strict:
# anything else is quarantined rather than guessed at.
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
POSITIVE_INT_PATTERN = r"^[1-9][0-9]{0,18}$"
PRICE_PATTERN = r"^[0-9]{1,8}(\.[0-9]{1,2})?$"
# ISO-8601 with a mandatory zone: Z or +hh:mm / -hh:mm. Fractions up to microseconds.
TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"

FIELDS: tuple[Field, ...] = (
    Field(
        "event_id",
        "uuid",
        "uuid",
        "Unique id of the event (UUID); duplicates are removed in staging.",
    ),
    Field("event_type", "enum", "text", "One of view, add_to_cart, purchase."),
    Field("user_id", "bigint", "bigint", "Positive integer id of the user."),
    Field("user_name", "text", "text", "Display name of the user."),
    Field("product_id", "bigint", "bigint", "Positive integer id of the product."),
    Field("product_name", "text", "text", "Name of the product."),
    Field("category", "text", "text", "Product category."),
    Field("price", "decimal", "numeric(10,2)", "Unit price, >= 0, at most 2 decimals."),
    Field("quantity", "int", "integer", "Units, integer >= 1."),
    Field(
        "event_time", "timestamp", "timestamptz", "When the event happened (ISO-8601 with zone)."
    ),
    Field("session_id", "text", "text", "Browsing session id."),
)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
CSV_HEADER: str = ",".join(FIELD_NAMES)

# Lineage columns the ingestion adds to every loaded row.
LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source_file", "text"),
    ("batch_id", "bigint"),
    ("ingested_at", "timestamptz"),
    ("delivery_id", "text"),  # raw.ingestion_files; null on rows landed before the file ledger
    ("query_id", "uuid"),  # with batch_id, the raw.ingestion_batches row that committed it
)

# Reason codes written to raw.ecommerce_events_rejected.reasons. They are
# stable identifiers: BI queries and tests group by them.
REASON_BAD_HEADER = (
    "bad_header"  # the file's first line is not CSV_HEADER: every line is quarantined
)
# The line does not split into exactly len(FIELDS) CSV fields: a missing or
# extra column, broken quoting, or a blank line.
REASON_MALFORMED_ROW = "malformed_csv_row"
REASON_INVALID_ENCODING = "invalid_encoding"  # not UTF-8, or a NUL character


def reason_missing(field: str) -> str:
    return f"missing_{field}"


def reason_invalid(field: str) -> str:
    return f"invalid_{field}"


_UUID = re.compile(UUID_PATTERN)
_POSITIVE_INT = re.compile(POSITIVE_INT_PATTERN)
_PRICE = re.compile(PRICE_PATTERN)
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)


def parse_timestamp(value: str) -> datetime | None:
    """Parse an event_time the way the contract allows, returned in UTC."""
    if not _TIMESTAMP.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def _field_ok(field: Field, value: str) -> bool:
    if field.kind == "uuid":
        return bool(_UUID.match(value))
    if field.kind == "enum":
        return value in EVENT_TYPES
    if field.kind == "bigint":
        return bool(_POSITIVE_INT.match(value)) and int(value) <= ID_MAX
    if field.kind == "text":
        return len(value) <= TEXT_MAX_LENGTH
    if field.kind == "decimal":
        if not _PRICE.match(value):
            return False
        try:
            return Decimal(value) <= PRICE_MAX
        except InvalidOperation:  # pragma: no cover - the pattern excludes it
            return False
    if field.kind == "int":
        return bool(_POSITIVE_INT.match(value)) and QUANTITY_MIN <= int(value) <= QUANTITY_MAX
    if field.kind == "timestamp":
        return parse_timestamp(value) is not None
    raise ValueError(f"unknown field kind {field.kind!r}")


def validate_row(values: list[str]) -> list[str]:
    """Return the reasons a parsed CSV row breaks the contract ([] if it is valid).

    ``values`` are the raw strings of one record. An empty string counts as
    missing. Values are never trimmed or otherwise repaired.
    """
    if len(values) != len(FIELDS):
        return [REASON_MALFORMED_ROW]
    reasons: list[str] = []
    for field, value in zip(FIELDS, values, strict=True):
        if value == "":
            reasons.append(reason_missing(field.name))
        elif not _field_ok(field, value):
            reasons.append(reason_invalid(field.name))
    return reasons


def validate_line(line: str) -> list[str]:
    """Validate one CSV line (without its newline) against the contract.

    Lenient about quotes the way Spark's CSV parser is (a stray quote inside an
    unquoted field is a literal character), so both agree line by line.
    """
    if "\x00" in line or "\ufffd" in line:
        return [REASON_INVALID_ENCODING]
    rows = list(csv.reader(io.StringIO(line)))
    if len(rows) != 1:
        return [REASON_MALFORMED_ROW]
    return validate_row(rows[0])
