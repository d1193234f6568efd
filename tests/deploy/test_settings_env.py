"""Every environment variable compose and Kubernetes set is one the service really reads.

The names come from the services' settings classes (`settings_markdown`, the generator of
their README tables), so a typo in a manifest fails here instead of being silently ignored.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kervan_marketplaces.settings import MarketplaceSettings
from kervan_servicekit.settings import settings_markdown

REPO = Path(__file__).resolve().parents[2]
SETTINGS = {
    "store-registry": ("store_registry", "StoreRegistrySettings"),
    "credential-vault": ("credential_vault", "CredentialVaultSettings"),
    "order-ingest": ("order_ingest", "OrderIngestSettings"),
    "catalog-sync": ("catalog_sync", "CatalogSyncSettings"),
}
USES_ADAPTERS = {"credential-vault", "order-ingest", "catalog-sync"}
ADMIN_TOKEN_ALIAS = {"store-registry", "credential-vault"}
"""Services that also accept `KERVAN_ADMIN_TOKEN` (a validation alias, not in the table)."""

_NAME = re.compile(r"^\| `([A-Z0-9_]+)`", re.M)


def _env_names(settings_cls: Any) -> set[str]:
    return set(_NAME.findall(settings_markdown(settings_cls)))


def _accepted(service: str) -> set[str]:
    package, class_name = SETTINGS[service]
    settings_cls = getattr(importlib.import_module(f"{package}.settings"), class_name)
    names = _env_names(settings_cls)
    if service in USES_ADAPTERS:
        names |= _env_names(MarketplaceSettings)
    if service in ADMIN_TOKEN_ALIAS:
        names.add("KERVAN_ADMIN_TOKEN")
    return names


def test_settings_tables_are_readable() -> None:
    """The parser sees the shared and the service-specific names (guards the test itself)."""
    accepted = _accepted("order-ingest")
    assert {"KERVAN_KAFKA_BOOTSTRAP", "ORDER_INGEST_HTTP_PORT", "ORDER_INGEST_RETEST_URL"} <= (
        accepted
    )
    assert "ORDER_INGEST_HTTP_PORTS" not in accepted


@pytest.mark.parametrize("service", SETTINGS)
def test_compose_sets_only_real_settings(service: str) -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    environment = compose["services"][service]["environment"]
    assert set(environment) - _accepted(service) == set()


@pytest.mark.parametrize("service", SETTINGS)
@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_kubernetes_sets_only_real_settings(
    service: str, overlay: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    docs = rendered[overlay]
    config = next(
        doc
        for doc in docs
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == f"{service}-config"
    )
    deployment = next(
        doc for doc in docs if doc["kind"] == "Deployment" and doc["metadata"]["name"] == service
    )
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    names = set(config["data"]) | {env["name"] for env in container.get("env", [])}
    assert names - _accepted(service) == set()
