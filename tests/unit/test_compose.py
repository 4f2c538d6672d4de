"""docker-compose.yml cannot run here (no Docker engine): hold its structure instead."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_services_are_present():
    assert {"postgres", "pgadmin"} <= set(SERVICES)


def test_images_are_pinned_to_versions():
    for name, service in SERVICES.items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:\d+(\.\d+)+[\w.-]*", image), f"{name}: {image} is not pinned"


def test_ports_are_bound_to_localhost_only():
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond localhost"


def test_every_service_has_a_healthcheck():
    for name, service in SERVICES.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_credentials_come_from_the_environment_not_the_file():
    env = SERVICES["postgres"]["environment"]
    for key in ("POSTGRES_PASSWORD", "ECOM_LOADER_PASSWORD", "ECOM_ANALYST_PASSWORD"):
        assert env[key].startswith("${") and ":?" in env[key], key
    assert SERVICES["pgadmin"]["environment"]["PGADMIN_DEFAULT_PASSWORD"].startswith("${")


def test_mounted_files_exist_and_init_applies_the_same_ddl():
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO_ROOT / source).exists(), source
    init = (REPO_ROOT / "docker" / "postgres" / "initdb.sh").read_text()
    assert "/warehouse-sql/[0-9]*.sql" in init
    for role in ("loader", "transformer", "analyst", "auditor"):
        assert f"alter role ecom_{role} password" in init
    assert any("/warehouse-sql" in v for v in SERVICES["postgres"]["volumes"])


def test_every_password_the_compose_file_needs_is_in_env_example():
    example = (REPO_ROOT / ".env.example").read_text()
    needed = set(re.findall(r"\$\{(\w+):\?", (REPO_ROOT / "docker-compose.yml").read_text()))
    documented = set(re.findall(r"^#?\s*(\w+)=", example, re.M))
    assert needed <= documented, needed - documented
