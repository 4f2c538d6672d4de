"""pipeline.config: each setting declared once, read from the environment or .env, documented
from the declaration."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ingestion import spark
from pipeline import config, settings

REPO_ROOT = Path(__file__).resolve().parents[2]

# Named in the code but not settings: GX's connection-string placeholder, filled in by the
# runner (expectations/context.py), and the benchmarks' own knobs (bench/).
NOT_SETTINGS = {"ECOM_GX_SESSION_SETTINGS"}


def test_the_reference_is_generated_from_the_declaration():
    written = (REPO_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert written == config.reference(), (
        "docs/configuration.md is out of date: python -m pipeline.config > docs/configuration.md"
    )


def test_every_variable_the_project_names_is_declared():
    declared = {field.alias for field in config.Settings.model_fields.values()}
    named: dict[str, set[str]] = {}
    folders = ("pipeline", "ingestion", "ecom", "generator", "expectations", "dashboard")
    files = [path for folder in folders for path in (REPO_ROOT / folder).rglob("*.py")]
    files += [REPO_ROOT / name for name in ("Makefile", ".env.example", "docker-compose.yml")]
    files += [*(REPO_ROOT / "scripts").glob("*.sh"), *(REPO_ROOT / "docker").rglob("Dockerfile")]
    files += list((REPO_ROOT / "dbt_project").glob("*.yml"))
    for path in files:
        for variable in re.findall(r"\bECOM_[A-Z0-9_]*[A-Z0-9]\b", path.read_text("utf-8")):
            named.setdefault(variable, set()).add(str(path.relative_to(REPO_ROOT)))
    undeclared = {v: sorted(where) for v, where in named.items() if v not in declared}
    assert set(undeclared) <= NOT_SETTINGS, undeclared


def _env_file(tmp_path, monkeypatch, text: str) -> None:
    path = tmp_path / ".env"
    path.write_text(text)
    monkeypatch.setenv("ECOM_ENV_FILE", str(path))


def test_values_come_from_the_environment_over_the_env_file(tmp_path, monkeypatch):
    _env_file(tmp_path, monkeypatch, "ECOM_TRIGGER_SECONDS=2\nECOM_PART_MB=16\n")
    monkeypatch.setenv("ECOM_PART_MB", "4")
    monkeypatch.delenv("ECOM_TRIGGER_SECONDS", raising=False)
    values = settings.current()
    assert (values.trigger_seconds, values.part_mb) == (2.0, 4.0)
    assert values.max_files_per_trigger == config.default("max_files_per_trigger") == 1000


def test_an_empty_value_counts_as_unset(tmp_path, monkeypatch):
    _env_file(tmp_path, monkeypatch, "ECOM_METRICS_PORT=\nECOM_INPUT_DIR=\n")
    for name in ("ECOM_METRICS_PORT", "ECOM_INPUT_DIR", "ECOM_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert settings.current().metrics_port is None
    assert settings.input_dir() == settings.state_dir() / "inputs"


def test_an_invalid_value_in_the_env_file_names_the_variable_and_the_file(tmp_path, monkeypatch):
    _env_file(tmp_path, monkeypatch, "ECOM_PROCESSED_FILES=keep\n")
    monkeypatch.delenv("ECOM_PROCESSED_FILES", raising=False)
    with pytest.raises(settings.SettingsError) as caught:
        settings.current()
    message = str(caught.value)
    assert message.startswith(f"ECOM_PROCESSED_FILES='keep' (in {tmp_path / '.env'}): ")
    assert "'archive' or 'delete'" in message and "\n" not in message


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("PGPORT", "fivefour", "expected a port number, got 'fivefour'"),
        ("ECOM_NAIVE_TIMEZONE", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("ECOM_LOCAL_PGPORT", "any", "expected a port number or 'auto', got 'any'"),
        ("ECOM_RAW_RETENTION_DAYS", "-1", "expected 0 or more days, got -1"),
        ("ECOM_SPARK_UI", "maybe", "ECOM_SPARK_UI='maybe'"),
    ],
)
def test_invalid_values_are_one_line(monkeypatch, variable, value, expected):
    monkeypatch.setenv(variable, value)
    with pytest.raises(settings.SettingsError, match=re.escape(expected)):
        settings.current()


def test_spark_reads_its_settings_from_the_env_file_too(tmp_path, monkeypatch):
    """ingestion/spark.py read ECOM_SPARK_CDS from the process environment only."""
    for name in ("ECOM_SPARK_CDS", "ECOM_SPARK_DRIVER_MEMORY", "ECOM_SPARK_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    _env_file(tmp_path, monkeypatch, "ECOM_SPARK_CDS=0\nECOM_SPARK_DRIVER_MEMORY=3g\n")
    assert spark.class_data_sharing(21) == ""
    assert settings.current().spark_driver_memory == "3g"


def test_a_bad_env_file_stops_a_command_before_it_starts(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("ECOM_SETTLE_SECONDS=soon\n")
    result = subprocess.run(
        [sys.executable, "-m", "generator", "--files", "1"],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "ECOM_ENV_FILE": str(env_file)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result
    assert result.stderr.splitlines() == [
        f"python -m generator: error: ECOM_SETTLE_SECONDS='soon' (in {env_file}): "
        "expected seconds, got 'soon'"
    ]
    assert not (tmp_path / "inputs").exists()
