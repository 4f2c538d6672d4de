"""Where and how the project-managed PostgreSQL runs: the server binaries on this
machine, the cluster's folder (``<state dir>/postgres``, or where it links to),
and, as root, the unprivileged system user that runs it."""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipeline import settings
from pipeline.errors import UserError

log = logging.getLogger("ecom.localdb")

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found. Install them "
    "(Debian/Ubuntu: 'apt-get install postgresql'; Fedora: 'dnf install postgresql-server'; "
    "macOS: 'brew install postgresql@15'), put their folder on PATH or in ECOM_PG_BINDIR, "
    "or point PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE at an existing server"
)


class LocalDbError(UserError):
    """Something the user can fix; the message says what."""


def cluster_link() -> Path:
    """Where the cluster's folder is (or links to): <state dir>/postgres."""
    return settings.state_dir() / "postgres"


def find_bindir() -> Path:
    candidates: list[str] = []
    bindir = settings.current().pg_bindir
    if bindir:
        candidates.append(str(bindir))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(os.path.realpath(on_path)).parent))
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
            candidates.append(out)
        except (OSError, subprocess.CalledProcessError):
            pass

    def version_key(path: str) -> float:
        try:
            return float(Path(path).parent.name)
        except ValueError:
            return 0.0

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version_key, reverse=True)
    candidates += sorted(glob.glob("/usr/pgsql-*/bin"), reverse=True)
    for candidate in candidates:
        path = Path(candidate)
        if all((path / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return path
    raise LocalDbError(INSTALL_HINT)


@dataclass(frozen=True)
class Cluster:
    bindir: Path
    base: Path  # holds data/, run/ and postgresql.log
    os_user: str | None  # run server commands as this user (when we are root)
    port: int

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def run_dir(self) -> Path:
        return self.base / "run"

    @property
    def logfile(self) -> Path:
        return self.base / "postgresql.log"

    def command(self, tool: str, *args: str) -> list[str]:
        cmd = [str(self.bindir / tool), *args]
        if self.os_user:
            cmd = ["runuser", "-u", self.os_user, "--", *cmd]
        return cmd

    def run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(self.command(tool, *args), capture_output=True, text=True)
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            tail = detail[-1] if detail else f"exit {result.returncode}"
            raise LocalDbError(f"{tool} failed: {tail} (server log: {self.logfile})")
        return result


def _can_reach(os_user: str, path: Path) -> bool:
    """Can ``os_user`` traverse to and write into ``path``'s parent?"""
    result = subprocess.run(
        ["runuser", "-u", os_user, "--", "test", "-x", str(path.parent), "-a", "-w", str(path)],
        capture_output=True,
    )
    return result.returncode == 0


def server_os_user() -> str | None:
    if os.geteuid() != 0:
        return None
    name = settings.current().local_pg_osuser
    try:
        pwd.getpwnam(name)
    except KeyError as exc:
        raise LocalDbError(
            f"running as root, but there is no '{name}' system user to run PostgreSQL as "
            "(initdb and pg_ctl refuse root): install the postgresql package, which creates it, "
            "set ECOM_LOCAL_PG_OSUSER to another unprivileged user, or run as a normal user"
        ) from exc
    return name


def cluster_base(os_user: str | None) -> Path:
    """The folder of the cluster: .warehouse/postgres, or where it links to."""
    link = cluster_link()
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        return link.resolve()
    if os_user is None:
        link.mkdir()
        return link
    # As root: the server user must reach the folder. A clone under /root is
    # not reachable by other users, so the cluster then lives in /var/lib and
    # .warehouse/postgres links to it.
    link.mkdir()
    shutil.chown(link, user=os_user)
    if _can_reach(os_user, link):
        return link
    link.rmdir()
    digest = hashlib.sha1(str(link.resolve()).encode()).hexdigest()[:12]
    elsewhere = Path("/var/lib/ecom-warehouse") / digest
    elsewhere.mkdir(parents=True, exist_ok=True)
    os.chmod(elsewhere.parent, 0o755)
    shutil.chown(elsewhere, user=os_user)
    link.symlink_to(elsewhere)
    log.info(
        "user %s cannot reach %s; the cluster lives in %s (linked from %s)",
        os_user,
        link.parent,
        elsewhere,
        link,
    )
    return elsewhere
