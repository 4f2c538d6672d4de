"""CSV dialects: what a file's header says about it, and its records read strictly.

The contract's column names are known, so the header line tells the rest:

- **the delimiter**: ``,``, ``;``, tab or ``|``, whichever splits the header
  into the most of the contract's names;
- **where each column is**: names compare after trimming surrounding
  whitespace, ignoring case, in any order; a header may be quoted (pyarrow, R);
- **what is beyond the contract**: other columns are kept, by their header
  names, as a JSON object (an empty name is ``_c<position>``, as Spark names
  unnamed columns; pandas' index column is one).

Records follow RFC 4180 strictly: a field that opens a quote must be a quoted
field closed by a quote that a delimiter or the end of the record follows
(``""`` inside it is a quote), else the record is malformed, never a value
with stray quotes. With ``escape`` (``\\``, as Spark's CSV writer and MySQL
write), ``\\"`` inside a quoted field is a quote and ``\\\\`` a backslash,
besides ``""``; a backslash before anything else is itself. A quoted field may hold
line breaks: lines are joined only into a well-formed record of the header's
number of fields, of at most ``records.MAX_RECORD_LINES`` lines; otherwise
the first line stands alone (malformed) and reading resumes at the next line.

Both the intake (to decide how a file is read, before Spark) and the
transform's Python path (on Spark's executors) use this module.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from dataclasses import dataclass

from ingestion.records import MAX_RECORD_LINES
from pipeline import contract

DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
ESCAPES: tuple[str, ...] = ("\\",)
BOM = "\ufeff"
_CONTRACT = {name.lower(): name for name in contract.FIELD_NAMES}


class _Syntax:
    """The regular expressions of one (delimiter, escape)."""

    def __init__(self, delimiter: str, escape: str | None) -> None:
        d = re.escape(delimiter)
        if escape is None:
            quoted = r'"(?:[^"]|"")*+"'
        else:
            e = re.escape(escape)
            quoted = rf'"(?:[^"{e}]|{e}.|"")*+"'
        unquoted = rf'[^"{d}\n][^{d}\n]*+'
        field = rf"(?:{quoted}|{unquoted})?"
        self.delimiter = delimiter
        self.escape = escape
        # a record from its start: fields up to a line break or the end of the text
        self.record = re.compile(rf"{field}(?:{d}{field})*+(?=\r?\n|\Z)", re.S)
        self.field = re.compile(rf"({quoted})|([^{d}\n]*)", re.S)
        self.unescape = (
            re.compile(rf'{re.escape(escape)}([{re.escape(escape)}"])|"(")') if escape else None
        )

    def fields(self, record: str) -> list[str]:
        """The values of a record that ``self.record`` matched (without its line break)."""
        if '"' not in record:
            return record.split(self.delimiter)
        values = []
        position = 0
        while True:
            match = self.field.match(record, position)
            quoted, plain = match[1], match[2]
            if quoted is not None:
                inner = quoted[1:-1]
                if self.unescape is None:
                    values.append(inner.replace('""', '"'))
                else:
                    values.append(self.unescape.sub(lambda m: m[1] or m[2], inner))
            else:
                values.append(plain)
            position = match.end()
            if position >= len(record):
                return values
            position += 1  # the delimiter


@functools.lru_cache(maxsize=16)
def syntax(delimiter: str = ",", escape: str | None = None) -> _Syntax:
    return _Syntax(delimiter, escape)


def split_record(line: str, delimiter: str = ",", escape: str | None = None) -> list[str] | None:
    """The values of one record (no line break at its end), or None if it is malformed."""
    rules = syntax(delimiter, escape)
    record = line.removesuffix("\r")
    match = rules.record.match(record)
    if match is None or match.end() != len(record):
        return None
    return rules.fields(record)


@dataclass(frozen=True)
class Header:
    """A header line that names every contract column once."""

    line: str  # as written (without a byte-order mark or line break)
    delimiter: str
    names: tuple[str, ...]  # each column's name, trimmed; an empty one is _c<position>
    positions: tuple[int, ...]  # the column of each contract field, in contract order
    extras: tuple[int, ...]  # the columns beyond the contract

    @functools.cached_property
    def in_order(self) -> bool:
        """The contract's columns, in its order, and nothing else (any delimiter)."""
        return not self.extras and self.positions == tuple(range(len(self.positions)))

    @property
    def canonical(self) -> bool:
        """The contract's own header: its files take the JVM's fast path."""
        return self.line == contract.CSV_HEADER

    @property
    def delimiter_name(self) -> str:
        return DELIMITER_NAMES[self.delimiter]

    def values(self, fields: list[str]) -> tuple[list[str], str | None] | None:
        """(contract values in contract order, extras as JSON or None) of a record's
        fields; None when the record has another number of fields than the header."""
        if len(fields) != len(self.names):
            return None
        values = [fields[i] for i in self.positions]
        if not self.extras:
            return values, None
        return values, self.extra_json(fields)

    def extra_json(self, fields: list[str]) -> str:
        """The columns beyond the contract of a record, as one JSON object."""
        items = []
        for i in self.extras:
            value = fields[i]
            if _JSON_UNSAFE.search(value):
                quoted = json.dumps(value, ensure_ascii=False)
            else:
                quoted = f'"{value}"'
            items.append(f"{_json_key(self.names[i])}: {quoted}")
        return "{" + ", ".join(items) + "}"


