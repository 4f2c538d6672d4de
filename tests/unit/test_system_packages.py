"""scripts/system-packages.sh: what `make demo` / `make test` install, or the one line
they print where they cannot install it themselves."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "system-packages.sh"


def _bin(tmp_path: Path, tools: list[str], fakes: dict[str, str] | None = None) -> str:
    """A PATH holding only ``tools`` (links to the real ones) and ``fakes`` (scripts)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in tools:
        (folder / tool).symlink_to(shutil.which(tool))
    for name, body in (fakes or {}).items():
        (folder / name).write_text(f"#!/bin/sh\n{body}\n")
        (folder / name).chmod(0o755)
    return str(folder)


def _run(path: str, purpose: str = "test", **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("PGHOST", "JAVA_HOME")}
    return subprocess.run(
        [shutil.which("bash"), str(SCRIPT), purpose],
        env={**clean, "PATH": path, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_nothing_missing_is_silent():
    result = _run(os.environ["PATH"])
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_without_apt_get_one_line_names_what_to_install(tmp_path):
    result = _run(_bin(tmp_path, ["sed", "head", "id"]))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "psql" in lines[0] and "Java 17+" in lines[0] and "brew install" in lines[0]


def test_not_root_and_no_sudo_says_the_command_to_run(tmp_path):
    path = _bin(tmp_path, ["sed", "head"], {"id": "echo 1000", "apt-get": "exit 99"})
    result = _run(path)
    assert result.returncode == 2
    assert (
        "as root, run: apt-get install" in result.stderr
        and "openjdk-17-jre-headless" in result.stderr
    )


def test_not_root_goes_through_sudo_after_saying_what(tmp_path):
    calls = tmp_path / "sudo.log"
    path = _bin(
        tmp_path,
        ["sed", "head"],
        {"id": "echo 1000", "apt-get": "exit 0", "sudo": f'echo "$@" >> {calls}'},
    )
    result = _run(path)
    assert result.returncode == 0, result.stderr
    assert "installing system packages for 'make test'" in result.stdout
    assert "through sudo" in result.stdout
    logged = calls.read_text().splitlines()
    assert logged[0] == "apt-get update -qq"
    assert logged[1].startswith("apt-get install -y") and "postgresql-client" in logged[1]


def test_skip_switch(tmp_path):
    assert _run(_bin(tmp_path, ["sed"]), ECOM_SKIP_SYSTEM_PACKAGES="1").returncode == 0
