"""Headers mapped by name, delimiters, strict RFC 4180 and backslash escapes (no services)."""

from __future__ import annotations

import json

import pytest

from ingestion import dialect
from pipeline import contract

NAMES = list(contract.FIELD_NAMES)


def test_the_contract_header_is_canonical():
    header = dialect.read_header(contract.CSV_HEADER + "\r\n")
    assert header.canonical and header.delimiter == ","
    assert header.positions == tuple(range(len(NAMES))) and header.extras == ()


@pytest.mark.parametrize("delimiter", dialect.DELIMITERS)
def test_the_header_reveals_the_delimiter(delimiter):
    header = dialect.read_header(dialect.BOM + delimiter.join(NAMES))
    assert header.delimiter == delimiter
    assert header.canonical is (delimiter == ",")


def test_names_match_in_any_order_case_and_quoting_and_extras_are_kept():
    names = [f'" {name.upper()} "' for name in reversed(NAMES)]
    header = dialect.read_header(",".join(["", "channel", *names]))
    assert header.names[:2] == ("_c0", "channel")
    assert header.extras == (0, 1)
    record = ["7", "web", *(f"v-{name}" for name in reversed(NAMES))]
    values, extra = header.values(record)
    assert values == [f"v-{name}" for name in NAMES]
    assert json.loads(extra) == {"_c0": "7", "channel": "web"}
    assert header.values(record[:-1]) is None  # another number of fields: malformed


@pytest.mark.parametrize(
    ("names", "said"),
    [
        (NAMES[:-2], "lacks the contract's columns: event_time, session_id"),
        ([*NAMES, "Price"], "duplicate columns in the header: price"),
    ],
)
def test_a_header_that_cannot_be_mapped_says_why(names, said):
    with pytest.raises(dialect.HeaderProblem, match=said):
        dialect.read_header(",".join(names))


def test_a_first_line_that_names_no_contract_column_is_no_header():
    assert dialect.read_header("5ce0a000-0000-4000-8000-000000000001,view,1,Ada") is None


@pytest.mark.parametrize(
    ("line", "escape", "fields"),
    [
        ('a,"b, c","d ""e"""', None, ["a", "b, c", 'd "e"']),
        ('a,b"c,d', None, ["a", 'b"c', "d"]),  # a quote later in an unquoted field: literal
        ('"Desk \\"Pro\\"",x', None, None),  # Spark's default escape, unasked: malformed
        ('"Desk \\"Pro\\"",x', "\\", ['Desk "Pro"', "x"]),
        ('"a\\\\",x', "\\", ["a\\", "x"]),
        ('"a\\n",x', "\\", ["a\\n", "x"]),  # a backslash before anything else is itself
        ('"unterminated,x', None, None),
        ('"a"b,x', None, None),
        ("a,b\r", None, ["a", "b"]),
    ],
)
def test_records_are_read_strictly(line, escape, fields):
    assert dialect.split_record(line, ",", escape) == fields


def test_records_span_lines_only_when_well_formed():
    header = dialect.read_header("a;b;" + ";".join(NAMES))
    width = len(header.names)
    good = ";".join(['"x\ny"', "2", *["v"] * len(NAMES)])
    stray = ";".join(['"x', "2", *["v"] * len(NAMES)])
    after = ";".join(["z", "3", *["w"] * len(NAMES)])
    text = "\n".join([header.line, good, stray, after, ""])
    found = list(dialect.records(text, header, start=1))
    assert [r.first_line for r in found] == [0, 1, 3, 4, 5]
    assert found[1].fields[0] == "x\ny" and len(found[1].fields) == width
    assert found[2].fields is None and found[2].text == stray  # stands alone, swallows nothing
    assert found[3].fields[0] == "z"
    assert found[4].text == "" and found[4].fields == [""]


@pytest.mark.parametrize("spelling", contract.TIMESTAMP_SPELLINGS)
def test_every_listed_spelling_of_a_time_is_accepted(spelling):
    assert contract.parse_timestamp(spelling) is not None


@pytest.mark.parametrize(
    "spelling",
    [
        "2026-11-25T10:00:00",  # no zone: ambiguous
        "2026-11-25T10:00:00+16:00",  # beyond PostgreSQL's range
        "2026-11-25T10:00:00.1234567890Z",  # ten digits
        "2026-11-25T10:00:00 GMT",
        "25/11/2026 10:00:00Z",
    ],
)
def test_other_spellings_are_quarantined(spelling):
    assert contract.parse_timestamp(spelling) is None


def test_fractions_round_as_postgresql_rounds():
    parse = contract.parse_timestamp
    assert parse("2026-11-25T04:30:00.0000015-05").isoformat() == "2026-11-25T09:30:00.000002+00:00"
    assert parse("2026-11-25T04:30:00.0000005Z").microsecond == 0  # half to even
    assert parse("2026-11-25T04:30:00.9999996-0530").isoformat() == "2026-11-25T10:00:01+00:00"


@pytest.mark.parametrize(
    ("wall", "utc"),
    [
        ("2026-11-25 10:00:00.5", "2026-11-25T09:00:00.500000+00:00"),
        ("2026-07-01T10:00:00", "2026-07-01T08:00:00+00:00"),  # summer time
        ("2026-10-25 02:30:00", "2026-10-25T01:30:00+00:00"),  # twice: after the change
        ("2026-03-29 02:30:00", "2026-03-29T01:30:00+00:00"),  # never: before the change
    ],
)
def test_a_naive_time_is_a_wall_time_in_the_zone_given(wall, utc):
    assert contract.parse_timestamp(wall) is None  # ambiguous unless a zone is named
    assert contract.parse_timestamp(wall, "Europe/Berlin").isoformat() == utc
    assert contract.parse_timestamp(wall + "Z", "Europe/Berlin") == contract.parse_timestamp(
        wall + "Z"
    ), "a time with its zone keeps it"


def test_with_a_backslash_escape_doubled_quotes_still_read():
    assert dialect.split_record('"Desk ""Pro"", \\"x\\"",y', ",", "\\") == ['Desk "Pro", "x"', "y"]


def test_the_csv_module_reading_agrees_with_records_or_steps_aside():
    """dialect._by_csv_module (the fast reading) finds what records() finds, or None."""
    import random

    rng = random.Random(5)
    tokens = ["a", "b", " ", ",", ";", '"', "\n", "\r\n", "\r", "é"]

    def field() -> str:
        text = "".join(rng.choice(tokens) for _ in range(rng.randint(0, 6)))
        if rng.random() < 0.3:
            return text  # as it is: often broken
        return '"' + text.replace('"', '""') + '"'

    agreed = 0
    for _ in range(600):
        delimiter = rng.choice(dialect.DELIMITERS)
        names = [*NAMES, "extra"] if rng.random() < 0.5 else NAMES
        header = dialect.read_header(delimiter.join(names))
        rows = [delimiter.join(field() for _ in names) for _ in range(rng.randint(0, 8))]
        body = "\n".join([header.line, *rows])
        fast = dialect._by_csv_module(body, header)
        slow = [(r.first_line, r.text, r.fields) for r in dialect.records(body, header, start=1)]
        if fast is not None:
            assert fast == slow, body
            agreed += 1
    assert agreed > 50, "the fast reading took enough of the cases to be tested"
