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


# --------------------------------------------------------------------------- the pipeline and Spark

PIPELINE_SERVICES = ("spark-master", "spark-worker", "generator", "stream")
DOCKERFILE = (REPO_ROOT / "docker" / "pipeline" / "Dockerfile").read_text()


def test_the_pipeline_and_a_spark_cluster_are_services():
    assert set(PIPELINE_SERVICES) <= set(SERVICES)


def test_the_pipeline_services_share_one_image_built_from_the_repo():
    images = {SERVICES[name]["image"] for name in PIPELINE_SERVICES}
    assert images == {"ecommerce-warehouse/pipeline:0.1.0"}
    for name in PIPELINE_SERVICES:
        assert SERVICES[name]["build"]["dockerfile"] == "docker/pipeline/Dockerfile"


def test_the_dockerfile_pins_its_base_and_installs_java_and_the_constraints():
    base = re.search(r"^FROM (\S+)", DOCKERFILE, re.M).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base), base
    assert "openjdk-17-jre-headless" in DOCKERFILE
    assert DOCKERFILE.count("-c constraints.txt") == 2
    # the cluster's spark-class is the installed pyspark's
    assert "/opt/spark" in DOCKERFILE and "pyspark" in DOCKERFILE
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".warehouse", ".env", ".git"} <= set(ignored)


def test_the_cluster_runs_spark_class_of_the_image():
    master, worker = SERVICES["spark-master"]["command"], SERVICES["spark-worker"]["command"]
    assert master[:2] == ["/opt/spark/bin/spark-class", "org.apache.spark.deploy.master.Master"]
    assert worker[:3] == [
        "/opt/spark/bin/spark-class",
        "org.apache.spark.deploy.worker.Worker",
        "spark://spark-master:7077",
    ]
    # each Spark process binds to its own service name, which the others resolve
    for name in ("spark-master", "spark-worker", "stream"):
        assert SERVICES[name]["environment"]["SPARK_LOCAL_IP"] == name


def _option(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def test_the_commands_parse_with_the_real_command_lines():
    from generator.__main__ import parser as generator_parser
    from ingestion.__main__ import _parser as ingestion_parser

    stream = SERVICES["stream"]["command"]
    assert stream[:3] == ["python", "-m", "ingestion"]
    args = ingestion_parser().parse_args(stream[3:])
    assert args.master == "spark://spark-master:7077"
    assert "spark.driver.host=stream" in args.conf
    generator = SERVICES["generator"]["command"]
    assert generator[:3] == ["python", "-m", "generator"]
    generator_parser().parse_args(
        [arg.replace("${GENERATOR_RATE:-1000}", "1000") for arg in generator[3:]]
    )
    healthcheck = SERVICES["stream"]["healthcheck"]["test"]
    ingestion_parser().parse_args(healthcheck[4:])


def test_generator_stream_and_executors_see_the_same_files():
    for name in ("generator", "stream", "spark-worker"):
        assert "pipeline-data:/data" in [v.split("  ")[0] for v in SERVICES[name]["volumes"]], name
    stream, generator = SERVICES["stream"]["command"], SERVICES["generator"]["command"]
    assert _option(stream, "--input-dir") == _option(generator, "--output-dir") == "/data/inputs"
    assert not _option(generator, "--manifest").startswith("/data/inputs/")
    for path in (_option(stream, "--checkpoint-dir"), _option(stream, "--archive-dir")):
        assert path.startswith("/data/") and not path.startswith("/data/inputs")


def test_the_stream_loads_as_the_loader_into_the_compose_postgres():
    env = SERVICES["stream"]["environment"]
    assert env["PGHOST"] == "postgres" and env["PGPORT"] == "5432"
    assert env["ECOM_LOADER_PASSWORD"].startswith("${ECOM_LOADER_PASSWORD:?")
    assert "PGPASSWORD" not in env  # no administrator password in the job's environment
    assert SERVICES["stream"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert SERVICES["stream"]["depends_on"]["spark-worker"]["condition"] == "service_healthy"
