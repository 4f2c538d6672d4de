"""One CLI style: every command refuses a bad option value the same way, before doing anything.

Exit 2, one line on stderr naming the option, what it expects and what it got;
no warehouse started, no Spark session, no file written.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest

from pipeline import cli, config

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(module: str, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *argv],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["generate", "--rate", "-5"], "argument --rate: must be > 0, got -5"),
        (["generate", "--bad-rate", "2"], "argument --bad-rate: must be between 0 and 1, got 2"),
        (["stream", "--part-mb", "0"], "argument --part-mb: must be > 0, got 0"),
        (["stream", "--trigger", "-1"], "argument --trigger: expected 0 or more seconds, got -1"),
        (
            ["ingest", "--max-files-per-trigger", "0"],
            "argument --max-files-per-trigger: must be >= 1",
        ),
        (
            ["stream", "--spark-ui-port", "70000"],
            "argument --spark-ui-port: expected a port between",
        ),
        (["live", "--rate", "0"], "argument --rate: must be > 0, got 0"),
        (["live", "--every", "soon"], "argument --every: expected seconds, got 'soon'"),
        (
            ["live", "--duplicate-rate", "-0.1"],
            "argument --duplicate-rate: must be between 0 and 1",
        ),
        (["demo", "--events", "0"], "argument --events: must be >= 1, got 0"),
        (["demo", "--seed", "x"], "argument --seed: expected a whole number, got 'x'"),
        (["dashboard", "--port", "0"], "argument --port: expected a port between 1 and 65535"),
        (["dashboard", "--refresh", "-3"], "argument --refresh: expected 0 or more seconds"),
    ],
)
def test_a_bad_value_is_one_line_and_exit_2_before_anything_starts(tmp_path, argv, expected):
    env = dict(
        os.environ, ECOM_STATE_DIR=str(tmp_path / "state"), ECOM_ENV_FILE=str(tmp_path / ".env")
    )
    result = _run("ecom", argv, env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"ecom {argv[0]}: error: {expected}"), lines[0]
    # nothing was started or written: no managed cluster, no .env
    assert not (tmp_path / "state" / "postgres").exists()
    assert not (tmp_path / ".env").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_number_that_is_not_finite_is_refused(value):
    with pytest.raises(click.BadParameter, match="expected seconds"):
        cli.seconds(value)


def test_a_time_without_an_offset_is_utc():
    assert cli.utc_time("2026-11-01T10:00:00") == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert cli.utc_time("2026-11-01T12:00:00+02:00") == datetime(2026, 11, 1, 10, tzinfo=UTC)


def _tree(command: click.Command, path: str):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _tree(sub, f"{path} {name}")


def test_every_command_is_one_click_tree_and_shows_its_variables():
    from ecom.cli import main

    commands = dict(_tree(main, "ecom"))
    assert {"ecom stream", "ecom checkpoint run", "ecom generate", "ecom psql"} <= set(commands)
    bound = 0
    for path, command in commands.items():
        assert isinstance(command, cli.Command | cli.Group), path
        ctx = click.Context(command, info_name=path)
        for param in command.params:
            if isinstance(param, cli.SettingOption):
                bound += 1
                help_text = param.get_help_record(ctx)[1]
                assert f"env var: {config.env_name(param.setting)};" in help_text, (path, param)
                assert "default: " in help_text, (path, param)
    assert bound >= 20  # stream, ingest and status share the ingestion options


@pytest.mark.parametrize(
    ("module", "argv", "expected"),
    [
        # no command: the stream's options (python -m ingestion is python -m ingestion run)
        ("ingestion", ["--trigger", "-1"], "python -m ingestion: error: argument --trigger: "),
        ("ingestion", ["status", "--nope"], "python -m ingestion status: error: No such option"),
        ("generator", ["--events", "3", "--files", "2"], "python -m generator: error: argument "),
        ("expectations", ["run", "--bogus"], "python -m expectations run: error: No such option"),
        ("ecom", ["nonsense"], "ecom: error: No such command 'nonsense'"),
    ],
)
def test_the_module_commands_fail_the_same_way(tmp_path, module, argv, expected):
    result = _run(module, argv, dict(os.environ, ECOM_ENV_FILE=str(tmp_path / ".env")))
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(expected) and line.endswith("(see --help)"), line


def test_status_takes_the_streams_command_line():
    from ecom.cli import main
    from ingestion.__main__ import main as ingestion

    line = ["--input-dir", "in", "--checkpoint-dir", "cp", "--archive-dir", "a", "--once"]
    for status in (ingestion.commands["status"], main.commands["status"]):
        params = status.make_context("status", [*line, "--require-batch"]).params
        assert (str(params["input_dir"]), str(params["checkpoint_dir"])) == ("in", "cp")
        assert params["require_batch"]
