"""Validation and typing: pure functions from DataFrame to DataFrame.

Input files are read whole (one row per file: ``source_file``, ``content``) and
split into physical lines here, so that every line of every file is accounted
for: the header line is checked and dropped, every other line becomes exactly
one output row, either valid (empty ``reasons``) or to be quarantined (the
reasons). Nothing is trimmed, defaulted or otherwise repaired.

All rules are Spark SQL expressions built from the constants of
``pipeline.contract`` (no per-row Python); ``tests/integration/test_transform.py``
checks that they agree with the contract's pure-Python reference validator.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ingestion.parts import PART_PATTERN
from pipeline import contract

BOM = "\ufeff"
REPLACEMENT = "\ufffd"
# A column that cannot occur in the contract: set when a line has more or fewer fields.
_CORRUPT = "_malformed"
_PARSE_SCHEMA = (
    ", ".join(f"`{name}` string" for name in contract.FIELD_NAMES) + f", `{_CORRUPT}` string"
)
_CSV_OPTIONS = {
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": _CORRUPT,
    "escape": '"',  # RFC 4180: a quote inside a quoted field is doubled
    "ignoreLeadingWhiteSpace": "false",
    "ignoreTrailingWhiteSpace": "false",
    "maxCharsPerColumn": "-1",
}

# The event's columns, in the order of the COPY statements in ingestion.sink.
EVENT_COLUMNS: tuple[str, ...] = contract.FIELD_NAMES


_PARSED = (
    "struct<header_ok: boolean, records: array<struct<first: int, text: string, "
    "canonical: string, extra: string>>>"
)


def _parse(body, escape):  # no type hints: pyspark would read them as an Arrow UDF's
    """The Python path (a UDF): ingestion.dialect.canonical_records of a part."""
    if body is None:
        return None
    from ingestion import dialect  # imported on the executor

    return dialect.canonical_records(body, escape or None)


def _without_last_bytes(count: int) -> Column:
    return F.expr(
        f"cast(substring(cast(content as binary), 1, octet_length(content) - {count}) as string)"
    )


def split_lines(files: DataFrame, parsed: bool = False, escape: str = "") -> DataFrame:
    """One row per record: (source_file, line_number, line, header_ok, is_data,
    _raw, _bad, _extra).

    ``files`` has ``source_file`` (a part's name, ingestion.intake) and
    ``content`` (the part as text). On the JVM's path a record is a physical
    line of a file with the contract's own header. With ``parsed`` (the parts
    the intake sends the Python path: another header or dialect, multi-line
    records, backslash escapes), records are read by ingestion.dialect in a
    Python UDF instead, which only such parts pay for: ``line`` is then the
    record rewritten in the contract's own dialect (its columns in contract
    order, comma-separated, RFC 4180 quoting), ``_raw`` the record as written
    (what a reject keeps), ``_bad`` whether it is malformed, ``_extra`` the
    columns beyond the contract as JSON. On the JVM's path ``_raw`` is ``line``.
    ``line_number`` is the line of the original file where the record starts.

    Line endings \\n and \\r\\n are accepted; a UTF-8 byte-order mark before the
    header is accepted. A final newline does not make an extra empty line.
    Rows with ``is_data`` false are not input rows but keep every part visible
    to the sink: the header line (a part after the first starts with a copy
    of it), and the one row of an empty part. When the first line is not a
    header, every line of the file, the first included, is data, to be
    quarantined as ``bad_header``.
    """
    content = F.col("content")
    name = F.col("source_file")
    first_line = F.regexp_replace(F.substring_index(content, "\n", 1), f"^{BOM}|\r$", "")
    # A final line break (\n or \r\n) does not make an extra line. Dropped as bytes:
    # length() and substring() of a string walk it character by character.
    body = (
        F.when(content.endswith("\r\n"), _without_last_bytes(2))
        .when(content.endswith("\n"), _without_last_bytes(1))
        .otherwise(content)
    )
    # a name that is not a part's (tests' in-memory frames): part 0, lines from 1
    part = F.coalesce(F.regexp_extract(name, PART_PATTERN, 2).try_cast("int"), F.lit(0))
    offset = F.coalesce(F.regexp_extract(name, PART_PATTERN, 3).try_cast("int"), F.lit(0))
    columns = [
        "source_file",
        (content == "").alias("_empty"),
        part.alias("_part"),
        offset.alias("_offset"),
    ]
    # Per file, then the explode: Spark evaluates the other expressions of a
    # select with a generator once per generated row. posexplode_outer: split
    # never returns an empty array, and the plain posexplode makes the
    # optimizer add a filter that splits every file a second time.
    if parsed:
        framed = F.udf(_parse, _PARSED)(body, F.lit(escape))
        lines = (
            files.select(*columns, framed.alias("_f"))
            .select(
                "source_file",
                "_empty",
                "_part",
                "_offset",
                F.col("_f.header_ok").alias("header_ok"),
                F.posexplode_outer("_f.records").alias("_k", "_r"),
            )
            .select(
                "source_file",
                "header_ok",
                "_empty",
                "_part",
                "_offset",
                F.col("_r.first").alias("pos"),
                F.coalesce("_r.canonical", "_r.text").alias("line"),
                F.col("_r.text").alias("_raw"),
                (F.col("_r.canonical").isNull() & F.col("header_ok")).alias("_bad"),
                F.col("_r.extra").alias("_extra"),
            )
        )
    else:
        lines = files.select(
            *columns,
            (first_line == F.lit(contract.CSV_HEADER)).alias("header_ok"),
            F.split(body, "\n", -1).alias("_lines"),
        ).select(
            "source_file",
            "header_ok",
            "_empty",
            "_part",
            "_offset",
            F.posexplode_outer("_lines").alias("pos", "line"),
            F.lit(False).alias("_bad"),
            F.lit(None).cast("string").alias("_extra"),
        )
    line = F.col("line")  # endswith + substring: a regular expression per line costs more
    line = F.when(line.endswith("\r"), F.expr("substring(line, 1, length(line) - 1)")).otherwise(
        line
    )
    line = F.when(F.col("pos") == 0, F.regexp_replace(line, f"^{BOM}", "")).otherwise(line)
    # the header, or a later part's copy of the first line, is not an input row
    first = F.col("pos") == 0
    is_data = ~F.col("_empty") & ~(first & (F.col("header_ok") | (F.col("_part") > 0)))
    return lines.select(
        "source_file",
        (F.col("pos") + 1 + F.col("_offset")).cast("int").alias("line_number"),
        line.alias("line"),
        "header_ok",
        is_data.alias("is_data"),
        F.col("_raw").alias("_raw") if parsed else line.alias("_raw"),
        "_bad",
        "_extra",
    )


def _to_timestamp(value: Column, naive_timezone: str | None = None) -> Column:
    """The instant of an event_time the contract's pattern allows (null if no such date).
    Spark reads every allowed spelling once upper-cased (not `t` or `z`); it truncates
    a fraction past microseconds, where PostgreSQL, which stores the value, rounds.
    With ``naive_timezone``, a time without a zone is a wall time there."""
    # upper() only for the spellings that need it (t, z): coalesce is lazy
    at = F.coalesce(F.try_to_timestamp(value), F.try_to_timestamp(F.upper(value)))
    if naive_timezone is None:
        return at
    naive = value.rlike(contract.NAIVE_TIMESTAMP_PATTERN)
    return F.when(naive, F.to_utc_timestamp(at, naive_timezone)).otherwise(at)


def _missing(value: Column) -> Column:
    return value.isNull() | (value == "")


def _field_invalid(
    field: contract.Field, value: Column, naive_timezone: str | None = None
) -> Column:
    """True when a present value breaks the field's rule (mirrors contract._field_ok)."""
    if field.kind == "uuid":
        return ~value.rlike(contract.UUID_PATTERN)
    if field.kind == "enum":
        return ~value.isin(*contract.EVENT_TYPES)
    if field.kind == "bigint":
        return ~value.rlike(contract.POSITIVE_INT_PATTERN) | value.try_cast("bigint").isNull()
    if field.kind == "text":
        return F.length(value) > contract.TEXT_MAX_LENGTH
    if field.kind == "decimal":
        return ~value.rlike(contract.PRICE_PATTERN)
    if field.kind == "int":
        as_int = value.try_cast("int")
        return (
            ~value.rlike(contract.POSITIVE_INT_PATTERN)
            | as_int.isNull()
            | (as_int < contract.QUANTITY_MIN)
        )
    if field.kind == "timestamp":
        spelled = value.rlike(contract.TIMESTAMP_PATTERN)
        if naive_timezone is not None:
            spelled = spelled | value.rlike(contract.NAIVE_TIMESTAMP_PATTERN)
        return ~spelled | _to_timestamp(value, naive_timezone).isNull()
    raise ValueError(f"unknown field kind {field.kind!r}")


