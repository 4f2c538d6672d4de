"""The Spark validation agrees with the contract's reference validator, line by line."""

from __future__ import annotations

import csv
import re

import pytest

from ingestion.transform import transform
from pipeline import contract

pytestmark = pytest.mark.integration

GOOD = (
    "3f1c2b9e-5d4a-4e8f-9a7b-1c2d3e4f5a6b,purchase,42,Ada Lovelace,7,Ergonomic Chair,"
    "furniture,199.90,2,2026-11-25T10:15:00Z,s-42-1"
)


def _with(index: int, value: str) -> str:
    fields = GOOD.split(",")
    fields[index] = value
    return ",".join(fields)


LINES = [
    GOOD,
    GOOD.replace("Ergonomic Chair", '"Chair, ergonomic"'),
    GOOD.replace("Ergonomic Chair", '"Chair"'),
    GOOD.replace("Ada Lovelace", '"Lovelace, Ada"').replace("furniture", '"home, office"'),
    GOOD.replace("Ergonomic Chair", '""'),
    GOOD.replace("Ergonomic Chair", '"Chair ""Deluxe"""'),
    GOOD.replace("Ergonomic Chair", 'Chair "Deluxe"'),
    GOOD.replace("10:15:00Z", "12:15:00.123456+02:00"),
    GOOD.replace("10:15:00Z", "05:15:00-05:00"),
    GOOD.replace("3f1c2b9e", "3F1C2B9E"),
    _with(0, "not-a-uuid"),
    _with(0, ""),
    _with(1, "refund"),
    _with(1, "VIEW"),
    _with(2, "0"),
    _with(2, "-1"),
    _with(2, "1.0"),
    _with(2, "9223372036854775808"),
    _with(2, "9223372036854775807"),
    _with(2, "1000000000000000000"),
    _with(8, "1000000000"),
    _with(3, "Ada \ufffd"),
    _with(3, "x" * 1000),
    _with(3, ""),
    _with(3, "x" * 1001),
    _with(4, "seven"),
    _with(7, "-0.01"),
    _with(7, "1.999"),
    _with(7, "1e3"),
    _with(7, " 1.00"),
    _with(7, "0"),
    _with(7, "0.5"),
    _with(7, "99999999.99"),
    _with(7, "100000000.00"),
    _with(8, "0"),
    _with(8, "two"),
    _with(8, "2147483647"),
    _with(8, "2147483648"),
    _with(9, "2026-11-25 10:15:00"),
    _with(9, "2026-11-25T10:15:00"),
    _with(9, "2026-02-30T10:15:00Z"),
    _with(9, "2026-11-25T25:15:00Z"),
    _with(9, "2026-11-25T23:59:60Z"),
    _with(9, "2026-11-25T10:15:00+25:00"),
    _with(9, "1700000000"),
    _with(10, ""),
    _with(1, "refund").replace("199.90", "-5"),
    GOOD + ",extra",
    GOOD.rsplit(",", 1)[0],
    "",
    "just some text",
    'a,"unterminated,c',
    GOOD.replace("Ergonomic Chair", '"unterminated'),
    ",,,,,,,,,,",
    "a\x00b",
]


@pytest.fixture(scope="module")
def spark():
    from ingestion.spark import build_session

    session = build_session("local[2]")
    yield session
    session.stop()


def test_spark_and_python_agree_on_every_line(spark):
    content = contract.CSV_HEADER + "\n" + "\n".join(LINES) + "\n"
    files = spark.createDataFrame([("probe.csv", content)], "source_file string, content string")
    rows = transform(files).where("is_data").orderBy("line_number").collect()
    assert len(rows) == len(LINES)
    for row, line in zip(rows, LINES, strict=True):
        reasons = contract.validate_line(line)
        assert list(row.reasons) == reasons, line
        assert row.raw_line == (line.replace("\x00", "\ufffd") if reasons else None)
        if not reasons and row.copy_line is not None:
            # passed to COPY as it is: it must split into the same fields
            assert row.copy_line == line
            # each field plain, or quoted without a quote inside: COPY (format
            # csv) reads the same values as the CSV parser
            raw = re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', line)
            plain = [f[1:-1] if f.startswith('"') else f for f in raw]
            assert plain == next(csv.reader([line]))
        elif not reasons:
            assert [row[name] for name in contract.FIELD_NAMES] == next(csv.reader([line]))


