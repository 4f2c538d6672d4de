"""One command-line style for every command, on click: option types, options bound
to settings, errors in one line, logging set up once.

Every command (``ecom`` and its subcommands, ``python -m ingestion``, ``python -m
generator``, ``python -m expectations``, ``python -m dashboard``) is a click
command of the classes below, started by :func:`run`:

- a bad option value is refused before anything starts, in one line naming the
  option, what it expects and what it got, exit 2:
  ``ecom stream: error: argument --trigger: expected 0 or more seconds, got -1 (see --help)``;
- an option bound to a setting (:func:`setting_option`) takes its default from
  the environment, then ``.env`` (``pipeline.settings.current()``, read once per
  command), and ``--help`` shows both: ``[env var: ECOM_TRIGGER_SECONDS; default: 0.25]``;
- a :class:`~pipeline.errors.UserError` raised while the command runs is one
  line, exit 2; Ctrl-C is exit 130.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from pipeline import config, settings
from pipeline.errors import UserError

CONTEXT_SETTINGS = {
    "help_option_names": ["-h", "--help"],
    "show_default": True,
    "max_content_width": 100,
}

# The command being parsed or run, innermost last: the name a one-line error starts with.
_prog = ["?"]
_DEFAULTED = "pipeline.cli.defaulted"


def verbatim(text: str) -> str:
    """Help text printed as written (click rewraps paragraphs not marked with \\b)."""
    return "\n\n".join("\b\n" + part for part in text.strip("\n").split("\n\n"))


class _Styled:
    """Shared by Command and Group: the default context settings, the command's
    name for errors, and ``{prog}`` in its help replaced by how it was called."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["context_settings"] = {**CONTEXT_SETTINGS, **kwargs.get("context_settings", {})}
        super().__init__(*args, **kwargs)

    def make_context(self, info_name, args, parent=None, **extra):
        if parent is None:
            _prog[0] = info_name
        elif parent.meta.get(_DEFAULTED):  # errors name the command as it was typed
            _prog[0] = parent.command_path
        else:
            _prog[0] = f"{parent.command_path} {info_name}"
        return super().make_context(info_name, args, parent=parent, **extra)

    def get_help(self, ctx: click.Context) -> str:
        return super().get_help(ctx).replace("{prog}", ctx.command_path)


class Command(_Styled, click.Command):
    """A command in the project's style."""


class Group(_Styled, click.Group):
    """A group of commands in the project's style; its subcommands are too."""

    command_class = Command
    group_class = type  # a subgroup is of the same class


