"""Every setting, declared once: its environment variable, type, default and meaning.

Readers take values from ``pipeline.settings.current()`` (the process environment
over the ``.env`` file), command-line defaults from ``pipeline.cli.setting_option``,
and the reference in docs/configuration.md is generated from this declaration
(``python -m pipeline.config``; a unit test holds the two equal).

A plain pydantic model over the merged environment, not pydantic-settings: its
dotenv source expands ``$`` in values, which psql, dbt and the shell reading the
same ``.env`` through ``pipeline.settings.read_env_file`` do not.
"""

from __future__ import annotations

import math
import sys
import zoneinfo
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from pipeline.errors import UserError


class SettingsError(UserError):
    """A setting is missing or wrong; the message says which and how to fix it."""


# Parsers shared with the command line (pipeline.cli wraps them as click types): a bad
# value is one line naming what was expected and what was given.


def _number(text: str, kind: type, expected: str):
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"expected {expected}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise ValueError(f"expected {expected}, got {text!r}")
    return value


def parse_integer(text: str) -> int:
    return _number(text, int, "a whole number")


def _checked(text: str, kind: type, expected: str, ok: Callable[[Any], bool], refusal: str):
    """A number of ``kind`` for which ``ok`` holds; else ValueError(refusal.format(given))."""
    value = _number(text, kind, expected)
    if not ok(value):
        raise ValueError(refusal.format(value if kind is int else text))
    return value


def parse_positive_int(text: str) -> int:
    return _checked(text, int, "a whole number", lambda v: v >= 1, "must be >= 1, got {}")


def parse_positive_float(text: str) -> float:
    return _checked(text, float, "a number", lambda v: v > 0, "must be > 0, got {}")


def parse_seconds(text: str) -> float:
    refusal = "expected 0 or more seconds, got {}"
    return _checked(text, float, "seconds", lambda v: v >= 0, refusal)


def parse_days(text: str) -> float:
    return _checked(text, float, "days", lambda v: v >= 0, "expected 0 or more days, got {}")


def parse_fraction(text: str) -> float:
    value = _number(text, float, "a fraction like 0.01")
    if not 0 <= value <= 1:
        raise ValueError(f"must be between 0 and 1, got {text}")
    return value


def parse_port(text: str) -> int:
    value = _number(text, int, "a port number")
    if not 1 <= value <= 65535:
        raise ValueError(f"expected a port between 1 and 65535, got {value}")
    return value


def parse_port_or_off(text: str) -> int | None:
    if text.strip() in ("", "0"):
        return None
    return parse_port(text)


def parse_port_or_auto(text: str) -> str:
    text = text.strip()
    if text != "auto":
        try:
            parse_port(text)
        except ValueError:
            raise ValueError(f"expected a port number or 'auto', got {text!r}") from None
    return text


def parse_zone(name: str) -> str:
    """An IANA time zone name, or "" (none)."""
    if name:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name!r}: give an IANA name such as Europe/Berlin or UTC"
            ) from None
    return name


def _text(parse: Callable[[str], Any]) -> BeforeValidator:
    """Apply ``parse`` to a value given as text (the environment); typed values pass."""
    return BeforeValidator(lambda value: parse(value) if isinstance(value, str) else value)


Seconds = Annotated[float, _text(parse_seconds)]
Days = Annotated[float, _text(parse_days)]
PositiveInt = Annotated[int, _text(parse_positive_int)]
PositiveFloat = Annotated[float, _text(parse_positive_float)]
Port = Annotated[int, _text(parse_port)]
PortOrOff = Annotated[int | None, _text(parse_port_or_off)]
PortOrAuto = Annotated[str | None, _text(parse_port_or_auto)]
Zone = Annotated[str, _text(parse_zone)]


def _setting(default: Any, env: str, group: str, doc: str, unset: str = "") -> Any:
    """A field bound to environment variable ``env``; ``unset`` says what no value means
    where that is more than ``default``."""
    return Field(
        default, alias=env, description=doc, json_schema_extra={"group": group, "unset": unset}
    )


