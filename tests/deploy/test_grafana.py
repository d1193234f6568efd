"""The Grafana dashboard: well formed, every query parses (promtool) and names real metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "kervan-overview.json"

Runner = Callable[..., CompletedProcess[str]]


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def _queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every panel target and of the query variables."""
    queries = [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.+),\s*\w+\)", variable["definition"])
            assert match, variable["name"]
            queries.append((f"variable {variable['name']}", match.group(1)))
    return queries


def _promql(expr: str) -> str:
    """Grafana's macros and variables replaced by values PromQL accepts."""
    expr = expr.replace("$__rate_interval", "5m").replace("$__range", "1h")
    return re.sub(r"\$\{?(\w+)\}?", "x", expr)


def test_dashboard_shape() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "kervan-overview"
    assert dashboard["title"]
    assert dashboard["schemaVersion"] >= 36
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_dashboard_covers_store_health_and_service_signals() -> None:
    exprs = " ".join(expr for _, expr in _queries(_dashboard()))
    for needle in (
        "kervan_order_ingest_polls_total",  # API status per store (auth_rejected / ok)
        "kervan_order_ingest_last_successful_poll_timestamp_seconds",  # last pull
        "kervan_catalog_sync_items_pushed_total",  # push outcomes and last push
        "kervan_order_ingest_orders_ingested_total",  # orders per minute
        "kervan_catalog_sync_rate_limited_total",  # 429s
        "kervan_credential_vault_store_api_status",  # API status per store
        "_consumer_lag_messages",  # consumer lag (the services' own gauge)
        "kafka_consumergroup_lag",  # consumer lag (kafka-exporter's broker view)
        "_outbox_lag_seconds",  # outbox lag
        "_dead_lettered_messages_total",  # DLQ
        "_received_processed_messages_total",  # RED: rate
        "_received_processed_messages_exceptions_total",  # RED: errors
        "_received_processed_messages_duration_seconds_bucket",  # RED: duration
    ):
        assert needle in exprs, needle


def test_every_query_parses(promtool: str, sh: Runner, tmp_path: Path) -> None:
    queries = _queries(_dashboard())
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{index}", "expr": _promql(expr)}
                    for index, (_, expr) in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    proc = sh(promtool, "check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(queries)} rules found" in proc.stdout


def test_promtool_rejects_a_broken_query(promtool: str, sh: Runner, tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    rule = {"record": "dashboard:broken", "expr": "sum(rate(x[5m])"}
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [rule]}]}))
    assert sh(promtool, "check", "rules", str(path)).returncode != 0


def test_queries_name_only_exposed_metrics(
    exposed_metrics: frozenset[str],
    metric_refs_missing: Callable[[str, frozenset[str]], list[str]],
) -> None:
    for title, expr in _queries(_dashboard()):
        assert metric_refs_missing(expr, exposed_metrics) == [], title


def test_provisioning_matches_compose_mounts() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = dict(
        volume.split(":")[:2]
        for volume in compose["services"]["grafana"]["volumes"]
        if volume.startswith("./")
    )
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "kervan.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert mounts["./deploy/grafana/dashboards"] == path
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    datasource = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]
