"""Settings, read from the environment in exactly one place.

The server is addressed with libpq's own variables (PGHOST, PGPORT,
PGDATABASE, and PGUSER/PGPASSWORD for the administrator who applies the DDL),
so psql, psycopg2, dbt's profiles.yml and the GX connection string agree
without translation. Each component connects as its own least-privilege role
(ecom_loader, ecom_transformer, ecom_analyst, ecom_auditor; see
sql/roles.sql) with the password in ECOM_<ROLE>_PASSWORD.

Values are taken from the process environment first, then from the
git-ignored ``.env`` file at the repository root (written by ``make up`` for
the project-managed PostgreSQL, or copied by hand from ``.env.example``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from pipeline import config
from pipeline.config import SettingsError

__all__ = ["SettingsError", "current"]  # SettingsError: raised here, declared in config

REPO_ROOT = Path(__file__).resolve().parent.parent
# An installed (non-editable) package carries sql/ and dbt_project/ here.
BUNDLED_PROJECT = Path(__file__).resolve().parent / "_project"


def is_checkout() -> bool:
    """Running from a source checkout (or an editable install of one)?"""
    return (REPO_ROOT / "dbt_project" / "dbt_project.yml").is_file()


def project_dir() -> Path:
    """Where sql/ and dbt_project/ are: ECOM_PROJECT_DIR, the checkout, or the package's copy."""
    explicit = current().project_dir
    if explicit:
        return explicit
    return REPO_ROOT if is_checkout() else BUNDLED_PROJECT


def uses_checkout() -> bool:
    """Do the commands read the checkout's own files (and may write run output beside them)?"""
    return project_dir() == REPO_ROOT


def home_dir() -> Path:
    """Where .env and .warehouse/ go: the checkout's root, or (installed) the current folder."""
    return REPO_ROOT if is_checkout() else Path.cwd()


def dbt_project_dir() -> Path:
    return project_dir() / "dbt_project"


def dbt_environment() -> dict[str, str]:
    """The variables that point dbt at the project and its profile from any folder.

    Outside a checkout the project is read-only package data, so dbt writes its
    target/ and logs/ under the state folder.
    """
    project = str(dbt_project_dir())
    env = {"DBT_PROJECT_DIR": project, "DBT_PROFILES_DIR": project}
    if not uses_checkout():
        env["DBT_TARGET_PATH"] = str(state_dir() / "dbt" / "target")
        env["DBT_LOG_PATH"] = str(state_dir() / "dbt" / "logs")
    return env


def env_file() -> Path:
    """The dotenv file: ECOM_ENV_FILE (process environment only), or .env in the home folder."""
    return Path(os.environ.get(config.env_name("env_file")) or home_dir() / ".env")


def state_dir() -> Path:
    """Local state (the managed cluster, inputs, checkpoints): ECOM_STATE_DIR or .warehouse/."""
    return current().state_dir or home_dir() / ".warehouse"


ROLES = ("loader", "transformer", "analyst", "auditor")
ROLE_DEFAULT_NAMES = {role: f"ecom_{role}" for role in ROLES}

# The project-managed PostgreSQL listens here unless ECOM_LOCAL_PGPORT says otherwise.
LOCAL_PGPORT_DEFAULT = 55432
LOCAL_DATABASE_DEFAULT = config.default("pgdatabase")
LOCAL_ADMIN_DEFAULT = config.default("pguser")


def input_dir() -> Path:
    """The inputs folder the generator writes into and the stream watches (ECOM_INPUT_DIR)."""
    return current().input_dir or state_dir() / "inputs"


def manifest_path() -> Path:
    """The generator's append-only manifest log, outside the inputs folder (ECOM_MANIFEST)."""
    return current().manifest or state_dir() / "manifest.jsonl"


def checkpoint_dir() -> Path:
    """Spark's streaming checkpoint (ECOM_CHECKPOINT_DIR)."""
    return current().checkpoint_dir or state_dir() / "checkpoints" / "ecommerce_events"


def archive_dir() -> Path:
    """Where processed input files are moved, outside the inputs folder (ECOM_ARCHIVE_DIR)."""
    return current().archive_dir or state_dir() / "archive"


def quarantine_dir() -> Path:
    """Where input files that cannot be read as CSV text are moved (ECOM_QUARANTINE_DIR)."""
    return current().quarantine_dir or state_dir() / "quarantine"


def read_env_file(path: Path | None = None) -> dict[str, str]:
    """The dotenv file's values (python-dotenv: comments, quotes, ``export``), as the
    shell and Compose read them; a line without a value is left out."""
    path = path or env_file()
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path, interpolate=False).items() if v is not None}


def environment() -> dict[str, str]:
    """The effective settings: the .env file overlaid by the process environment."""
    merged = read_env_file()
    merged.update(os.environ)
    return merged


def current() -> config.Settings:
    """Every setting, validated: the process environment over the .env file.

    An invalid value raises SettingsError naming the variable and where it came from.
    """
    return config.load(environment(), _source)


def _source(variable: str) -> str:
    return "in the environment" if variable in os.environ else f"in {env_file()}"


@dataclass(frozen=True)
class ConnectionSettings:
    host: str
    port: int
    dbname: str
    user: str
    password: str | None

    def dsn_kwargs(self) -> dict[str, object]:
        kwargs: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.user,
            "connect_timeout": 5,
            "application_name": "ecommerce-stream-warehouse",
        }
        if self.password:
            kwargs["password"] = self.password
        return kwargs

    def describe(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"


def connection(role: str | None = None) -> ConnectionSettings:
    """Connection settings for ``role`` (one of ROLES) or, with None, the administrator."""
    values = current()
    if values.pghost is None:
        raise SettingsError(
            "no PostgreSQL configured: run 'make up' to start the project-managed one, "
            "or set PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE (see .env.example)"
        )
    host, port, dbname = values.pghost, values.pgport, values.pgdatabase
    if role is None:
        return ConnectionSettings(host, port, dbname, values.pguser, values.pgpassword)
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    password = getattr(values, f"{role}_password")
    return ConnectionSettings(host, port, dbname, ROLE_DEFAULT_NAMES[role], password)


def password_variable(role: str) -> str:
    """The environment variable holding ``role``'s password."""
    return config.env_name(f"{role}_password")
