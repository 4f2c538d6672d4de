"""The three floors hold: import-linter's layers contract (pyproject.toml) passes on
the tree, and fails on a tree with one upward import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ecom", "generator", "ingestion", "expectations", "dashboard", "pipeline")
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT), "--config", str(REPO_ROOT / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            REPO_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("gx", "assets")
        )
    return tmp_path


def test_the_tree_keeps_its_layers():
    result = _lint(REPO_ROOT)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_from_the_ground_is_refused(tmp_path):
    tree = _copy(tmp_path)
    settings = tree / "pipeline" / "settings.py"
    settings.write_text(settings.read_text() + "\nfrom ecom import localdb  # noqa\n")
    result = _lint(tree)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "pipeline.settings -> ecom.localdb" in result.stdout


def test_a_stage_importing_another_stage_is_refused(tmp_path):
    tree = _copy(tmp_path)
    status = tree / "ingestion" / "status.py"
    status.write_text(status.read_text() + "\nfrom generator import files  # noqa\n")
    result = _lint(tree)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "ingestion.status -> generator.files" in result.stdout
