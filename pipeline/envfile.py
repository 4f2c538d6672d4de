"""Writing the git-ignored ``.env`` file: generated role passwords, owner-only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pipeline import settings


def generate_password() -> str:
    # Hex only: safe in a dotenv file, a shell, a URL and a libpq conninfo string.
    return secrets.token_hex(16)


def ensure_values(values: dict[str, str], path: Path | None = None) -> list[str]:
    """Add the keys of ``values`` that ``path`` lacks; returns the keys written.

    Existing keys are never changed. The file is created with mode 0600 and
    kept that way.
    """
    path = path or settings.env_file()
    existing = settings.read_env_file(path)
    missing = {k: v for k, v in values.items() if k not in existing}
    if not missing and path.exists():
        os.chmod(path, 0o600)
        return []
    header = ""
    if not path.exists():
        header = (
            "# Written by `make up` (ecom up). Git-ignored; keep it private.\n"
            "# Values in the process environment take precedence over this file.\n"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(header)
        for key, value in missing.items():
            handle.write(f"{key}={value}\n")
    os.chmod(path, 0o600)
    return list(missing)


def set_values(values: dict[str, str], path: Path | None = None) -> list[str]:
    """Set the keys of ``values`` in ``path``, replacing their old lines; returns
    the keys that changed. Other lines (and comments) stay as they are."""
    path = path or settings.env_file()
    existing = settings.read_env_file(path)
    changed = [k for k, v in values.items() if existing.get(k) != v]
    if not changed:
        return []
    ensure_values({k: values[k] for k in changed if k not in existing}, path)
    replace = {k: values[k] for k in changed if k in existing}
    if replace:
        lines = []
        for line in path.read_text(encoding="utf-8").splitlines():
            key = line.strip().removeprefix("export ").partition("=")[0].strip()
            lines.append(f"{key}={replace[key]}" if key in replace else line)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
    return changed


def role_password_defaults() -> dict[str, str]:
    return {settings.password_variable(role): generate_password() for role in settings.ROLES}
