from __future__ import annotations

import os
import stat
import subprocess

import pytest

from pipeline import envfile, settings


def test_env_file_parsing(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    path.write_text(
        "# comment\nPGHOST=db.example\nexport PGPORT=6543\nPGDATABASE='shop'\n\nBROKEN\n"
    )
    monkeypatch.setenv("ECOM_ENV_FILE", str(path))
    assert settings.read_env_file() == {
        "PGHOST": "db.example",
        "PGPORT": "6543",
        "PGDATABASE": "shop",
    }


def test_an_inline_comment_is_not_part_of_the_value(tmp_path):
    """The shell and Compose read `secret` here; so must psycopg2, dbt and GX."""
    path = tmp_path / ".env"
    path.write_text(
        "PGPASSWORD=secret  # the admin's\nECOM_LOADER_PASSWORD='has # inside'\n"
        "ECOM_AUDITOR_PASSWORD=a#b\n"
    )
    assert settings.read_env_file(path) == {
        "PGPASSWORD": "secret",
        "ECOM_LOADER_PASSWORD": "has # inside",
        "ECOM_AUDITOR_PASSWORD": "a#b",
    }
    shell = subprocess.run(
        [
            "bash",
            "-c",
            f"set -a; . {path}; set +a; printf '%s|%s|%s' "
            '"$PGPASSWORD" "$ECOM_LOADER_PASSWORD" "$ECOM_AUDITOR_PASSWORD"',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shell == "secret|has # inside|a#b"


def test_process_environment_wins_over_the_file(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    path.write_text("PGHOST=from-file\nPGPORT=1\nECOM_LOADER_PASSWORD=secret\n")
    monkeypatch.setenv("ECOM_ENV_FILE", str(path))
    monkeypatch.setenv("PGPORT", "7777")
    loader = settings.connection("loader")
    assert (loader.host, loader.port, loader.user, loader.password) == (
        "from-file",
        7777,
        "ecom_loader",
        "secret",
    )


def test_missing_server_is_a_readable_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ECOM_ENV_FILE", str(tmp_path / "absent.env"))
    monkeypatch.delenv("PGHOST", raising=False)
    with pytest.raises(settings.SettingsError, match="make up"):
        settings.connection("analyst")


def test_bad_port_is_a_readable_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ECOM_ENV_FILE", str(tmp_path / "absent.env"))
    monkeypatch.setenv("PGHOST", "h")
    monkeypatch.setenv("PGPORT", "five")
    with pytest.raises(settings.SettingsError, match="PGPORT"):
        settings.connection(None)


def test_generated_env_file_is_private_and_never_overwritten(tmp_path):
    path = tmp_path / ".env"
    assert envfile.ensure_values({"A": "1", "B": "2"}, path) == ["A", "B"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert envfile.ensure_values({"A": "changed", "C": "3"}, path) == ["C"]
    assert settings.read_env_file(path) == {"A": "1", "B": "2", "C": "3"}
