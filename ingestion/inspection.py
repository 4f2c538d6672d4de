"""Reading a claimed file once: what it is, its header, and its parts.

A file that cannot be read as CSV text (unreadable, compressed in an unknown way,
UTF-16, binary, a name that is not UTF-8, a link or a special file) is quarantined
whole, with its reason. Any other is hashed (SHA-256 as delivered), decompressed as it
is read (gzip, bzip2, xz, zstd: told by its bytes) and cut into parts of at most
``part_bytes``, between records (ingestion.records). A part after the first starts with
a copy of the file's first line, so that every part is checked against the header.
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import gzip
import hashlib
import io
import lzma
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ingestion import dialect, records
from ingestion.parts import Part, display_name, part_name
from pipeline import contract

_HEAD_BYTES = 1 << 16


# Compression by the first bytes (gzip, bzip2 and xz in the standard library,
# zstd where the zstandard package is installed). A zip archive is quarantined by
# sniff(): it holds files, not one stream.
_COMPRESSIONS = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}
# What sniff() says of a file that starts so: the compressions above when they cannot
# be read (zstd without its package), and a zip archive always.
_MAGIC = {
    **{magic: f"{name}-compressed" for magic, name in _COMPRESSIONS.items()},
    b"PK\x03\x04": "a zip archive",
}


_UTF16_32 = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}


def sniff(head: bytes) -> str | None:
    """Why a file that starts with ``head`` is not CSV text at all, or None."""
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            return f"{what}, not CSV text: decompress it first"
    for bom, what in _UTF16_32.items():
        if head.startswith(bom):
            return f"{what} text (byte-order mark), not UTF-8: save it as UTF-8"
    if head and head.count(b"\x00") > len(head) // 100:
        return "binary data (NUL bytes), not CSV text"
    return None


# Why a whole file is quarantined, in kinds (the reason itself is in raw.ingestion_files).
QUARANTINE_KINDS = {
    "not_csv_text": "compressed in an unknown way, UTF-16/32, binary",
    "header": "a contract column missing, or one named twice",
    "not_a_file": "a symbolic link, a FIFO, a device: never opened",
    "name": "a name that is not UTF-8",
    "unreadable": "the file could not be read",
    "restart": "recorded quarantined before a restart, moved after it",
}


@dataclass
class Inspection:
    """What reading a claimed file found (the file ledger's columns)."""

    reason: str | None = None  # why the whole file is quarantined
    kind: str = ""  # the reason's kind, one of QUARANTINE_KINDS (a metric's label)
    note: str | None = None  # said of the whole file, which loads (no header line)
    size: int = 0  # as delivered
    digest: str | None = None  # SHA-256 as delivered
    size_read: int = 0  # decompressed
    compression: str | None = None
    decompressed: int | None = None
    header: str | None = None
    delimiter: str | None = None
    parsed: bool = False  # the Python path (ingestion.transform): not the contract's dialect
    framing: records.Framing = records.CONTRACT  # where records end, for cutting parts
    parts: list[str] = field(default_factory=list)

    def describe(self) -> list[str]:
        said = []
        if self.compression:
            said.append(f"{self.compression}, {self.decompressed:,} bytes decompressed")
        if self.parsed and self.header is not None:
            said.append(f"header by name, {self.delimiter}-separated")
        return said


def _compression(head: bytes) -> str | None:
    for magic, name in _COMPRESSIONS.items():
        if head.startswith(magic):
            if name == "zstd" and not _has_zstd():
                return None  # sniff() says it is compressed and cannot be read
            return name
    return None


def _has_zstd() -> bool:
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return False
    return True


def _decompressed(source, compression: str | None):
    """A stream of the file's content: decompressed as it is read, in bounded memory."""
    if compression == "gzip":
        return gzip.GzipFile(fileobj=source, mode="rb")
    if compression == "bzip2":
        return bz2.BZ2File(source, mode="rb")
    if compression == "xz":
        return lzma.LZMAFile(source, mode="rb")
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
    return source


class _Hashing(io.RawIOBase):
    """Reads a file, counting and hashing the bytes as delivered."""

    def __init__(self, source) -> None:
        self._source = source
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        self.digest.update(data)
        self.size += len(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data


def _drain(read) -> None:
    while read(1 << 20):
        pass


_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)


def _not_a_file(path: Path, st: os.stat_result) -> str:
    """The reason an entry that is not a regular file is quarantined without being read."""
    what = next((kind for test, kind in _KINDS if test(st.st_mode)), "not a regular file")
    if stat.S_ISLNK(st.st_mode):
        with contextlib.suppress(OSError):
            what += f" (to {display_name(os.readlink(path))})"
        return f"{what}: the job does not read through links; move or copy the file itself in"
    return f"{what}, not a file: never opened"


class Unreadable(Exception):
    """The claimed file cannot be read (the message says why): it is quarantined."""


def _reader(source):
    def read(size: int) -> bytes:
        try:
            return source.read(size)
        except OSError as exc:
            raise Unreadable(exc.strerror or str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - a broken compressed stream, of any library
            raise Unreadable(f"{type(exc).__name__}: {exc}") from exc

    return read


class Cutter:
    """Reads a claimed file once and cuts it into parts in ``tmp_dir``."""

    def __init__(self, tmp_dir: Path, part_bytes: int, escape: str | None) -> None:
        self.tmp_dir = tmp_dir
        self.part_bytes = part_bytes
        self.escape = escape  # ingestion.dialect: a backslash, or None (RFC 4180's "")

    def inspect(self, src: Path, name: str) -> Inspection:
        """Read a claimed file once: what it is, its header, and its parts (written to tmp/)."""
        if display_name(name) != name:
            return Inspection(reason="the file name is not valid UTF-8", kind="name")
        try:
            st = src.lstat()
        except OSError as exc:
            raise Unreadable(exc.strerror or str(exc)) from exc
        if not stat.S_ISREG(st.st_mode):
            return Inspection(reason=_not_a_file(src, st), kind="not_a_file")
        try:  # O_NOFOLLOW: a link swapped in since the lstat is not followed either
            fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return Inspection(reason=_not_a_file(src, src.lstat()), kind="not_a_file")
            raise Unreadable(exc.strerror or str(exc)) from exc
        with open(fd, "rb") as source:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return Inspection(reason=_not_a_file(src, st), kind="not_a_file")
            delivered = _Hashing(source)
            compression = _compression(os.pread(fd, 8, 0))
            try:
                stream = _decompressed(delivered, compression)
                found = self._split(src, name, _reader(stream), compression)
                if found.reason is None:
                    _drain(_reader(delivered))  # the digest covers every byte delivered
            except Unreadable:
                for stale in self.tmp_dir.glob(f"{src.stem}.*"):
                    stale.unlink()
                raise
        if found.reason is not None:
            found.size = st.st_size
            return found
        found.size, found.digest = delivered.size, delivered.digest.hexdigest()
        if compression:
            found.compression, found.decompressed = compression, found.size_read
        return found

    def _split(self, src: Path, name: str, read, compression: str | None) -> Inspection:
        """The file's header and its parts in tmp/, cut between records."""
        found = Inspection()
        head = read(_HEAD_BYTES)
        reason = sniff(head)
        if reason:
            what = f"{compression}-compressed, and then " if compression else ""
            return Inspection(reason=what + reason, kind="not_csv_text")
        try:
            self._read_header(head, found)
        except dialect.HeaderProblem as exc:
            return Inspection(reason=str(exc), kind="header")
        found.size_read = len(head)
        buffer = head
        first_line = b""
        lines_before = 0
        at_end = False
        backslash = self.escape is not None
        while buffer or not at_end:
            while not at_end and len(buffer) < self.part_bytes:
                data = read(self.part_bytes)
                if not data:
                    at_end = True
                    break
                found.size_read += len(data)
                buffer += data
            if not buffer:
                break
            if not found.parts:
                newline = buffer.find(b"\n")
                first_line = buffer[: newline + 1] if newline != -1 else buffer + b"\n"
            at = records.cut(buffer, at_end, found.framing) if not at_end else len(buffer)
            if at == 0:  # no record boundary yet: a record longer than a part
                if len(buffer) < 4 * self.part_bytes:
                    data = read(self.part_bytes)
                    if data:
                        found.size_read += len(data)
                        buffer += data
                    else:
                        at_end = True
                    continue
                at = buffer.rfind(b"\n") + 1 or len(buffer)  # give up on it: cut anyway
            chunk, buffer = buffer[:at], buffer[at:]
            if backslash and found.header is not None and b"\\" in chunk:
                found.parsed = True  # escapes to read: the Python path
            whole = compression is None and not found.parts and at_end and not buffer
            found.parts.append(
                self._write_part(
                    src, chunk, first_line, len(found.parts), lines_before, whole, found
                )
            )
            lines_before += chunk.count(b"\n")
        return found

    def _read_header(self, head: bytes, found: Inspection) -> None:
        """What the first line says: the contract's header (the JVM's path), another
        header (the Python path), or none at all (every line quarantined)."""
        first = head.split(b"\n", 1)[0]
        try:
            text = first.decode("utf-8").removeprefix(dialect.BOM).removesuffix("\r")
        except UnicodeDecodeError:
            text = None
        if text == contract.CSV_HEADER:
            found.header, found.delimiter = text, dialect.DELIMITER_NAMES[","]
            return
        header = dialect.read_header(text, self.escape) if text is not None else None
        if header is None:
            found.note = (
                "the first line is not a header (it names none of the contract's columns): "
                "every line, the first included, is quarantined as bad_header"
            )
            return
        found.header, found.delimiter = header.line, header.delimiter_name
        found.parsed = True
        found.framing = records.Framing(header.delimiter, len(header.names))

    def as_multiline(self, name: str) -> str:
        """Rename a part in tmp/ as one with multi-line records (the whole file is read so)."""
        info = Part.parse(name)
        if info.multiline:
            return name
        renamed = part_name(info.delivery_id, info.part, info.line_offset, True)
        os.replace(self.tmp_dir / name, self.tmp_dir / renamed)
        return renamed

    def _write_part(
        self,
        src: Path,
        chunk: bytes,
        first_line: bytes,
        index: int,
        lines_before: int,
        whole: bool,
        found: Inspection,
    ) -> str:
        # part 0's lines are numbered from 1; a later part's line 0 is the copied first line
        offset = 0 if index == 0 else lines_before - 1
        multiline = found.parsed or records.has_multiline_record(chunk, found.framing)
        name = part_name(src.stem, index, offset, multiline)
        target = self.tmp_dir / name
        if whole:
            try:  # the whole file is the one part: no copy
                os.link(src, target)
                return name
            except OSError:
                pass
        with open(target, "wb") as out:
            if index:
                out.write(first_line)
            out.write(chunk)
        return name
