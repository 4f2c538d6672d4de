"""Shared command-line plumbing: logging set up once, user errors as one line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pipeline import config, settings
from pipeline.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, not the whole usage."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


# argparse types, one style for every command: a bad value is one line naming
# what was expected and what was given (the parsers are pipeline.config's, which
# reads the same values from the environment).


def _argtype(parse: Callable[[str], Any], doc: str) -> Callable[[str], Any]:
    def convert(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__doc__ = doc
    convert.__name__ = parse.__name__.removeprefix("parse_")
    return convert


integer = _argtype(config.parse_integer, "A whole number.")
positive_int = _argtype(config.parse_positive_int, "A whole number >= 1.")
positive_float = _argtype(config.parse_positive_float, "A number > 0.")
seconds = _argtype(config.parse_seconds, "A duration in seconds, 0 or more (0: off, where said).")
days = _argtype(config.parse_days, "A number of days, 0 or more (0: for ever, where said).")
fraction = _argtype(config.parse_fraction, "A number between 0 and 1.")
port = _argtype(config.parse_port, "A TCP port, 1-65535.")
port_or_off = _argtype(config.parse_port_or_off, "A TCP port, or empty / 0: off.")
zone = _argtype(config.parse_zone, "An IANA time zone name, or empty: none.")


def setting_option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *flags: str,
    setting: str,
    help: str,
    default: Any = None,
    **kwargs: Any,
) -> argparse.Action:
    """An option whose default is setting ``setting`` (pipeline.config): its value from
    the environment or .env, else ``default``, else the declared default. The help ends
    with the default and the variable, e.g. "(default: 0.25; ECOM_TRIGGER_SECONDS)"."""
    value = getattr(settings.current(), setting)
    if value is None or value == "":
        value = default
    shown = config.describe_unset(setting) if value is None or value == "" else value
    if isinstance(value, bool) and kwargs.get("action") == "store_true":
        shown = "on" if value else "off"
    return parser.add_argument(
        *flags,
        default=value,
        help=f"{help} (default: {shown}; {config.env_name(setting)})",
        **kwargs,
    )


def utc_time(text: str) -> datetime:
    """An ISO-8601 time; without an offset it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO-8601 time like 2026-11-01T00:00:00Z, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("urllib3", "faker", "yoyo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # py4j logs every Python exception raised inside foreachBatch with a full
    # traceback; the job reports the failure itself.
    logging.getLogger("py4j").setLevel(logging.DEBUG if verbose else logging.CRITICAL)


def run_main(main: Callable[[], int | None], prog: str) -> None:
    """Run ``main``; errors a user can cause end in one line and exit code 2."""
    try:
        code = main()
    except UserError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
