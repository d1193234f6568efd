"""deploy/k8s: every overlay renders and validates; what schemas cannot check is asserted here."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
import yaml

from kervan_contracts.topics import TOPICS, dlq_topic

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
SERVICES = ("store-registry", "credential-vault", "order-ingest", "catalog-sync")
VAULT_SERVICES = ("credential-vault", "order-ingest", "catalog-sync")
MIN_K8S = "1.30"

CONSUMED_TOPICS = {
    "store-registry": ("kervan.api-status.v1",),
    "credential-vault": ("kervan.stores.v1",),
    "order-ingest": ("kervan.stores.v1", "kervan.api-status.v1", "kervan.credentials.v1"),
    "catalog-sync": (
        "kervan.catalog.v1",
        "kervan.stock-movements.v1",
        "kervan.stores.v1",
        "kervan.api-status.v1",
        "kervan.credentials.v1",
    ),
}
"""Topics each service's consumer group reads (its subscribers)."""

Docs = list[dict[str, Any]]
Runner = Callable[..., CompletedProcess[str]]


def _of(docs: Docs, kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_passes_kubernetes_validate_strict(
    overlay: str,
    sh: Runner,
    find_tool: Callable[[str], str],
    tmp_path: Path,
    rendered: dict[str, Docs],
) -> None:
    path = tmp_path / f"{overlay}.yaml"
    path.write_text(yaml.safe_dump_all(rendered[overlay]))
    validator = find_tool("kubernetes-validate")
    proc = sh(validator, "--strict", "-k", MIN_K8S, str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ERROR" not in proc.stdout + proc.stderr
    built_in = [doc for doc in rendered[overlay] if "." not in doc["apiVersion"].split("/")[0]]
    assert proc.stdout.count("passed for resource") >= len(built_in)


def test_kubernetes_validate_rejects_an_unknown_field(
    sh: Runner, find_tool: Callable[[str], str], tmp_path: Path
) -> None:
    """The gate can fail: a typo'd field is refused under --strict."""
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
           "spec": {"portz": [{"port": 1}]}}  # fmt: skip
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    validator = find_tool("kubernetes-validate")
    assert sh(validator, "--strict", "-k", MIN_K8S, str(path)).returncode != 0


def test_generated_manifests_are_up_to_date(sh: Runner) -> None:
    proc = sh(sys.executable, str(K8S / "generate.py"), "--check")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_topics_equal_the_contract_registry(overlay: str, rendered: dict[str, Docs]) -> None:
    topics = _of(rendered[overlay], "KafkaTopic")
    expected = [*TOPICS.values(), *(dlq_topic(group) for group in SERVICES)]
    assert {topic["spec"]["topicName"] for topic in topics.values()} == {s.name for s in expected}
    for spec in expected:
        topic = topics[spec.name]
        assert topic["apiVersion"] == "kafka.strimzi.io/v1"
        assert topic["metadata"]["labels"]["strimzi.io/cluster"]
        assert topic["spec"]["partitions"] == spec.partitions, spec.name
        assert topic["spec"]["config"] == spec.config(), spec.name
        assert topic["spec"]["replicas"] == (3 if overlay == "prod" else 1)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_probes_limits_and_hardening(
    overlay: str, rendered: dict[str, Docs]
) -> None:
    docs = rendered[overlay]
    for deployment in _of(docs, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in _containers(deployment):
            where = f"{overlay}/{deployment['metadata']['name']}/{container['name']}"
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in container, f"{where}: no {probe}"
            assert all(port.get("name") for port in container["ports"]), where
    for kind in ("Deployment", "Job"):
        for workload in _of(docs, kind).values():
            for container in _containers(workload):
                where = f"{overlay}/{workload['metadata']['name']}/{container['name']}"
                resources = container["resources"]
                assert {"cpu", "memory"} <= resources["requests"].keys(), where
                assert {"cpu", "memory"} <= resources["limits"].keys(), where
                context = container["securityContext"]
                assert context["allowPrivilegeEscalation"] is False, where
                assert context["readOnlyRootFilesystem"] is True, where
                assert context["capabilities"]["drop"] == ["ALL"], where
                assert context["seccompProfile"]["type"] == "RuntimeDefault", where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_probes_and_shutdown_budget(overlay: str, rendered: dict[str, Docs]) -> None:
    docs = rendered[overlay]
    deployments = _of(docs, "Deployment")
    config_maps = _of(docs, "ConfigMap")
    for name in SERVICES:
        deployment = deployments[name]
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        # Liveness never depends on Kafka/PostgreSQL/Vault: /healthz; readiness does: /readyz.
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["port"] == "http"
        (ref,) = container["envFrom"]
        settings = config_maps[ref["configMapRef"]["name"]]["data"]
        prefix = name.upper().replace("-", "_")
        drain = float(settings[f"{prefix}_SHUTDOWN_DRAIN_SECONDS"])
        graceful = float(settings["KERVAN_KAFKA_GRACEFUL_TIMEOUT_SECONDS"])
        # servicekit: grace period > drain + graceful timeout + ~10 s.
        assert pod["terminationGracePeriodSeconds"] > drain + graceful + 10, name
        assert settings[f"{prefix}_HTTP_HOST"] == "0.0.0.0"
        assert int(settings[f"{prefix}_HTTP_PORT"]) == container["ports"][0]["containerPort"]
        secret_env = {env["name"] for env in container["env"] if "valueFrom" in env}
        assert "KERVAN_POSTGRES_DSN" in secret_env
        assert not any("DSN" in key or "TOKEN" in key for key in settings), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_availability_and_scaling(overlay: str, rendered: dict[str, Docs]) -> None:
    docs = rendered[overlay]
    pdbs = _of(docs, "PodDisruptionBudget")
    hpas = _of(docs, "HorizontalPodAutoscaler")
    scaled = _of(docs, "ScaledObject")
    for name in SERVICES:
        labels = _of(docs, "Deployment")[name]["spec"]["template"]["metadata"]["labels"]
        selector = pdbs[name]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
        assert pdbs[name]["spec"]["maxUnavailable"] == 1
        max_partitions = min(TOPICS[topic].partitions for topic in CONSUMED_TOPICS[name])
        # HPA or KEDA, never both on one Deployment.
        assert (name in hpas) != (name in scaled), name
        if name in hpas:
            assert hpas[name]["spec"]["scaleTargetRef"]["name"] == name
            assert hpas[name]["spec"]["maxReplicas"] <= max_partitions
        else:
            spec = scaled[name]["spec"]
            assert spec["scaleTargetRef"]["name"] == name
            assert spec["maxReplicaCount"] <= max_partitions, name
            assert spec["triggers"]
            for trigger in spec["triggers"]:
                assert trigger["type"] == "kafka"
                assert trigger["metadata"]["consumerGroup"] == name
                assert trigger["metadata"]["topic"] in CONSUMED_TOPICS[name]
                assert trigger["metadata"]["allowIdleConsumers"] == "false"
    assert set(hpas) == {"store-registry", "credential-vault"}
    assert set(scaled) == {"order-ingest", "catalog-sync"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies(overlay: str, rendered: dict[str, Docs]) -> None:
    policies = _of(rendered[overlay], "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {}
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny
    assert "egress" not in deny
    for name in SERVICES:
        spec = policies[name]["spec"]
        assert spec["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        ports = {port["port"] for rule in spec["egress"] for port in rule["ports"]}
        assert {9092, 5432} <= ports, name
        if name in VAULT_SERVICES:
            assert {8200, 443} <= ports, name
            public = [rule for rule in spec["egress"] if "ipBlock" in rule["to"][0]]
            assert public[0]["to"][0]["ipBlock"]["except"], "private ranges must stay closed"
        else:
            assert 8200 not in ports
    dns = policies["allow-dns"]["spec"]["egress"][0]["ports"]
    assert {(port["protocol"], port["port"]) for port in dns} == {("UDP", 53), ("TCP", 53)}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_monitoring_resources(overlay: str, rendered: dict[str, Docs]) -> None:
    docs = rendered[overlay]
    services = _of(docs, "Service")
    for name, monitor in _of(docs, "ServiceMonitor").items():
        service = services[name]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= (
            service["metadata"]["labels"].items()
        )
        port_names = {port["name"] for port in service["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in port_names
            assert endpoint["path"] == "/metrics"
        assert "release" in monitor["metadata"]["labels"]
    (rule,) = _of(docs, "PrometheusRule").values()
    rules_file = yaml.safe_load((REPO / "deploy" / "prometheus" / "rules.yml").read_text())
    assert rule["spec"]["groups"] == rules_file["groups"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_vault_policies_are_the_reviewed_ones(overlay: str, rendered: dict[str, Docs]) -> None:
    policies = _of(rendered[overlay], "ConfigMap")["vault-policies"]["data"]
    on_disk = {path.name: path.read_text() for path in (REPO / "deploy" / "vault").glob("*.hcl")}
    assert policies == on_disk


def test_prod_vault_kubernetes_auth_one_role_per_service(rendered: dict[str, Docs]) -> None:
    docs = rendered["prod"]
    deployments = _of(docs, "Deployment")
    roles = json.loads(_of(docs, "ConfigMap")["vault-kubernetes-auth"]["data"]["roles.json"])
    assert sorted(role["role"] for role in roles) == sorted(VAULT_SERVICES)
    policies = _of(docs, "ConfigMap")["vault-policies"]["data"]
    accounts = _of(docs, "ServiceAccount")
    for role in roles:
        deployment = deployments[role["role"]]
        template = deployment["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        # Injector annotations belong on the pod template, not on the Deployment.
        assert annotations["vault.hashicorp.com/agent-inject"] == "true"
        assert annotations["vault.hashicorp.com/role"] == role["role"]
        assert template["spec"]["serviceAccountName"] == role["service_account"]
        assert accounts[role["service_account"]]["automountServiceAccountToken"] is True
        assert f"{role['policy']}.hcl" in policies
    store_registry = deployments["store-registry"]["spec"]["template"]
    assert "annotations" not in store_registry["metadata"]
    assert store_registry["spec"]["automountServiceAccountToken"] is False


def test_dev_overlay_brings_simulator_and_openbao(rendered: dict[str, Docs]) -> None:
    docs = rendered["dev"]
    deployments = _of(docs, "Deployment")
    assert {"marketplace-sim", "openbao-dev"} <= deployments.keys()
    assert deployments["marketplace-sim"]["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "--demo"
    ]
    config = _of(docs, "ConfigMap")
    for name in VAULT_SERVICES:
        settings = config[f"{name}-config"]["data"]
        assert settings["KERVAN_VAULT_ADDR"] == "http://openbao:8200"
        assert settings["KERVAN_MARKETPLACES_SIMULATOR_URL"] == "http://marketplace-sim:8090"
    assert all(doc["metadata"].get("namespace") in (None, "kervan-dev") for doc in docs)


def test_prod_pins_images_and_runs_two_replicas(rendered: dict[str, Docs]) -> None:
    deployments = _of(rendered["prod"], "Deployment")
    for name in SERVICES:
        deployment = deployments[name]
        assert deployment["metadata"]["namespace"] == "kervan"
        assert deployment["spec"]["replicas"] >= 2
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        repository, _, tag = image.rpartition(":")
        assert repository == f"kervan/{name}"
        assert tag not in {"", "latest", "dev"}
