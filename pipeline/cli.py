"""Shared command-line plumbing: logging set up once, user errors as one line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from pipeline.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, not the whole usage."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


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
