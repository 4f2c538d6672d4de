"""The one error base class of the project."""

from __future__ import annotations


class UserError(RuntimeError):
    """Something the user can fix. Every command prints it as one line naming the
    cause and the fix, and exits with code 2."""


def first_line(error: BaseException | str | None, default: str = "") -> str:
    """The first non-empty line of an error's message (or of a text); ``default``, or
    the exception's type name, when it has none. Messages of psycopg2, dbt and Py4J
    often span lines, or are empty."""
    text = error if isinstance(error, str) or error is None else str(error)
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    if default or isinstance(error, str) or error is None:
        return default
    return type(error).__name__
