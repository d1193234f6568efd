"""docker-compose.yml: valid against the compose specification, wired the way the docs say."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
SERVICES = ("store-registry", "credential-vault", "order-ingest", "catalog-sync")
SHARED_ENV = {
    "KERVAN_KAFKA_BOOTSTRAP",
    "KERVAN_POSTGRES_DSN",
    "KERVAN_VAULT_ADDR",
    "KERVAN_VAULT_TOKEN",
}

Runner = Callable[..., CompletedProcess[str]]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_compose_file_matches_the_compose_spec(sh: Runner, find_tool: Callable[[str], str]) -> None:
    checker = find_tool("check-jsonschema")
    proc = sh(checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_spec_check_rejects_a_bad_condition(
    sh: Runner, find_tool: Callable[[str], str], tmp_path: Path
) -> None:
    bad = _compose()
    bad["services"]["store-registry"]["depends_on"]["postgres"]["condition"] = "service_ok"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(bad))
    checker = find_tool("check-jsonschema")
    assert sh(checker, "--builtin-schema", "vendor.compose-spec", str(path)).returncode != 0


def test_docker_compose_config_when_docker_is_present(sh: Runner) -> None:
    docker = shutil.which("docker")
    if docker is None or sh(docker, "compose", "version").returncode != 0:
        pytest.skip("no Docker Compose client here; the compose-spec schema check still ran")
    proc = sh(docker, "compose", "-f", str(COMPOSE), "config", "--quiet")
    assert proc.returncode == 0, proc.stderr


def test_stack_has_every_piece() -> None:
    services = _compose()["services"]
    expected = {
        "kafka", "kafka-init", "postgres", "openbao", "vault-init", "marketplace-sim",
        "prometheus", "grafana", "kafka-exporter", *SERVICES,
    }  # fmt: skip
    assert expected <= services.keys()
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["marketplace-sim"]["command"] == ["--demo"]
    assert "-dev" in services["openbao"]["command"]


def test_images_are_pinned_and_dependencies_healthy() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        image = service["image"]
        assert ":" in image, name
        assert not image.endswith((":latest", ":main")), name
    for name in ("kafka", "postgres", "openbao", "prometheus"):
        assert services[name]["healthcheck"]["test"], name
    for name in SERVICES:
        depends = services[name]["depends_on"]
        assert depends["kafka-init"]["condition"] == "service_completed_successfully"
        assert depends["vault-init"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        environment = services[name]["environment"]
        assert environment.keys() >= SHARED_ENV, name
        assert services[name]["build"]["dockerfile"] == f"services/{name}/Dockerfile"
        assert services[name]["read_only"] is True
        assert services[name]["cap_drop"] == ["ALL"]


def test_published_ports_bind_to_loopback_only() -> None:
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name}: {port}"


def test_init_jobs_use_the_single_sources_of_truth() -> None:
    services = _compose()["services"]
    topic_job = services["kafka-init"]["command"][0]
    assert "from kervan_contracts.topics import TOPICS, dlq_topic" in topic_job
    assert all(f'"{group}"' in topic_job for group in SERVICES)
    vault_job = services["vault-init"]
    assert "./deploy/vault:/policies:ro" in vault_job["volumes"]
    script = vault_job["command"][0]
    for policy in (REPO / "deploy" / "vault").glob("*.hcl"):
        assert policy.stem in script
    assert "kv-v2" in script