def test_quoted_text_without_a_quote_inside_goes_to_copy_as_it_is(spark):
    quoted = GOOD.replace("Ergonomic Chair", '"Chair, ergonomic"')
    doubled = GOOD.replace("Ergonomic Chair", '"Chair ""Deluxe"""')
    carriage_return = GOOD.replace("Ergonomic Chair", "Chair\rergonomic")
    content = "\n".join([contract.CSV_HEADER, quoted, doubled, carriage_return]) + "\n"
    files = spark.createDataFrame([("q.csv", content)], "source_file string, content string")
    rows = transform(files).where("is_data").orderBy("line_number").collect()
    assert [row.copy_line for row in rows] == [quoted, None, None]
    assert [list(row.reasons) for row in rows[:2]] == [[], []]


def test_offsets_become_utc(spark):
    line = GOOD.replace("10:15:00Z", "12:15:00.5+02:00")
    files = spark.createDataFrame(
        [("probe.csv", f"{contract.CSV_HEADER}\n{line}\n")], "source_file string, content string"
    )
    row = transform(files).where("is_data").collect()[0]
    assert row.reasons == []
    assert row.event_at.isoformat() == "2026-11-25T10:15:00.500000"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.csv", "", []),
        ("header_only.csv", contract.CSV_HEADER + "\n", []),
        ("no_final_newline.csv", f"{contract.CSV_HEADER}\n{GOOD}", [(2, [])]),
        ("crlf.csv", f"{contract.CSV_HEADER}\r\n{GOOD}\r\n", [(2, [])]),
        ("bom.csv", f"\ufeff{contract.CSV_HEADER}\n{GOOD}\n", [(2, [])]),
        (
            "reordered_header.csv",
            "event_type,event_id"
            + contract.CSV_HEADER[len("event_id,event_type") :]
            + f"\n{GOOD}\n",
            [(1, ["bad_header"]), (2, ["bad_header"])],
        ),
        ("no_header.csv", f"{GOOD}\n{GOOD}\n", [(1, ["bad_header"]), (2, ["bad_header"])]),
        (
            "quoted_newline.csv",
            f"{contract.CSV_HEADER}\n{GOOD.replace('Ergonomic Chair', chr(34) + 'Chair')}\n"
            f"{'Deluxe' + chr(34) + GOOD.split('Ergonomic Chair')[1]}\n",
            [(2, ["malformed_csv_row"]), (3, ["malformed_csv_row"])],
        ),
        (
            "blank_lines.csv",
            f"{contract.CSV_HEADER}\n{GOOD}\n\n{GOOD}\n",
            [(2, []), (3, ["malformed_csv_row"]), (4, [])],
        ),
    ],
)
def test_every_line_of_odd_files_is_accounted_for(spark, name, content, expected):
    files = spark.createDataFrame([(name, content)], "source_file string, content string")
    rows = transform(files).where("is_data").orderBy("line_number").collect()
    assert [(row.line_number, list(row.reasons)) for row in rows] == expected


def _quote_all(line: str) -> str:
    return ",".join(f'"{value}"' for value in line.split(","))