_JSON_UNSAFE = re.compile(r'["\\\x00-\x1f]')


@functools.lru_cache(maxsize=256)
def _json_key(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)


class HeaderProblem(ValueError):
    """The first line is a header, but not one the contract can be mapped from."""


def read_header(line: str, escape: str | None = None) -> Header | None:
    """The header of a file whose first line is ``line``; None when it is no header
    at all (not one contract name in it). Raises HeaderProblem naming missing or
    duplicate columns."""
    line = line.removeprefix(BOM).removesuffix("\n").removesuffix("\r")
    best: tuple[int, str, list[str]] | None = None
    for delimiter in DELIMITERS:
        if delimiter not in line and delimiter != ",":
            continue
        names = split_record(line, delimiter, escape)
        if names is None:
            continue
        known = sum(1 for name in names if name.strip().lower() in _CONTRACT)
        if best is None or known > best[0]:
            best = (known, delimiter, names)
    if best is None or best[0] == 0:
        return None
    _, delimiter, raw_names = best
    names = tuple(name.strip() or f"_c{i}" for i, name in enumerate(raw_names))
    lowered = [name.lower() for name in names]
    duplicates = sorted({name for name in lowered if lowered.count(name) > 1})
    if duplicates:
        raise HeaderProblem(f"duplicate columns in the header: {', '.join(duplicates)}")
    missing = [name for name in contract.FIELD_NAMES if name not in lowered]
    if missing:
        raise HeaderProblem(f"the header lacks the contract's columns: {', '.join(missing)}")
    positions = tuple(lowered.index(name) for name in contract.FIELD_NAMES)
    extras = tuple(i for i, name in enumerate(lowered) if name not in _CONTRACT)
    return Header(line, delimiter, names, positions, extras)


@dataclass(frozen=True)
class Record:
    first_line: int  # index of the record's first line in the text
    text: str  # as written, without its line break
    fields: list[str] | None  # None: malformed


