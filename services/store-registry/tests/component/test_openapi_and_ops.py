"""The committed OpenAPI matches the code; health, readiness and metrics are served."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry
from store_registry.__main__ import main
from store_registry.adapters.memory import MemoryUnitOfWorkFactory
from store_registry.app.services import Collaborators
from store_registry.bootstrap import openapi_document
from store_registry.entrypoints.api import ApiDependencies, create_app

from kervan_servicekit.auth import Authenticator
from kervan_servicekit.cli import render_openapi
from kervan_servicekit.health import HealthEndpoints

from .conftest import auth_header

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.json"


def test_committed_openapi_is_current() -> None:
    # On failure: `uv run python -m store_registry openapi`, then review and commit the diff.
    assert OPENAPI.read_text(encoding="utf-8") == render_openapi(openapi_document())


def test_openapi_check_command_detects_drift(tmp_path: Path) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n", encoding="utf-8")
    assert main(["openapi", "--check", "--output", str(stale)]) == 1
    assert main(["openapi", "--output", str(stale)]) == 0
    assert main(["openapi", "--check", "--output", str(stale)]) == 0


def test_every_operation_documents_the_error_body() -> None:
    document = json.loads(OPENAPI.read_text(encoding="utf-8"))
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for status in ("401", "403", "422"):
                content = operation["responses"][status]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (
                    method,
                    path,
                    status,
                )


async def test_health_readiness_and_metrics(
    uow_factory: MemoryUnitOfWorkFactory, env: Collaborators
) -> None:
    registry = CollectorRegistry()
    health = HealthEndpoints(registry)
    ready = {"ok": True}

    async def check() -> bool:
        return ready["ok"]

    health.add_check("postgres", check)
    app = create_app(
        ApiDependencies(
            uow=uow_factory,
            env=env,
            auth=Authenticator([]),
            registry=registry,
            health=health,
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        ready["ok"] = False
        assert (await client.get("/readyz")).status_code == 503
        await client.get("/v1/stores", headers=auth_header("viewer"))  # 401: no grants here
        metrics = (await client.get("/metrics")).text
    assert (
        'kervan_store_registry_http_requests_total{method="GET",route="/v1/stores",status="401"}'
        " 1.0" in metrics
    )
