"""Alert rules and the compose Prometheus config: promtool-valid, unit-tested, documented."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROM = REPO / "deploy" / "prometheus"
OPERATIONS = REPO / "docs" / "operations.md"
RUNBOOK_PREFIX = "https://github.com/kervan/kervan/blob/main/docs/operations.md#"

Runner = Callable[..., CompletedProcess[str]]

REQUIRED_ALERTS = {
    "KervanStoreCredentialsInvalid",
    "KervanStoreNotPolled",
    "KervanStoreNotPushed",
    "KervanDeadLetterReceiving",
    "KervanOutboxLag",
    "KervanConsumerLag",
    "KervanMarketplaceRateLimited",
}


def _alerts() -> list[dict[str, Any]]:
    rules = yaml.safe_load((PROM / "rules.yml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]


def _anchors(markdown: str) -> set[str]:
    """GitHub-style anchors of the markdown headings."""
    anchors = set()
    for heading in re.findall(r"^#+\s+(.+?)\s*$", markdown, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_rules_pass_promtool_check(promtool: str, sh: Runner) -> None:
    proc = sh(promtool, "check", "rules", str(PROM / "rules.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in proc.stdout


def test_rule_unit_tests_pass(promtool: str, sh: Runner) -> None:
    proc = sh(promtool, "test", "rules", "rules.test.yml", cwd=PROM)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_alert_has_a_unit_test() -> None:
    tests = yaml.safe_load((PROM / "rules.test.yml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"]}
    assert tested == {alert["alert"] for alert in _alerts()}


def test_rule_unit_tests_catch_a_wrong_expectation(
    promtool: str, sh: Runner, tmp_path: Path
) -> None:
    """Mutation check: the credentials alert must not fire for the healthy store."""
    (tmp_path / "rules.yml").write_text((PROM / "rules.yml").read_text())
    mutated = (PROM / "rules.test.yml").read_text().replace("store_id: s-bad}", "store_id: s-ok}")
    (tmp_path / "rules.test.yml").write_text(mutated)
    proc = sh(promtool, "test", "rules", "rules.test.yml", cwd=tmp_path)
    assert proc.returncode != 0


def test_required_alerts_exist_with_annotations_and_runbooks() -> None:
    alerts = _alerts()
    assert {alert["alert"] for alert in alerts} == REQUIRED_ALERTS
    anchors = _anchors(OPERATIONS.read_text())
    for alert in alerts:
        name = alert["alert"]
        assert alert["labels"]["severity"] in {"critical", "warning"}, name
        annotations = alert["annotations"]
        assert annotations["summary"].strip(), name
        assert annotations["description"].strip(), name
        url = annotations["runbook_url"]
        assert url == RUNBOOK_PREFIX + name.lower(), name
        assert name.lower() in anchors, f"docs/operations.md has no section for {name}"


def test_rules_refer_only_to_exposed_metrics(
    exposed_metrics: frozenset[str],
    metric_refs_missing: Callable[[str, frozenset[str]], list[str]],
) -> None:
    for alert in _alerts():
        assert metric_refs_missing(alert["expr"], exposed_metrics) == [], alert["alert"]


def test_compose_prometheus_config_is_valid_and_scrapes_every_service(
    promtool: str, sh: Runner
) -> None:
    proc = sh(promtool, "check", "config", "prometheus.yml", cwd=PROM)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = yaml.safe_load((PROM / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    for job, target in targets.items():
        host, port = target.split(":")
        assert host == job
        assert host in compose, f"{job} is not a compose service"
    expected_ports = {
        "store-registry": "8081",
        "credential-vault": "8082",
        "order-ingest": "8083",
        "catalog-sync": "8084",
        "marketplace-sim": "8090",
    }
    for service, port in expected_ports.items():
        assert targets[service] == f"{service}:{port}"


@pytest.mark.parametrize("kind", ["ServiceMonitor"])
def test_k8s_scrapes_the_same_services(
    kind: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    monitored = {doc["metadata"]["name"] for doc in rendered["prod"] if doc["kind"] == kind}
    assert monitored == {"store-registry", "credential-vault", "order-ingest", "catalog-sync"}
