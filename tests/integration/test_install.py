"""The product as a package: ``pip install .`` (not editable) into a fresh venv works
from any folder, and plain ``dbt`` works from the repository root after activation.

The wheel is installed without its dependencies into a new venv that borrows
them from the test environment (a .pth line), so nothing of the checkout is on
its path: the commands find sql/, the dbt project and the GX context inside the
installed package, and write their output under the current folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from expectations import checkpoints, suites
from pipeline import settings

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
DATABASE = "installed_package"


@pytest.fixture(scope="module")
def installed(fresh_database, tmp_path_factory):
    """A venv holding the wheel, and a folder outside the checkout to run it in."""
    base = tmp_path_factory.mktemp("install")
    wheels = base / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), "."],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    pure = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(pure, "borrowed_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-2000:]

    fresh_database(DATABASE)
    admin = settings.connection(None)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECOM_", "DBT_"))}
    env.update(
        PATH=f"{venv / 'bin'}:{env['PATH']}",
        PGHOST=admin.host,
        PGPORT=str(admin.port),
        PGUSER=admin.user,
        PGPASSWORD=admin.password or "",
        PGDATABASE=DATABASE,
        PYSPARK_PYTHON=str(python),
        **{
            f"ECOM_{r.upper()}_PASSWORD": settings.connection(r).password or ""
            for r in settings.ROLES
        },
    )
    work = base / "work"
    work.mkdir()

    def run(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(venv / "bin" / args[0]), *args[1:]],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    run.work = work  # type: ignore[attr-defined]
    run.site = Path(pure)  # type: ignore[attr-defined]
    return run


def test_the_installed_package_does_not_run_the_checkout(installed):
    where = installed("python", "-c", "import pipeline.settings as s; print(s.project_dir())")
    assert where.returncode == 0, where.stderr
    project = Path(where.stdout.strip())
    assert project.is_relative_to(installed.site), project
    assert (project / "sql" / "migrations" / "0001.baseline.sql").is_file()
    assert (project / "dbt_project" / "dbt_project.yml").is_file()
    assert not (project / "dbt_project" / "target").exists()


def test_every_command_has_help(installed):
    from ecom.cli import COMMANDS

    for name in COMMANDS:
        result = installed("ecom", name, "--help", timeout=120)
        assert result.returncode == 0, (name, result.stderr)
        assert "Usage:" in result.stdout and f"ecom {name}" in result.stdout, name
    gx = installed("great_expectations", "--help", timeout=60)
    assert gx.returncode == 0 and "no" in gx.stdout and "checkpoint run" in gx.stdout


def test_the_installed_demo_runs_end_to_end(installed):
    assert installed("ecom", "db").returncode == 0
    result = installed("ecom", "demo", "--events", "3000")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "all green" in result.stdout
    # outside a checkout there is no Makefile: the report names ecom commands, and real paths
    assert "ecom dashboard" in result.stdout and "make " not in result.stdout
    assert str(installed.work / ".warehouse" / "gx" / "uncommitted") in result.stdout
    # output went under the working folder, never into the installed package
    assert (installed.work / ".warehouse" / "dbt" / "target" / "manifest.json").is_file()
    assert not list(installed.site.glob("pipeline/_project/dbt_project/target"))
    assert not list(installed.site.glob("expectations/gx/uncommitted"))
    listed = installed("great_expectations", "checkpoint", "list", timeout=120)
    assert listed.returncode == 0 and "raw_layer" in listed.stdout, listed.stderr
    checked = installed("great_expectations", "checkpoint", "run", "raw_layer", timeout=300)
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
    (raw_layer,) = [spec for spec in checkpoints.CHECKPOINTS if spec.name == "raw_layer"]
    defined = sum(len(suites.SUITES[table]()) for table in raw_layer.tables)
    assert f"raw_layer: {defined}/{defined} expectations passed" in checked.stdout


def test_plain_dbt_from_the_repository_root_after_activation(warehouse):
    activate = REPO_ROOT / ".venv" / "bin" / "activate"
    if Path(sys.prefix).resolve() != (REPO_ROOT / ".venv").resolve():
        pytest.skip("runs in the project's own .venv (make test)")
    assert "ecommerce-stream-warehouse" in activate.read_text(), "make setup adds the dbt block"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DBT_"))}
    env["DBT_USE_COLORS"] = "false"
    result = subprocess.run(
        ["bash", "-c", f". {activate} && dbt debug && dbt ls --resource-type model --output name"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Connection test: [OK connection ok]" in result.stdout
    assert "user: ecom_transformer" in result.stdout
    assert "fct_funnel_daily" in result.stdout