def records(text: str, header: Header, escape: str | None = None, start: int = 0):
    """The records of ``text`` (lines split by \\n), read with ``header``'s dialect.

    Lines before ``start`` stand alone, unread (a header line, or its copy).
    """
    rules = syntax(header.delimiter, escape)
    count = len(header.names)
    position = 0
    line = 0
    size = len(text)
    while position <= size:
        newline = text.find("\n", position)
        end = size if newline == -1 else newline
        if line < start or '"' not in text[position:end]:
            record = text[position:end]
            fields = None if line < start else record.removesuffix("\r").split(header.delimiter)
            yield Record(line, record.removesuffix("\r"), fields)
            position, line = end + 1, line + 1
            continue
        match = rules.record.match(text, position)
        if match is not None:
            spans = text.count("\n", position, match.end())
            record = text[position : match.end()].removesuffix("\r")
            fields = rules.fields(record)
            if spans == 0 or (spans < MAX_RECORD_LINES and len(fields) == count):
                yield Record(line, record, fields)
                position = match.end()
                position = text.find("\n", position)
                position = size + 1 if position == -1 else position + 1
                line += spans + 1
                continue
        yield Record(line, text[position:end].removesuffix("\r"), None)
        position, line = end + 1, line + 1


_NEEDS_QUOTES = re.compile(r'[,"\r\n]')


def canonical(values: list[str]) -> str:
    """A record in the contract's own dialect: comma-separated, quoted (RFC 4180) where
    a value holds a comma, a quote or a line break."""
    return ",".join(
        '"' + value.replace('"', '""') + '"' if _NEEDS_QUOTES.search(value) else value
        for value in values
    )


def canonical_records(body: str, escape: str | None = None) -> tuple[bool, list[tuple]]:
    """A part read in its header's dialect, for the transform's Python path.

    Returns (whether its first line is a header, records), each record
    ``(first line, text as written, the contract's values as one record in the
    contract's own dialect or None when malformed, extra columns as JSON)``.
    Without a header, the records are the part's lines (each to be quarantined
    as bad_header) and nothing else is read.
    """
    try:
        header = read_header(body.split("\n", 1)[0], escape)
    except HeaderProblem:  # the intake quarantines such files whole
        header = None
    if header is None:
        lines = body.split("\n")
        return False, [(i, line.removesuffix("\r"), None, None) for i, line in enumerate(lines)]
    found = _by_csv_module(body, header) if escape is None else None
    if found is None:
        found = [(r.first_line, r.text, r.fields) for r in records(body, header, escape, start=1)]
    return True, [_canonical_record(header, *record) for record in found]


def _by_csv_module(body: str, header: Header) -> list[tuple] | None:
    """(first line, text, fields) of every record, read by Python's csv module (C): the
    fast reading of a well-formed part. None where it could read otherwise than
    ``records`` does (a broken quote, a bare carriage return, a field past its size
    limit, a record over several lines that records() would not join): the caller
    then reads the part with ``records``."""
    if body.count("\r") != body.count("\r\n"):
        return None
    lines = body.split("\n")
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=header.delimiter, strict=True)
    found = [(0, lines[0].removesuffix("\r"), None)]
    width = len(header.names)
    try:
        next(reader)
        first = reader.line_num
        if first != 1:
            return None
        for fields in reader:
            last = reader.line_num
            if last - first == 1:
                text = lines[first]
            elif last - first > MAX_RECORD_LINES or len(fields) != width:
                return None
            else:
                text = "\n".join(lines[first:last])
            found.append((first, text.removesuffix("\r"), fields or [""]))
            first = last
    except csv.Error:
        return None
    if first < len(lines):  # a last, empty line (records() reads it as one)
        found.extend((i, lines[i].removesuffix("\r"), [""]) for i in range(first, len(lines)))
    return found


def _canonical_record(header: Header, first: int, text: str, fields: list[str] | None) -> tuple:
    if fields is None or len(fields) != len(header.names):
        return first, text, None, None
    values = fields if header.in_order else [fields[i] for i in header.positions]
    joined = ",".join(values)
    plain = joined.count(",") == len(values) - 1 and not _NEEDS_QUOTES_BUT_COMMA.search(joined)
    extra = header.extra_json(fields) if header.extras else None
    return first, text, joined if plain else canonical(values), extra


_NEEDS_QUOTES_BUT_COMMA = re.compile(r'["\r\n]')