def _unanchored(pattern: str) -> str:
    return pattern.removeprefix("^").removesuffix("$")


# The generator's and pandas' spellings of event_time (T or a space, up to 6 digits,
# Z or +hh:mm): a subset of the contract's, whose other spellings (polars, PostgreSQL,
# BigQuery ...) take the full path.
_FAST_TIMESTAMP = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"(Z|[+-](0[0-9]|1[0-5]):[0-5][0-9])"
)


def _fast_field_pattern(field: contract.Field) -> str:
    """A strict, unquoted spelling of a valid value: a subset of the contract's rule."""
    if field.kind == "uuid":
        return _unanchored(contract.UUID_PATTERN)
    if field.kind == "enum":
        return "(?:" + "|".join(contract.EVENT_TYPES) + ")"
    if field.kind == "bigint":
        return "[1-9][0-9]{0,17}"  # 18 digits always fit a bigint
    if field.kind == "int":
        return "[1-9][0-9]{0,8}"  # 9 digits always fit an integer
    if field.kind == "decimal":
        return _unanchored(contract.PRICE_PATTERN)
    if field.kind == "timestamp":
        return _FAST_TIMESTAMP
    if field.kind == "text":
        # Unquoted: no separator, no quote, no carriage return (PostgreSQL's
        # COPY refuses one unquoted), no NUL, no U+FFFD (what Spark makes of
        # bytes that are not UTF-8). Or quoted, without a quote inside: a
        # product name with a comma ("Hall Dumbbell, Black") is common, and
        # COPY reads the quoted field as Spark does.
        n = contract.TEXT_MAX_LENGTH
        return f'(?:[^,"\\r\\x{{0}}\\x{{FFFD}}]{{1,{n}}}+|"[^"\\x{{0}}\\x{{FFFD}}]{{1,{n}}}+")'
    raise ValueError(f"unknown field kind {field.kind!r}")


