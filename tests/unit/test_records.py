"""RFC 4180 framing of lines into records (ingestion.records), held to Python's csv module."""

from __future__ import annotations

import csv
import io
import random

import pytest

from ingestion import records
from pipeline import contract


def _csv_module_records(text: str) -> list[str]:
    """The records Python's csv module finds, as the text of their lines."""
    lines = text.split("\n")
    reader = csv.reader(io.StringIO(text, newline=""))
    out, first = [], 0
    for _ in reader:
        out.append("\n".join(lines[first : reader.line_num]))
        first = reader.line_num
    return out


def _event(*fields: str) -> str:
    """A line of the contract's number of fields: ``fields`` then filler."""
    return ",".join(list(fields) + ["x"] * (len(contract.FIELDS) - len(fields)))


def test_plain_lines_are_one_record_each():
    assert records.frame("a,b\nc,d\ne,f") == (["a,b", "c,d", "e,f"], [0, 1, 2])


def test_a_quoted_line_break_joins_lines():
    record = _event("1", '"Desk\nLamp"')
    text = f"h\n{record}\n2,y,z"
    assert records.frame(text) == (["h", record, "2,y,z"], [0, 1, 3])


def test_crlf_inside_a_quoted_field_is_kept():
    record = _event("1", '"a\r\nb"')
    text = f"h\r\n{record}\r\n2,y,z\r"
    assert records.frame(text)[0] == ["h\r", record + "\r", "2,y,z\r"]


def test_lines_join_only_into_a_record_of_the_contracts_field_count():
    broken = _event("1", '"never closed')  # the generator's broken quoting
    valid = _event("2", '"Hall Dumbbell, Black"')
    text = "\n".join([broken, _event("3"), valid])
    assert records.frame(text) == ([broken, _event("3"), valid], [0, 1, 2])
    # the generator's broken line, then a quoted name at the field that makes 11
    broken = _event("1", "2", "3", '"4')
    named = _event("5", "6", "7", "8", '"Arellano Premium Skillet, Olive"')
    text = "\n".join([broken, _event("9"), named])
    assert records.frame(text)[0] == [broken, _event("9"), named]


@pytest.mark.parametrize(
    "line",
    ['a,"open', '"ab""c', '"ab"",x', '"a"b,"c', 'a,"', 'a,"x,y",b,"more'],
)
def test_openers(line):
    assert records.OPENER.search(line)
    assert records.OPENER_BYTES.search(line.encode())


@pytest.mark.parametrize("line", ['a,"x,y",b', 'ab"c,d', 'a,b"', '"a""b"', "plain,line", '"a"b'])
def test_not_openers(line):
    assert not records.OPENER.search(line)


def test_a_stray_quote_does_not_swallow_the_file():
    lines = ['1,"never closed,x'] + [f"{i},b,c" for i in range(records.MAX_RECORD_LINES + 5)]
    recs, firsts = records.frame("\n".join(lines))
    assert recs[0] == lines[0]  # alone, to be quarantined
    assert len(recs) == len(lines)
    assert firsts == list(range(len(lines)))


def test_an_open_quote_at_the_end_of_the_text_stands_alone():
    assert records.frame('a,b\n1,"x\n2,y') == (["a,b", '1,"x', "2,y"], [0, 1, 2])


def test_lines_before_start_stand_alone():
    record = _event("1", '"a\nb"')
    text = f'copied,"header\n{record}'
    assert records.frame(text, start=1) == (['copied,"header', record], [0, 1])


def _random_field(rng: random.Random) -> str:
    # no bare \r: the csv module (through io.StringIO) counts it as a line end
    tokens = ["a", "b", " ", ",", '"', "\n", "\r\n"]
    text = "".join(rng.choice(tokens) for _ in range(rng.randint(0, 8)))
    if rng.random() < 0.5 and not any(c in text for c in ',"\n\r'):
        return text
    return '"' + text.replace('"', '""') + '"'


def test_random_records_frame_as_the_csv_module_reads_them():
    rng = random.Random(7)
    for _ in range(300):
        rows = [
            ",".join(_random_field(rng) for _ in contract.FIELDS) for _ in range(rng.randint(1, 12))
        ]
        text = "\n".join(rows)
        assert records.frame(text)[0] == _csv_module_records(text) == rows


def test_cut_never_splits_a_record():
    rng = random.Random(11)
    for _ in range(200):
        rows = [
            ",".join(_random_field(rng) for _ in contract.FIELDS) for _ in range(rng.randint(2, 30))
        ]
        data = ("\n".join(rows) + "\n").encode()
        size = rng.randint(1, len(data))
        at = records.cut(data[:size], at_end=False)
        assert at <= size
        if at:
            assert data[at - 1 : at] == b"\n"
            head = records.frame(data[:at].decode()[:-1])[0]
            tail = records.frame(data[at:].decode()[:-1])[0] if at < len(data) else []
            assert head + tail == rows


def test_cut_needs_more_data_inside_a_record():
    opened, closed = _event("1", '"open').encode(), b'closed"' + b",x" * 9
    plain = _event("0").encode()
    assert records.cut(opened + b"\nstill open", at_end=False) == 0
    assert records.cut(plain + b"\n" + opened + b"\nstill open", at_end=False) == len(plain) + 1
    data = plain + b"\n" + opened + b"\n" + closed + b"\n2,"
    assert records.cut(data, at_end=False) == len(data) - 2
    assert records.cut(b"partial", at_end=True) == 7


def test_a_part_has_multiline_records_only_when_lines_join():
    joined = _event("1", '"Desk\nLamp"')
    broken = _event("2", '"never closed')
    assert records.has_multiline_record(f"{_event('0')}\n{joined}\n".encode())
    assert not records.has_multiline_record(f"{broken}\n{_event('3')}\n".encode())
    assert not records.has_multiline_record(broken.encode())
    assert not records.has_multiline_record(b"")


@pytest.mark.parametrize(("delimiter", "width"), [(";", 12), ("\t", 11), (",", 13)])
def test_cut_never_splits_a_record_of_another_dialect(delimiter, width):
    """A file whose header has another delimiter, or columns beyond the contract."""
    from ingestion import dialect

    framing = records.Framing(delimiter, width)
    header = dialect.read_header(delimiter.join([*contract.FIELD_NAMES, *"ab"][:width]))
    rng = random.Random(13)

    def field() -> str:
        return _random_field(rng).replace(",", delimiter)

    for _ in range(200):
        rows = [delimiter.join(field() for _ in range(width)) for _ in range(rng.randint(2, 30))]
        data = ("\n".join(rows) + "\n").encode()
        size = rng.randint(1, len(data))
        at = records.cut(data[:size], at_end=False, framing=framing)
        assert at <= size
        if at:
            assert data[at - 1 : at] == b"\n"
            head = [r.text for r in dialect.records(data[:at].decode()[:-1], header)]
            tail = [r.text for r in dialect.records(data[at:].decode()[:-1], header)]
            assert head + (tail if at < len(data) else []) == rows
