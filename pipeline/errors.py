"""The one error base class of the project."""

from __future__ import annotations


class UserError(RuntimeError):
    """Something the user can fix. Every command prints it as one line naming the
    cause and the fix, and exits with code 2."""