def _only_group(field: contract.Field) -> str:
    pattern = _fast_field_pattern(field).replace("(?:", "(").replace("(", "(?:")
    return f"({pattern})" if field.name == "event_time" else pattern


# A line that matches this (and whose event_time is a real date) is valid: the
# common case, checked with one regular expression instead of eleven field rules;
# every other line takes the full path, which finds its reasons
# (tests/integration/test_transform.py holds both paths to the contract's reference
# validator). event_time is its only group: one match vouches for the line and
# hands over the value to type.
_FAST_LINE_EVENT_TIME = "^" + ",".join(_only_group(f) for f in contract.FIELDS) + "$"


def validate(lines: DataFrame, naive_timezone: str | None = None) -> DataFrame:
    """Attach to each line the reasons it breaks the contract (empty: valid).

    Returns these columns:

    - ``copy_line``: for a valid line that matches _FAST_LINE_EVENT_TIME (the
      common case), the line itself, which is already a CSV record PostgreSQL
      parses exactly as Spark did (no quotes, no separators inside fields);
    - the contract's fields as strings, for every other line (null for the
      lines above: they are never split into fields, which is most of the
      saving);
    - ``event_at`` typed, lineage, ``raw_line`` (the line as read, for rejects
      only), ``reasons``, ``extra`` (the columns beyond the contract, as JSON)
      and ``is_data`` (false: a header or empty-file row, neither loaded nor
      rejected).

    Lines from the Python path (split_lines) are validated in the same way:
    ``line`` is the record in the contract's own dialect, ``_raw`` as written,
    ``_bad`` whether ingestion.dialect found it malformed. With ``naive_timezone``
    (an IANA name), a time without a zone is valid, in that zone: its text gets
    the zone's name appended for PostgreSQL, which reads it so.
    """
    line = F.col("line")
    columns = (
        "source_file",
        "line_number",
        "header_ok",
        "is_data",
        "line",
        "_raw",
        "_bad",
        "_extra",
    )
    # "" when the line does not match (a matching event_time is never empty)
    fast_time = F.when(
        F.col("header_ok") & ~F.col("_bad"), F.regexp_extract(line, _FAST_LINE_EVENT_TIME, 1)
    )
    # Only lines the pattern does not vouch for are parsed as CSV. (Measured:
    # the single regular expression costs less than from_csv plus eleven field
    # rules.) Each step is its own projection so that the optimizer does not
    # repeat the match once per field. from_csv is lenient where RFC 4180 is
    # not: a line that is not a strict record is malformed (structure_ok).
    record = F.when(~F.col("_matched"), F.from_csv(line, _PARSE_SCHEMA, _CSV_OPTIONS))
    parsed_lines = (
        lines.select(*columns, F.nullif(fast_time, F.lit("")).alias("_fast_time"))
        .select(*columns, F.col("_fast_time").isNotNull().alias("_matched"), "_fast_time")
        .select(*columns, "_matched", record.alias("_record"), "_fast_time")
        .select(*columns, "_matched", "_record.*", "_fast_time")
    )
    typed = parsed_lines.select(
        *columns,
        "_matched",
        *contract.FIELD_NAMES,
        _CORRUPT,
        _to_timestamp(F.coalesce("_fast_time", "event_time"), naive_timezone).alias("event_at"),
    )

    # Spark's text reader turns bytes that are not UTF-8 into U+FFFD; PostgreSQL
    # text cannot hold NUL. Both are quarantined as invalid_encoding.
    raw = F.col("_raw")
    valid_text = F.is_valid_utf8("_raw") & ~raw.contains("\u0000") & ~raw.contains(REPLACEMENT)
    field_reasons = [
        F.when(_missing(F.col(f.name)), F.lit(contract.reason_missing(f.name))).when(
            _field_invalid(f, F.col(f.name), naive_timezone),
            F.lit(contract.reason_invalid(f.name)),
        )
        for f in contract.FIELDS
    ]
    row_reasons = F.filter(F.array(*field_reasons), lambda reason: reason.isNotNull())
    structure_ok = (
        ~F.col("_bad")
        & F.col(_CORRUPT).isNull()
        & (line != "")
        & line.rlike(contract.STRICT_RECORD_PATTERN)
    )
    fast = F.col("_matched") & F.col("event_at").isNotNull()
    reasons = (
        F.when(fast, F.array().cast("array<string>"))
        # the pattern vouches for every field but the calendar date (2026-02-30)
        .when(F.col("_matched"), F.array(F.lit(contract.reason_invalid("event_time"))))
        .when(~F.col("header_ok"), F.array(F.lit(contract.REASON_BAD_HEADER)))
        .when(~valid_text, F.array(F.lit(contract.REASON_INVALID_ENCODING)))
        .when(~structure_ok, F.array(F.lit(contract.REASON_MALFORMED_ROW)))
        .otherwise(row_reasons)
    )
    raw_line = (
        F.when(F.size("reasons") == 0, F.lit(None).cast("string"))
        .when(valid_text, raw)
        .otherwise(F.regexp_replace(F.make_valid_utf8("_raw"), "\u0000", REPLACEMENT))
    )
    return typed.select(
        *(F.col(name) for name in EVENT_COLUMNS),
        "event_at",
        "source_file",
        "line_number",
        "line",
        "_raw",
        fast.alias("_fast"),
        reasons.alias("reasons"),
        "is_data",
        "_extra",
    ).select(
        F.when(F.col("_fast"), F.col("line")).alias("copy_line"),
        *(_for_copy(name, naive_timezone) for name in EVENT_COLUMNS),
        "event_at",
        "source_file",
        "line_number",
        raw_line.alias("raw_line"),
        "reasons",
        "is_data",
        F.col("_extra").alias("extra"),
    )


