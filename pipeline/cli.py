"""Shared command-line plumbing: logging set up once, user errors as one line."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from pipeline.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, not the whole usage."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


# argparse types, one style for every command: a bad value is one line naming
# what was expected and what was given.


def _number(text: str, kind: type, expected: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def integer(text: str) -> int:
    """A whole number."""
    return _number(text, int, "a whole number")


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    value = _number(text, int, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """A number > 0."""
    value = _number(text, float, "a number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def seconds(text: str) -> float:
    """A duration in seconds, 0 or more (0: off, where an option says so)."""
    value = _number(text, float, "seconds")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more seconds, got {text}")
    return value


def days(text: str) -> float:
    """A number of days, 0 or more (0: for ever, where an option says so)."""
    value = _number(text, float, "days")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more days, got {text}")
    return value


def fraction(text: str) -> float:
    """A number between 0 and 1."""
    value = _number(text, float, "a fraction like 0.01")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def port(text: str) -> int:
    """A TCP port, 1-65535."""
    value = _number(text, int, "a port number")
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port between 1 and 65535, got {value}")
    return value


def port_or_off(text: str) -> int | None:
    """A TCP port, or empty / 0: off."""
    if text.strip() in ("", "0"):
        return None
    return port(text)


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