@pytest.mark.parametrize("ending", ["\r\n", "\n", ""], ids=["crlf", "lf", "no-final-newline"])
def test_a_quote_all_file_loads_every_record_whatever_its_line_ending(spark, ending):
    # Python's csv.writer(quoting=QUOTE_ALL) and spreadsheets write "..." fields and
    # \r\n: the Python path reads it (a quoted header). The last record once lost
    # its line break's \n but not its \r, and was quarantined as malformed.
    lines = [_quote_all(contract.CSV_HEADER), _quote_all(GOOD), _quote_all(GOOD)]
    content = ending.join(lines) + ending if ending else "\r\n".join(lines)
    files = spark.createDataFrame(
        [("quote_all.csv", content)], "source_file string, content string"
    )
    rows = transform(files, parsed=True).where("is_data").orderBy("line_number").collect()
    assert [(row.line_number, list(row.reasons)) for row in rows] == [(2, []), (3, [])]


def test_every_time_spelling_is_one_instant_in_python_spark_and_postgresql(spark, warehouse):
    """Each accepted spelling (contract.TIMESTAMP_SPELLINGS): valid on both of the job's
    paths, and Python's instant is PostgreSQL's (which stores it) to the microsecond;
    Spark's (for lag only) truncates where PostgreSQL rounds."""
    from datetime import timedelta

    from pipeline import db

    index = contract.FIELD_NAMES.index("event_time")
    lines = [_with(index, spelling) for spelling in contract.TIMESTAMP_SPELLINGS]
    content = contract.CSV_HEADER + "\n" + "\n".join(lines) + "\n"
    files = spark.createDataFrame([("t.csv", content)], "source_file string, content string")
    quoted = content.replace(",", ";")  # the Python path (another delimiter)
    other = spark.createDataFrame([("u.csv", quoted)], "source_file string, content string")
    for frame, parsed in ((files, False), (other, True)):
        rows = transform(frame, parsed).where("is_data").orderBy("line_number").collect()
        assert [list(row.reasons) for row in rows] == [[]] * len(lines), parsed
        for row, spelling in zip(rows, contract.TIMESTAMP_SPELLINGS, strict=True):
            python = contract.parse_timestamp(spelling)
            spark_at = row.event_at.replace(tzinfo=python.tzinfo)
            assert timedelta(0) <= python - spark_at <= timedelta(microseconds=1), spelling
    with db.connection(None) as conn, conn.cursor() as cur:
        cur.execute("set timezone = 'Asia/Kolkata'")  # the session's zone must not matter
        for spelling in contract.TIMESTAMP_SPELLINGS:
            cur.execute("select %s::timestamptz", (spelling,))
            assert cur.fetchone()[0] == contract.parse_timestamp(spelling), spelling


def test_naive_times_in_a_named_zone_are_one_instant_in_python_spark_and_postgresql(
    spark, warehouse
):
    from pipeline import db

    zone = "Europe/Berlin"
    walls = ["2026-11-25 10:00:00.5", "2026-07-01T10:00:00", "2026-10-25 02:30:00"]
    index = contract.FIELD_NAMES.index("event_time")
    lines = [_with(index, wall) for wall in walls] + [GOOD]
    content = contract.CSV_HEADER + "\n" + "\n".join(lines) + "\n"
    files = spark.createDataFrame([("n.csv", content)], "source_file string, content string")
    without = transform(files).where("is_data").orderBy("line_number").collect()
    assert [list(row.reasons) for row in without] == [["invalid_event_time"]] * 3 + [[]]
    rows = transform(files, naive_timezone=zone).where("is_data").orderBy("line_number").collect()
    assert [list(row.reasons) for row in rows] == [[]] * 4
    assert rows[-1].copy_line == GOOD, "a time with its zone keeps the fast path"
    with db.connection(None) as conn, conn.cursor() as cur:
        for row, wall in zip(rows, walls, strict=False):
            python = contract.parse_timestamp(wall, zone)
            assert row.event_time == f"{wall} {zone}"  # the text COPY reads
            if wall != walls[-1]:  # the hour that occurs twice: Spark (lag only) takes the first
                assert row.event_at.replace(tzinfo=python.tzinfo) == python, wall
            cur.execute("select %s::timestamptz", (row.event_time,))
            assert cur.fetchone()[0] == python, wall