def _for_copy(name: str, naive_timezone: str | None) -> Column:
    """A field's text for COPY: a time without a zone (valid only with ``naive_timezone``;
    the fast path's pattern takes none) gets the zone's name, which PostgreSQL reads."""
    column = F.col(name)
    if name != "event_time" or naive_timezone is None:
        return column
    zoned = F.concat(column, F.lit(f" {naive_timezone}"))
    return (
        F.when(column.rlike(contract.NAIVE_TIMESTAMP_PATTERN), zoned).otherwise(column).alias(name)
    )


def transform(
    files: DataFrame,
    parsed: bool = False,
    escape: str = "",
    naive_timezone: str | None = None,
) -> DataFrame:
    """The whole transformation: parts -> validated records (``parsed``: the Python path)."""
    return validate(split_lines(files, parsed, escape), naive_timezone)


def for_sink(validated: DataFrame, parsed: bool = False) -> DataFrame:
    """What the sink needs of validated lines, shaped for COPY and cheap to ship.

    Most lines are plain valid lines: for them only ``copy_line``,
    ``source_file`` and ``event_at`` are set, every other column is null
    (each column shipped costs the JVM per row, null or not). ``fields``
    holds the contract's fields (as an array, one column) only for a valid
    line that is not plain; ``line_number`` and ``raw_line`` only for a
    rejected line. The reasons become PostgreSQL's text[] literal (``{a,b}``;
    null for valid rows): reason codes are plain identifiers, so no quoting is
    needed. Header rows stay (one per file, so the sink sees every file of the
    batch). ``extra`` (the columns beyond the contract, as JSON, for valid
    lines) only on the Python path (``parsed``): the contract's own header has
    none.
    """
    rejected = F.size("reasons") > 0
    reasons = F.when(rejected, F.concat(F.lit("{"), F.concat_ws(",", "reasons"), F.lit("}")))
    quoted = F.col("is_data") & ~rejected & F.col("copy_line").isNull()
    return validated.select(
        "is_data",
        "copy_line",
        "source_file",
        "event_at",
        reasons.alias("reasons"),
        F.when(rejected, F.col("line_number")).alias("line_number"),
        "raw_line",
        F.when(quoted, F.array(*EVENT_COLUMNS)).alias("fields"),
        *([F.when(F.col("is_data") & ~rejected, F.col("extra")).alias("extra")] if parsed else []),
    )
