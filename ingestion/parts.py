"""The names of a delivery's parts: how the intake names what it hands to Spark.

A claimed file is a delivery (``new_delivery_id``); its parts are written as
``<delivery>.<part>.<line offset>[m].csv`` (``m``: a part with multi-line records), and
released under a name that starts with a sequence number (``Sequence``), which orders
them for the job's file source (ingestion.source).
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# A released part's name starts with its sequence (ingestion.source), one in tmp/ does not.
PART_PATTERN = r"^(?:\d{12}\.)?(\d{8}T\d{6}-[0-9a-f]{8})\.(\d{5})\.(\d+)(m?)\.csv$"


_PART = re.compile(PART_PATTERN)


def new_delivery_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


def part_name(delivery_id: str, part: int, line_offset: int, multiline: bool) -> str:
    return f"{delivery_id}.{part:05d}.{line_offset}{'m' if multiline else ''}.csv"


@dataclass(frozen=True)
class Part:
    delivery_id: str
    part: int
    line_offset: int  # line number = offset + 1 + index of the line in the part
    multiline: bool

    @classmethod
    def parse(cls, name: str) -> Part | None:
        match = _PART.match(name)
        if not match:
            return None
        return cls(match[1], int(match[2]), int(match[3]), match[4] == "m")


SEQUENCE_DIGITS = 12


_SEQUENCED = re.compile(rf"^(\d{{{SEQUENCE_DIGITS}}})\..*\.csv$")


def sequence_of(name: str) -> int | None:
    """The sequence a released part's name starts with (ingestion.source), or None."""
    match = _SEQUENCED.match(name)
    return int(match[1]) if match else None


class Sequence:
    """The numbers of released parts, in the order they are released: they never go
    back, through crashes too, so that a part is never numbered at or below an offset
    Spark has already read past (ingestion.source). Numbers are reserved on disk a
    block at a time (fsynced), like a PostgreSQL sequence's cache: a restart skips
    the rest of the block."""

    BLOCK = 4096

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._reserved = int(path.read_text().strip() or 0)
        except FileNotFoundError:
            self._reserved = 0
        self._next = self._reserved  # below it, numbers a run before may have used
        self._lock = threading.Lock()

    def name(self, part: str) -> str:
        """The released name of a part: its number, a dot, the part's own name."""
        with self._lock:
            if self._next >= self._reserved:
                self._reserve(self._next + self.BLOCK)
            number = self._next
            self._next += 1
        return f"{number:0{SEQUENCE_DIGITS}d}.{part}"

    def _reserve(self, upto: int) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as out:
            out.write(f"{upto}\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        self._reserved = upto


def display_name(name: str) -> str:
    """The name as PostgreSQL text can hold it: bytes that are not UTF-8 as \\xNN."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")