class DefaultGroup(Group):
    """A group whose first argument, when it names none of its commands, goes to
    ``default``: ``python -m ingestion --once`` is ``python -m ingestion run --once``."""

    def __init__(self, *args: Any, default: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default = default

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = [self.default, *args]
            ctx.meta[_DEFAULTED] = True
        return super().parse_args(ctx, args)


# ----------------------------------------------------------------------------- types


class Parsed(click.ParamType):
    """A value read by one of pipeline.config's parsers, which also read the same
    values from the environment: a bad one is one line, the same from either."""

    def __init__(self, parse: Callable[[str], Any], metavar: str, doc: str) -> None:
        self.parse = parse
        self.metavar = metavar
        self.name = parse.__name__.removeprefix("parse_")
        self.__doc__ = doc

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return self.metavar

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if not isinstance(value, str):
            return value  # a default, already parsed
        try:
            return self.parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _utc_time(text: str) -> datetime:
    """An ISO-8601 time; without an offset it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"expected an ISO-8601 time like 2026-11-01T00:00:00Z, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


integer = Parsed(config.parse_integer, "N", "A whole number.")
positive_int = Parsed(config.parse_positive_int, "N", "A whole number >= 1.")
positive_float = Parsed(config.parse_positive_float, "X", "A number > 0.")
seconds = Parsed(config.parse_seconds, "SECONDS", "A duration in seconds, 0 or more.")
days = Parsed(config.parse_days, "DAYS", "A number of days, 0 or more.")
fraction = Parsed(config.parse_fraction, "F", "A number between 0 and 1.")
port = Parsed(config.parse_port, "PORT", "A TCP port, 1-65535.")
port_or_off = Parsed(config.parse_port_or_off, "PORT", "A TCP port, or empty / 0: off.")
zone = Parsed(config.parse_zone, "ZONE", "An IANA time zone name, or empty: none.")
utc_time = Parsed(_utc_time, "ISO", "An ISO-8601 time; without an offset it is UTC.")
path = click.Path(path_type=Path)


# ------------------------------------------------------------------ options bound to settings


def current_settings(ctx: click.Context) -> config.Settings:
    """The settings, read once per command line (shared by the whole context tree)."""
    if "pipeline.settings" not in ctx.meta:
        ctx.meta["pipeline.settings"] = settings.current()
    return ctx.meta["pipeline.settings"]


class SettingOption(click.Option):
    """An option whose default is a setting of pipeline.config: its value from the
    environment or .env, else ``fallback`` (a value, or a function of none), else
    the declared default."""

    def __init__(
        self, param_decls: Sequence[str], *, setting: str, fallback: Any = None, **attrs: Any
    ) -> None:
        super().__init__(param_decls, **attrs)
        self.setting = setting
        self.fallback = fallback

    def get_default(self, ctx: click.Context, call: bool = True) -> Any:
        value = getattr(current_settings(ctx), self.setting)
        if value is None or value == "":
            value = self.fallback() if callable(self.fallback) else self.fallback
        return value

    def get_help_extra(self, ctx: click.Context):
        extra = super().get_help_extra(ctx)
        value = self.get_default(ctx)
        if value is None or value == "":
            extra["default"] = config.describe_unset(self.setting)
        elif isinstance(value, bool):
            extra["default"] = "on" if value else "off"
        else:
            extra["default"] = str(value)
        extra["envvars"] = (config.env_name(self.setting),)
        return extra


def setting_option(*flags: str, setting: str, help: str, default: Any = None, **attrs: Any):
    """``click.option`` bound to setting ``setting``; ``default`` (a value or a function)
    stands in when the setting is unset and declares no default of its own."""
    return click.option(
        *flags, cls=SettingOption, setting=setting, fallback=default, help=help, **attrs
    )


def options(*decorators):
    """Several options as one decorator, applied in the order given (the order --help
    lists them): options shared by commands are declared once."""

    def apply(function):
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


def verbose_option(help: str = "debug logging"):
    return click.option("-v", "--verbose", is_flag=True, help=help)


# ----------------------------------------------------------------------------- running


def _one_line(exc: click.UsageError) -> str:
    prog = _prog[0]
    message = exc.format_message()
    if isinstance(exc, click.BadParameter) and exc.param is not None:
        names = exc.param.opts if isinstance(exc.param, click.Option) else [exc.param.name]
        message = f"argument {max(names, key=len)}: {exc.message}"
    message = message.rstrip(".").replace(" Did you mean", "; did you mean")
    return f"{prog}: error: {message} (see --help)"


def run(command: click.Command, prog: str, args: Sequence[str] | None = None) -> NoReturn:
    """Run ``command`` as ``prog``; errors a user can cause end in one line, exit 2."""
    _prog[0] = prog
    try:
        code = command.main(args=args, prog_name=prog, standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else exc.format_message())
        sys.exit(2)
    except click.UsageError as exc:
        print(_one_line(exc), file=sys.stderr)
        sys.exit(2)
    except (click.ClickException, UserError) as exc:
        text = exc.format_message() if isinstance(exc, click.ClickException) else exc
        print(f"{_prog[0]}: error: {text}", file=sys.stderr)
        sys.exit(2)
    except (click.Abort, KeyboardInterrupt):
        print(f"{_prog[0]}: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


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
