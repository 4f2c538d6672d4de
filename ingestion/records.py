"""Where CSV records begin and end: RFC 4180 framing of physical lines.

A record is one physical line, unless a field that starts with a double quote
is still open at the line's end: then the record goes on over the next lines
until that field closes (``""`` inside it is an escaped quote). A quote later
in an unquoted field is a literal character, as Spark's CSV parser reads it.

Lines are joined only into a well-formed record (each quoted field closed by
a quote before a separator or the end) of the contract's number of fields:
an opening quote that is never closed on its line is far more often a broken
line than a line break in a value. Otherwise, or when the quoted field has not
closed after ``MAX_RECORD_LINES`` lines (or by the end of the text), the first
line stands alone (to be quarantined as malformed) and framing resumes at the
next line. So one stray quote never swallows the lines after it.

The same framing serves the intake, which cuts big files only between
records, and the transform, which joins the lines of a multi-line record.
Both work line by line only from a line that opens a record over several
lines: ``first_opener`` finds those, trying ``OPENER`` on lines with a quote.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass

from pipeline import contract

_TEXT_FIELDS = sum(1 for field in contract.FIELDS if field.kind == "text")
# A valid record's quoted fields hold at most this many line breaks, plus its first line.
MAX_RECORD_LINES = _TEXT_FIELDS * contract.TEXT_MAX_LENGTH + 1


# A line, read from a record's start, that ends inside a quoted field: any
# number of complete fields (quoted, with anything up to the next delimiter after
# the closing quote, or unquoted), then a field that opens a quote and does not
# close it on this line.
def _opener(delimiter: str) -> str:
    d = re.escape(delimiter)
    field = rf'(?:"(?:[^"\n]|"")*+"[^{d}\n]*+|[^"{d}\n][^{d}\n]*+)?'
    return rf'(?m)^(?:{field}{d})*+"(?:[^"\n]|"")*+$'


_OPENER = _opener(",")
OPENER = re.compile(_OPENER)
OPENER_BYTES = re.compile(_OPENER.encode())


@dataclass(frozen=True)
class Framing:
    """How records are framed: the delimiter and the number of fields of a well-formed
    record (a file's header says both; the defaults are the contract's)."""

    delimiter: str = ","
    fields: int = len(contract.FIELDS)

    @functools.cached_property
    def _patterns(self) -> tuple[re.Pattern, re.Pattern]:
        pattern = _opener(self.delimiter)
        return re.compile(pattern), re.compile(pattern.encode())

    def opener(self, text: str | bytes) -> re.Pattern:
        return self._patterns[0] if isinstance(text, str) else self._patterns[1]


CONTRACT = Framing()


def first_opener(text: str | bytes, start: int = 0, framing: Framing = CONTRACT) -> int:
    """The offset of the first line at or after ``start`` (a line start) that opens a
    record over several lines, or -1. Only lines with a quote are tried: the common
    line has none.
    """
    pattern = framing.opener(text)
    if isinstance(text, str):
        quote, newline = '"', "\n"
    else:
        quote, newline = b'"', b"\n"
    position = start
    while True:
        found = text.find(quote, position)
        if found == -1:
            return -1
        line_start = text.rfind(newline, 0, found) + 1
        if pattern.match(text, line_start):
            return line_start
        position = text.find(newline, found) + 1
        if position == 0:
            return -1


def continues(line: str | bytes, delimiter: str = ",") -> bool:
    """Whether a line that starts inside a quoted field is still inside one at its end."""
    if isinstance(line, str):
        quote, comma = '"', delimiter
    else:
        quote, comma = b'"', delimiter.encode()
    inside = True
    i = 0
    while True:
        if inside:
            j = line.find(quote, i)
            while j != -1 and line[j + 1 : j + 2] == quote:  # "" is an escaped quote
                j = line.find(quote, j + 2)
            if j == -1:
                return True
            inside = False
            i = j + 1
        k = line.find(comma, i)  # the rest of this field is literal text
        if k == -1:
            return False
        i = k + 1
        if line[i : i + 1] == quote:
            inside = True
            i += 1


def strict_field_count(record: str | bytes, delimiter: str = ",") -> int | None:
    """How many fields a record has, if each quoted field in it is closed by a
    quote that a separator or the end follows (RFC 4180); None otherwise."""
    if isinstance(record, str):
        quote, comma, record = '"', delimiter, record.removesuffix("\r")
    else:
        quote, comma, record = b'"', delimiter.encode(), record.removesuffix(b"\r")
    count = 1
    i = 0
    while True:
        if record[i : i + 1] == quote:
            j = record.find(quote, i + 1)
            while j != -1 and record[j + 1 : j + 2] == quote:
                j = record.find(quote, j + 2)
            if j == -1:
                return None
            i = j + 1
            if i < len(record) and record[i : i + 1] != comma:
                return None
        k = record.find(comma, i)
        if k == -1:
            return count
        count += 1
        i = k + 1


def record_end(lines: list, first: int, framing: Framing = CONTRACT) -> int:
    """The last line of the record that ``lines[first]`` opens (a line OPENER matches).

    ``first`` itself when the quoted field does not close within
    MAX_RECORD_LINES lines or before the end of ``lines``, or when the joined
    lines do not make a well-formed record of ``framing``'s number of fields.
    """
    last = min(len(lines), first + MAX_RECORD_LINES)
    for index in range(first + 1, last):
        if not continues(lines[index], framing.delimiter):
            joined = lines[first][:0].join(_with_newlines(lines[first : index + 1]))
            count = strict_field_count(joined, framing.delimiter)
            return index if count == framing.fields else first
    return first


def _with_newlines(lines: list) -> list:
    newline = "\n" if isinstance(lines[0], str) else b"\n"
    return [line + newline for line in lines[:-1]] + [lines[-1]]


def frame(text: str, start: int = 0) -> tuple[list[str], list[int]]:
    """Records of ``text`` (lines separated by ``\n``); lines before ``start`` stand alone.

    Returns the records (their lines joined by ``\n`` again) and the index of
    each record's first line.
    """
    lines = text.split("\n")
    records: list[str] = lines[:start]
    firsts: list[int] = list(range(min(start, len(lines))))
    index = start
    offsets = None
    while index < len(lines):
        if offsets is None:  # the character offset of each line
            offsets = [0] * (len(lines) + 1)
            for i, line in enumerate(lines):
                offsets[i + 1] = offsets[i] + len(line) + 1
        found = first_opener(text, offsets[index])
        opener = _line_at(offsets, found) if found != -1 else len(lines)
        records.extend(lines[index:opener])
        firsts.extend(range(index, opener))
        if opener >= len(lines):
            break
        end = record_end(lines, opener)
        records.append("\n".join(lines[opener : end + 1]))
        firsts.append(opener)
        index = end + 1
    return records, firsts


def _line_at(offsets: list[int], position: int) -> int:
    """The index of the line starting at character ``position``."""
    return bisect.bisect_right(offsets, position) - 1


def _lines_from(
    data: bytes, start: int, complete_only: bool, delimiter: str = ","
) -> tuple[list[bytes], list[int]]:
    """The lines from ``start`` on that a record opened there could span, and the
    offset after each; with ``complete_only``, a last line without \\n is left out."""
    lines, ends = [], []
    while len(lines) < MAX_RECORD_LINES and start < len(data):
        newline = data.find(b"\n", start)
        if newline == -1:
            if complete_only:
                break
            newline = len(data)
        lines.append(data[start:newline])
        ends.append(newline + 1)
        start = newline + 1
        if len(lines) > 1 and not continues(lines[-1], delimiter):
            break
    return lines, ends


def cut(data: bytes, at_end: bool, framing: Framing = CONTRACT) -> int:
    """Where to cut ``data`` (which starts at a record boundary) into a part.

    The length of the longest prefix that ends with a line break between two
    records, or ``len(data)`` when ``at_end`` (the end of the file ends any
    record). 0 when there is no such line break yet (more data is needed).
    """
    if at_end:
        return len(data)
    position = 0
    while True:
        opener = first_opener(data, position, framing)
        if opener == -1:
            return max(position, data.rfind(b"\n", position) + 1)
        lines, ends = _lines_from(data, opener, True, framing.delimiter)
        end = record_end(lines, 0, framing)
        if end == 0 and len(lines) < MAX_RECORD_LINES:
            return opener  # the record may close in data not read yet
        position = ends[end]  # after the record, or after the opener's line standing alone


def has_multiline_record(data: bytes, framing: Framing = CONTRACT) -> bool:
    """Whether ``data`` (whole records) holds a record over several lines."""
    position = 0
    while True:
        opener = first_opener(data, position, framing)
        if opener == -1:
            return False
        lines, ends = _lines_from(data, opener, False, framing.delimiter)
        if record_end(lines, 0, framing) > 0:
            return True
        position = ends[0]