class Settings(BaseModel):
    """The effective settings. Build with ``pipeline.settings.current()``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    # --- where things are
    env_file: Path | None = _setting(
        None,
        "ECOM_ENV_FILE",
        "Where things are",
        "The dotenv file every command reads (process environment only: it says where the "
        "file is).",
        unset=".env in the checkout (installed: the current folder)",
    )
    state_dir: Path | None = _setting(
        None,
        "ECOM_STATE_DIR",
        "Where things are",
        "Local state: the managed PostgreSQL, inputs, checkpoints, archive, logs.",
        unset=".warehouse/ beside .env",
    )
    project_dir: Path | None = _setting(
        None,
        "ECOM_PROJECT_DIR",
        "Where things are",
        "The folder holding sql/ and dbt_project/.",
        unset="the checkout, or the installed package's copy",
    )
    input_dir: Path | None = _setting(
        None,
        "ECOM_INPUT_DIR",
        "Where things are",
        "The inputs folder the generator writes into and the stream watches.",
        unset="<state>/inputs",
    )
    manifest: Path | None = _setting(
        None,
        "ECOM_MANIFEST",
        "Where things are",
        "The generator's append-only manifest, outside the inputs folder.",
        unset="<state>/manifest.jsonl",
    )
    checkpoint_dir: Path | None = _setting(
        None,
        "ECOM_CHECKPOINT_DIR",
        "Where things are",
        "Spark's streaming checkpoint folder.",
        unset="<state>/checkpoints/ecommerce_events",
    )
    archive_dir: Path | None = _setting(
        None,
        "ECOM_ARCHIVE_DIR",
        "Where things are",
        "Where processed input files are moved (ECOM_PROCESSED_FILES=archive).",
        unset="<state>/archive",
    )
    quarantine_dir: Path | None = _setting(
        None,
        "ECOM_QUARANTINE_DIR",
        "Where things are",
        "Where input files that cannot be read as CSV text are moved.",
        unset="<state>/quarantine",
    )

    # --- the server (libpq's own variables)
    pghost: str | None = _setting(
        None,
        "PGHOST",
        "PostgreSQL",
        "The server's host. Unset everywhere: `make up` runs a project-managed PostgreSQL "
        "and writes it into .env.",
        unset="none: run `make up`",
    )
    pgport: Port = _setting(5432, "PGPORT", "PostgreSQL", "The server's port.")
    pgdatabase: str = _setting("ecommerce", "PGDATABASE", "PostgreSQL", "The warehouse's database.")
    pguser: str = _setting(
        "ecom_admin",
        "PGUSER",
        "PostgreSQL",
        "An administrator who may create schemas and roles (`ecom db` applies the "
        "migrations as this user).",
    )
    pgpassword: str | None = _setting(
        None, "PGPASSWORD", "PostgreSQL", "The administrator's password.", unset="none"
    )
    loader_password: str | None = _setting(
        None,
        "ECOM_LOADER_PASSWORD",
        "PostgreSQL",
        "Password of ecom_loader, the streaming job's role.",
        unset="generated into .env by `ecom db`",
    )
    transformer_password: str | None = _setting(
        None,
        "ECOM_TRANSFORMER_PASSWORD",
        "PostgreSQL",
        "Password of ecom_transformer, dbt's role.",
        unset="generated into .env by `ecom db`",
    )
    analyst_password: str | None = _setting(
        None,
        "ECOM_ANALYST_PASSWORD",
        "PostgreSQL",
        "Password of ecom_analyst, the dashboard's and BI tools' role.",
        unset="generated into .env by `ecom db`",
    )
    auditor_password: str | None = _setting(
        None,
        "ECOM_AUDITOR_PASSWORD",
        "PostgreSQL",
        "Password of ecom_auditor, the Great Expectations checkpoints' role.",
        unset="generated into .env by `ecom db`",
    )

    # --- the project-managed PostgreSQL
    local_pgport: PortOrAuto = _setting(
        None,
        "ECOM_LOCAL_PGPORT",
        "Project-managed PostgreSQL",
        "Its loopback port. In the process environment it pins the port (taken: an error; "
        "'auto': any free port); in .env it records the port of the last start, which gives "
        "way to a free one when taken.",
        unset="55432, or any free port when taken",
    )
    local_pg_osuser: str = _setting(
        "postgres",
        "ECOM_LOCAL_PG_OSUSER",
        "Project-managed PostgreSQL",
        "As root, the system user its server commands run as (initdb and pg_ctl refuse root).",
    )
    pg_bindir: Path | None = _setting(
        None,
        "ECOM_PG_BINDIR",
        "Project-managed PostgreSQL",
        "The folder of initdb, pg_ctl and postgres.",
        unset="found on PATH, through pg_config, or in Debian's and Homebrew's folders",
    )
    skip_system_packages: bool = _setting(
        False,
        "ECOM_SKIP_SYSTEM_PACKAGES",
        "Project-managed PostgreSQL",
        "`make` targets skip installing missing system packages (scripts/system-packages.sh "
        "reads it; Java, PostgreSQL, Chromium).",
    )
    local_pg: bool = _setting(
        False,
        "ECOM_LOCAL_PG",
        "Project-managed PostgreSQL",
        "Written into .env by `make up`: this .env's server is the project-managed one. "
        "Not for setting by hand.",
    )

    # --- the streaming job (python -m ingestion, ecom stream)
    trigger_seconds: Seconds = _setting(
        0.25, "ECOM_TRIGGER_SECONDS", "Streaming job", "Micro-batch interval, in seconds."
    )
    max_files_per_trigger: PositiveInt = _setting(
        1000,
        "ECOM_MAX_FILES_PER_TRIGGER",
        "Streaming job",
        "At most this many parts (files, or parts of big ones) per micro-batch.",
    )
    max_mb_per_trigger: PositiveFloat = _setting(
        256.0,
        "ECOM_MAX_MB_PER_TRIGGER",
        "Streaming job",
        "And at most this many MB per micro-batch (at least one part): bounds memory.",
    )
    part_mb: PositiveFloat = _setting(
        8.0,
        "ECOM_PART_MB",
        "Streaming job",
        "A file bigger than this is handed to Spark in parts of at most this size, cut "
        "between records.",
    )
    settle_seconds: Seconds = _setting(
        5.0,
        "ECOM_SETTLE_SECONDS",
        "Streaming job",
        "A file the kernel says nothing about (no inotify, network mounts) is complete once "
        "unchanged this long.",
    )
    processed_files: Literal["archive", "delete"] = _setting(
        "archive",
        "ECOM_PROCESSED_FILES",
        "Streaming job",
        "What happens to a file once all its rows are committed: archive or delete.",
    )
    archive_days: Days = _setting(
        7.0,
        "ECOM_ARCHIVE_DAYS",
        "Streaming job",
        "Archived files are deleted this many days after archiving; 0 keeps them for ever.",
    )
    csv_escape: Literal["\\", ""] = _setting(
        "",
        "ECOM_CSV_ESCAPE",
        "Streaming job",
        "Set to `\\` to read quotes escaped with a backslash inside quoted fields (as Spark's "
        "CSV writer and MySQL write them); otherwise RFC 4180's doubled quote.",
        unset="none",
    )
    naive_timezone: Zone = _setting(
        "",
        "ECOM_NAIVE_TIMEZONE",
        "Streaming job",
        "The IANA zone of event times written without one (e.g. Europe/Berlin); unset, such "
        "times are quarantined.",
        unset="none",
    )
    spark_master: str = _setting(
        "local[*]",
        "ECOM_SPARK_MASTER",
        "Streaming job",
        "Spark master URL, e.g. spark://host:7077.",
    )
    spark_ui: bool = _setting(
        False,
        "ECOM_SPARK_UI",
        "Streaming job",
        "Serve Spark's web UI on loopback (costs memory).",
    )
    spark_ui_port: Port = _setting(
        4040,
        "ECOM_SPARK_UI_PORT",
        "Streaming job",
        "Its port; Spark tries the next ones when taken.",
    )
    spark_driver_memory: str = _setting(
        "1g",
        "ECOM_SPARK_DRIVER_MEMORY",
        "Streaming job",
        "The Spark driver's JVM heap (spark.driver.memory), e.g. 2g.",
    )
    spark_log_level: Literal["off", "fatal", "error", "warn", "info", "debug", "trace", "all"] = (
        _setting(
            "error",
            "ECOM_SPARK_LOG_LEVEL",
            "Streaming job",
            "Spark's and the JVM's log level (the job reports failures itself); "
            "--verbose makes it warn.",
        )
    )
    spark_cds: bool = _setting(
        True,
        "ECOM_SPARK_CDS",
        "Streaming job",
        "Start the JVM from a class-data-sharing archive in <state>/cache (faster start); "
        "0 turns it off.",
    )
    metrics_port: PortOrOff = _setting(
        None,
        "ECOM_METRICS_PORT",
        "Streaming job",
        "Serve Prometheus metrics on this port (live mode: its own there, the stream's on the "
        "next port); 0 or unset: off.",
        unset="off",
    )
    metrics_host: str = _setting(
        "127.0.0.1",
        "ECOM_METRICS_HOST",
        "Streaming job",
        "The address the metrics listen on; 0.0.0.0 in a container.",
    )

    # --- raw's partitions
    raw_partition_width: str | None = _setting(
        None,
        "ECOM_RAW_PARTITION_WIDTH",
        "raw's partitions",
        "The width of raw's partitions, a PostgreSQL interval (applied by `ecom db`).",
        unset="as the warehouse has it (1 day when created)",
    )
    raw_partition_ahead: str | None = _setting(
        None,
        "ECOM_RAW_PARTITION_AHEAD",
        "raw's partitions",
        "How far ahead partitions exist, an interval of at least two widths.",
        unset="as the warehouse has it (2 days when created)",
    )
    raw_retention_days: Days = _setting(
        0.0,
        "ECOM_RAW_RETENTION_DAYS",
        "raw's partitions",
        "`ecom maintain` and live mode drop staged partitions older than this; 0: never.",
    )


def default(name: str) -> Any:
    """The declared default of setting ``name`` (a field of Settings)."""
    return Settings.model_fields[name].default


def megabytes(mb: float) -> int:
    """A size setting given in MB, in bytes (at least 1)."""
    return max(1, int(mb * (1 << 20)))


def env_name(name: str) -> str:
    """The environment variable of setting ``name``."""
    return Settings.model_fields[name].alias or name


def describe_unset(name: str) -> str:
    """What an unset value of ``name`` means, for help texts."""
    extra = Settings.model_fields[name].json_schema_extra or {}
    return str(extra.get("unset") or default(name))


def load(environment: Mapping[str, str], source: Callable[[str], str]) -> Settings:
    """The settings in ``environment`` (an empty value counts as unset).

    An invalid value raises SettingsError, one line naming the variable, the value,
    ``source(variable)`` (where it came from) and what was expected.
    """
    given = {key: value for key, value in environment.items() if value != ""}
    try:
        return Settings.model_validate(given)
    except ValidationError as exc:
        error = exc.errors()[0]
        variable = str(error["loc"][0]) if error["loc"] else "?"
        message = error["msg"].removeprefix("Value error, ")
        raise SettingsError(
            f"{variable}={given.get(variable, '')!r} ({source(variable)}): {message}"
        ) from None


def reference() -> str:
    """docs/configuration.md: every setting, by group, from the declaration."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated from pipeline/config.py by `python -m pipeline.config`; edit that, "
        "not this. -->",
        "",
        "Every command reads these variables from the process environment first, then from "
        "the git-ignored `.env` file (`make up` writes it; `.env.example` is a template). An "
        "empty value counts as unset. An invalid value stops the command before it starts, "
        "with one line naming the variable. A command-line option, where one exists, wins "
        "over both (`--help` names the variable beside each option).",
        "",
    ]
    groups: dict[str, list[str]] = {}
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra or {}
        unset = extra.get("unset") or f"`{default(name)}`"
        if "<" in unset:  # <state>: code, not an HTML tag
            unset = f"`{unset}`"
        row = f"| `{field.alias}` | {field.description} | {unset} |"
        groups.setdefault(str(extra["group"]), []).append(row)
    for group, rows in groups.items():
        lines += [f"## {group}", "", "| variable | meaning | unset |", "| --- | --- | --- |"]
        lines += [*rows, ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(reference())
