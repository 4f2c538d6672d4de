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
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo


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
# event_time: ISO 8601 / RFC 3339 extended forms with a zone, as the field's tools write
# them (docs/ingestion.md lists which tool writes which). The date and time separated by T, t or
# a space; a fraction of 1 to 9 digits (PostgreSQL stores microseconds, rounding half to
# even); the zone as Z or z, +hh, +hhmm, +hh:mm (PostgreSQL's range: up to 15:59), or UTC
# (with or without a space before it). A time without a zone is ambiguous: quarantined.
TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?| ?UTC)$"
)
# The same without a zone: quarantined, unless the user names the zone such times are in
# (--naive-timezone), as PostgreSQL reads them then (see parse_timestamp).
NAIVE_TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?$"
)
# The spellings above, one example each: the tests hold Python's reading, Spark's and
# PostgreSQL's to the same instant for every one of them.
TIMESTAMP_SPELLINGS: tuple[str, ...] = (
    "2026-11-25T10:00:00Z",  # the generator, RFC 3339
    "2026-11-25t10:00:00.5z",  # RFC 3339 allows lower case
    "2026-11-25T10:00:00.123Z",  # Spark's CSV writer (milliseconds)
    "2026-11-25 10:00:00.123000+00:00",  # pandas
    "2026-11-25T10:00:00.123000+0000",  # polars
    "2026-11-25 10:00:00.123+00",  # PostgreSQL's COPY, DuckDB
    "2026-11-25 10:00:00.123000Z",  # pyarrow
    "2026-11-25 10:00:00.123 UTC",  # BigQuery
    "2026-11-25 10:00:00.123UTC",
    "2026-11-25T11:30:00.123456789+01:30",  # nanoseconds (rounded to microseconds)
    "2026-11-25T04:30:00.0000015-05",  # half a microsecond: to even
    "2026-11-25T04:30:00.9999996-0530",  # rounds up into the next second
)

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
    # Not lineage but the row's own: the file's columns beyond the contract, by their
    # header names (JSON; null when the file had none). Nothing is dropped.
    ("extra_columns", "jsonb"),
)

# Reason codes written to raw.ecommerce_events_rejected.reasons. They are
# stable identifiers: BI queries and tests group by them.
# The first line is no header (it names no contract column): every line is quarantined.
REASON_BAD_HEADER = "bad_header"
# The record does not split into as many fields as the header (a missing or extra
# column, a blank line), or a quoted field is not well-formed (RFC 4180).
REASON_MALFORMED_ROW = "malformed_csv_row"
REASON_INVALID_ENCODING = "invalid_encoding"  # not UTF-8, or a NUL character


def reason_missing(field: str) -> str:
    return f"missing_{field}"


def reason_invalid(field: str) -> str:
    return f"invalid_{field}"


def reason_codes() -> tuple[str, ...]:
    """Every reason code a quarantined line may carry (docs/ingestion.md's table of reasons)."""
    per_field = (code for f in FIELDS for code in (reason_missing(f.name), reason_invalid(f.name)))
    return (REASON_BAD_HEADER, REASON_MALFORMED_ROW, REASON_INVALID_ENCODING, *per_field)


_UUID = re.compile(UUID_PATTERN)
_POSITIVE_INT = re.compile(POSITIVE_INT_PATTERN)
_PRICE = re.compile(PRICE_PATTERN)
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
_NAIVE = re.compile(NAIVE_TIMESTAMP_PATTERN)


_ZONE = re.compile(r"(?:[Zz]| ?UTC|([+-])([0-9]{2}):?([0-9]{2})?)$")


def parse_timestamp(value: str, naive_timezone: str | None = None) -> datetime | None:
    """Parse an event_time the way the contract allows, returned in UTC, at microsecond
    precision rounded as PostgreSQL rounds (half to even, of the fraction as a double).

    With ``naive_timezone`` (an IANA name), a time without a zone is in that zone; a
    wall time that occurs twice (clocks going back) or not at all (going forward)
    takes the offset PostgreSQL gives it: the one after the change, or before it.
    """
    naive = naive_timezone is not None and _NAIVE.match(value) is not None
    if not naive and not _TIMESTAMP.match(value):
        return None
    offset = timedelta(0)
    local = value
    if not naive:
        zone = _ZONE.search(value)
        if zone[1]:
            offset = timedelta(hours=int(zone[2]), minutes=int(zone[3] or 0))
            offset = -offset if zone[1] == "-" else offset
        local = value[: zone.start()]
    seconds, _, fraction = local.partition(".")
    try:
        parsed = datetime.fromisoformat(seconds[:10] + "T" + seconds[11:])
    except ValueError:
        return None
    if naive:
        offset = _wall_offset(parsed, ZoneInfo(naive_timezone))
    micros = round(float("0." + fraction) * 1_000_000) if fraction else 0
    return (parsed + timedelta(microseconds=micros) - offset).replace(tzinfo=UTC)


def _wall_offset(wall: datetime, zone: ZoneInfo) -> timedelta:
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first.utcoffset()
    exists = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall
    return (second if exists else first).utcoffset()  # twice: after the change; never: before


def _field_ok(field: Field, value: str, naive_timezone: str | None = None) -> bool:
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
        return parse_timestamp(value, naive_timezone) is not None
    raise ValueError(f"unknown field kind {field.kind!r}")


def validate_row(values: list[str], naive_timezone: str | None = None) -> list[str]:
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
        elif not _field_ok(field, value, naive_timezone):
            reasons.append(reason_invalid(field.name))
    return reasons


# RFC 4180, strictly: a field that opens a quote is a quoted field, closed by a quote
# that a separator or the end of the record follows ("" inside it is a quote). A quote
# later in an unquoted field is a literal character, as PostgreSQL's COPY and Spark read it.
STRICT_RECORD_PATTERN = r'^(?:"(?:[^"]|"")*+"|[^",][^,]*+)?(?:,(?:"(?:[^"]|"")*+"|[^",][^,]*+)?)*+$'
_STRICT_RECORD = re.compile(STRICT_RECORD_PATTERN)


def validate_line(line: str, naive_timezone: str | None = None) -> list[str]:
    """Validate one CSV record (without its newline) of the contract's header against it."""
    if "\x00" in line or "\ufffd" in line:
        return [REASON_INVALID_ENCODING]
    if not _STRICT_RECORD.match(line):
        return [REASON_MALFORMED_ROW]
    rows = list(csv.reader(io.StringIO(line)))
    if len(rows) != 1:
        return [REASON_MALFORMED_ROW]
    return validate_row(rows[0], naive_timezone)
