"""The project-managed PostgreSQL: a private cluster for the local default.

``make up`` initialises (once) and starts a cluster with the PostgreSQL
binaries on the machine. Its data lives in the git-ignored ``.warehouse/``
folder; it listens on 127.0.0.1 and a private Unix socket only, on a
non-default port, with scram-sha-256 passwords generated into ``.env``.

``initdb`` and ``pg_ctl`` refuse to run as root, so as root every server
command runs as the ``postgres`` system user (override: ECOM_LOCAL_PG_OSUSER)
and the cluster's folder belongs to that user.

When the user has pointed the project at a server of their own (PGHOST in the
environment, or in a .env file not written by us), nothing is started.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path

from ecom import pgcluster
from ecom.pgcluster import Cluster, LocalDbError, cluster_link
from pipeline import config, envfile, settings

log = logging.getLogger(__name__)

MANAGED_FLAG = config.env_name("local_pg")
# Read apart from settings.current(): where it is set (environment or .env) changes its meaning.
PORT_SETTING = config.env_name("local_pgport")


def is_managed() -> bool:
    """True when the project should run its own PostgreSQL."""
    # Where PGHOST comes from decides: a server the user set in the environment is theirs
    # unless the same environment carries our flag; likewise for the .env file.
    if "PGHOST" in os.environ:
        return os.environ.get(MANAGED_FLAG) == "1"
    file_values = settings.read_env_file()
    if "PGHOST" in file_values:
        return file_values.get(MANAGED_FLAG) == "1"
    return True


def _port_setting(text: str, where: str) -> int:
    try:
        return config.parse_port(text)
    except ValueError:
        raise LocalDbError(
            f"{PORT_SETTING} {where} must be a port number or 'auto', got {text!r}"
        ) from None


def preferred_port() -> tuple[int | None, bool]:
    """The port to start on, and whether the user pinned it.

    ECOM_LOCAL_PGPORT in the process environment pins a port (taken means an
    error); 'auto' there means any free port. Otherwise the port recorded in
    .env by an earlier start is preferred, then LOCAL_PGPORT_DEFAULT; either
    gives way to a free port when another program holds it. None: any free port.
    """
    pinned = os.environ.get(PORT_SETTING, "").strip()
    if pinned and pinned != "auto":
        return _port_setting(pinned, "in the environment"), True
    recorded = settings.read_env_file()
    for key in (PORT_SETTING, "PGPORT"):
        value = recorded.get(key, "").strip()
        if value and value != "auto":
            return _port_setting(value, f"in {settings.env_file()}"), False
    if pinned == "auto":
        return None, False
    return settings.LOCAL_PGPORT_DEFAULT, False


def cluster(port: int | None = None) -> Cluster:
    os_user = pgcluster.server_os_user()
    bindir = pgcluster.find_bindir()
    if port is None:
        port = preferred_port()[0] or settings.LOCAL_PGPORT_DEFAULT
    return Cluster(bindir=bindir, base=pgcluster.cluster_base(os_user), os_user=os_user, port=port)


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _running_port(c: Cluster) -> int:
    """The port a running cluster listens on (line 4 of postmaster.pid)."""
    try:
        return int((c.data / "postmaster.pid").read_text().splitlines()[3])
    except (OSError, ValueError, IndexError):
        return c.port


def _ensure_env() -> None:
    values = {
        MANAGED_FLAG: "1",
        "PGHOST": "127.0.0.1",
        "PGDATABASE": settings.LOCAL_DATABASE_DEFAULT,
        "PGUSER": settings.LOCAL_ADMIN_DEFAULT,
        "PGPASSWORD": envfile.generate_password(),
    }
    values.update(envfile.role_password_defaults())
    written = envfile.ensure_values(values)
    if written:
        log.info("wrote %s to %s (mode 600)", ", ".join(written), settings.env_file())


def _initdb(c: Cluster) -> None:
    log.info("initialising a new PostgreSQL cluster in %s", c.data)
    c.data.mkdir(mode=0o700, exist_ok=True)
    c.run_dir.mkdir(exist_ok=True)
    if c.os_user:
        for path in (c.base, c.data, c.run_dir):
            shutil.chown(path, user=c.os_user)
    admin = settings.connection(None)
    with tempfile.NamedTemporaryFile("w", dir=c.base, delete=False) as handle:
        handle.write(admin.password or "")
        pwfile = Path(handle.name)
    try:
        if c.os_user:
            shutil.chown(pwfile, user=c.os_user)
        c.run(
            "initdb",
            "-D",
            str(c.data),
            "-U",
            admin.user,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
        )
    finally:
        pwfile.unlink(missing_ok=True)
    socket_dir = str(c.run_dir) if len(str(c.run_dir)) < 90 else ""
    (c.data / "ecom_warehouse.conf").write_text(
        "# Written by ecom/localdb.py for the project-managed cluster.\n"
        "listen_addresses = '127.0.0.1'\n"
        f"unix_socket_directories = '{socket_dir}'\n"
        "unix_socket_permissions = 0700\n"
        "password_encryption = 'scram-sha-256'\n"
        "shared_buffers = '256MB'\n"
        "max_wal_size = '2GB'\n"
        "logging_collector = off\n"
    )
    with (c.data / "postgresql.conf").open("a") as conf:
        conf.write("\ninclude_if_exists = 'ecom_warehouse.conf'\n")
    (c.data / "pg_hba.conf").write_text(
        "# Project-managed cluster: loopback and the private socket only, passwords always.\n"
        "local   all   all                  scram-sha-256\n"
        "host    all   all   127.0.0.1/32   scram-sha-256\n"
    )
    if c.os_user:
        for name in ("ecom_warehouse.conf", "pg_hba.conf"):
            shutil.chown(c.data / name, user=c.os_user)


def _status(c: Cluster) -> bool:
    """Is our server running? Clears a stale postmaster.pid left by a crash."""
    pidfile = c.data / "postmaster.pid"
    if not pidfile.exists():
        return False
    result = c.run("pg_ctl", "status", "-D", str(c.data), check=False)
    if result.returncode == 0:
        try:
            pid = int(pidfile.read_text().splitlines()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return True
        if b"postgres" in cmdline:
            return True
        log.warning("stale postmaster.pid (pid %s is another program now); removing it", pid)
    else:
        log.warning("stale postmaster.pid after a crash; removing it")
    pidfile.unlink(missing_ok=True)
    return False


def up() -> None:
    """Initialise (once) and start the cluster, create the database, apply the DDL."""
    from pipeline import db

    if not is_managed():
        target = settings.connection(None)
        log.info(
            "using your PostgreSQL server at %s (PGHOST is set); nothing to start",
            target.describe(),
        )
        db.apply_schema()
        return
    port, pinned = preferred_port()
    _ensure_env()
    c = cluster(port)
    if not (c.data / "PG_VERSION").exists():
        _initdb(c)
    if _status(c):
        port = _running_port(c)
        log.info("PostgreSQL is already running on 127.0.0.1:%s", port)
    else:
        if port is None or _port_in_use(port):
            if pinned:
                raise LocalDbError(
                    f"port {port} on 127.0.0.1 is taken by another program: unset "
                    "ECOM_LOCAL_PGPORT (any free port is then used) or set it to a free port"
                )
            taken = port
            port = free_port()
            if taken is not None:
                log.info("port %s on 127.0.0.1 is taken by another program; using %s", taken, port)
        log.info("starting PostgreSQL on 127.0.0.1:%s (log: %s)", port, c.logfile)
        if c.os_user and not c.logfile.exists():
            c.logfile.touch()
            shutil.chown(c.logfile, user=c.os_user)
        c.run(
            "pg_ctl",
            "start",
            "-D",
            str(c.data),
            "-l",
            str(c.logfile),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {port}",
        )
    written = envfile.set_values({"PGPORT": str(port), "ECOM_LOCAL_PGPORT": str(port)})
    if written:
        log.info("recorded port %s in %s", port, settings.env_file())
    db.ensure_database(settings.connection(None).dbname, retries=10)
    db.apply_schema()
    admin = settings.connection(None)
    log.info("ready: %s (credentials in %s)", admin.describe(), settings.env_file())


def down() -> None:
    if not is_managed():
        log.info("PGHOST points at your own server; the project does not stop it")
        return
    if not (cluster_link() / "data" / "PG_VERSION").exists():
        log.info("no project-managed PostgreSQL here; nothing to stop")
        return
    c = cluster()
    if not _status(c):
        log.info("PostgreSQL is not running")
        return
    c.run("pg_ctl", "stop", "-D", str(c.data), "-m", "fast", "-w", "-t", "60")
    log.info("PostgreSQL stopped")


def status() -> bool:
    """Print whether the server answers; returns True when it does."""
    from pipeline import db

    if is_managed() and not (cluster_link() / "data" / "PG_VERSION").exists():
        log.info("no project-managed PostgreSQL yet: run 'make up'")
        return False
    try:
        with db.connection(None) as conn, conn.cursor() as cur:
            cur.execute("select version()")
            version = cur.fetchone()[0].split(",")[0]
    except (db.DatabaseUnavailable, settings.SettingsError) as exc:
        log.info("%s", exc)
        return False
    kind = "project-managed" if is_managed() else "your server"
    log.info("up (%s): %s at %s", kind, version, settings.connection(None).describe())
    return True


def destroy() -> None:
    """Stop the cluster and delete its data (make clean-db)."""
    down()
    link = cluster_link()
    if link.is_symlink():
        target = link.resolve()
        shutil.rmtree(target, ignore_errors=True)
        link.unlink()
    elif link.exists():
        shutil.rmtree(link)
    log.info("project-managed PostgreSQL data removed")
