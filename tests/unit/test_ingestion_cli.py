"""python -m ingestion's command line: settings from the environment fail in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("variable", "option"),
    [
        ("ECOM_TRIGGER_SECONDS", "--trigger"),
        ("ECOM_SETTLE_SECONDS", "--settle-seconds"),
        ("ECOM_PART_MB", "--part-mb"),
        ("ECOM_MAX_FILES_PER_TRIGGER", "--max-files-per-trigger"),
        ("ECOM_MAX_MB_PER_TRIGGER", "--max-mb-per-trigger"),
    ],
)
def test_a_bad_number_in_the_environment_is_one_line(variable, option):
    env = dict(os.environ, **{variable: "lots"})
    result = subprocess.run(
        [sys.executable, "-m", "ingestion", "status"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    # the variable it came from (pipeline.config validates before the options are parsed)
    assert f"{variable}='lots' (in the environment)" in lines[0], lines[0]
    # and --help names the variable in the option's own entry
    help_text = subprocess.run(
        [sys.executable, "-m", "ingestion", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    entry = help_text.split(f"  {option} ", 1)[1].split("\n  -", 1)[0]
    assert f"[env var: {variable};" in " ".join(entry.split()), entry
