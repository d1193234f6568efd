"""/healthz, /readyz and /metrics over ASGI, for AsgiFastStream and Starlette/FastAPI."""

import asyncio

import httpx
from prometheus_client import CollectorRegistry, Counter
from starlette.applications import Starlette

from kervan_servicekit.health import HealthEndpoints


def _client(health: HealthEndpoints) -> httpx.AsyncClient:
    app = Starlette(routes=health.starlette_routes())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


async def _ok() -> bool:
    return True


async def _broken() -> bool:
    raise ConnectionRefusedError("postgresql://u:secret@db refused")


async def _slow() -> None:
    await asyncio.sleep(5)


async def _false() -> bool:
    return False


async def test_ready_when_every_required_check_passes_informational_ones_aside() -> None:
    health = HealthEndpoints(CollectorRegistry(), check_timeout=0.2)
    health.add_check("postgres", _ok)
    health.add_check("outbox_relay", _false, informational=True)
    async with _client(health) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["outbox_relay"]["ok"] is False
    assert body["checks"]["outbox_relay"]["informational"] is True


async def test_not_ready_names_the_failed_checks_without_error_text() -> None:
    health = HealthEndpoints(CollectorRegistry(), check_timeout=0.2)
    health.add_check("postgres", _broken)
    health.add_check("kafka", _slow)
    health.add_check("vault", _ok)
    async with _client(health) as client:
        started = asyncio.get_running_loop().time()
        response = await client.get("/readyz")
        elapsed = asyncio.get_running_loop().time() - started
    assert response.status_code == 503
    body = response.json()
    assert sorted(body["failed"]) == ["kafka", "postgres"]
    assert body["checks"]["postgres"]["error"] == "ConnectionRefusedError"
    assert "timed out" in body["checks"]["kafka"]["error"]
    assert "secret" not in response.text
    assert elapsed < 2  # checks run concurrently, each bounded by its timeout


async def test_shutdown_flips_readiness_but_not_liveness() -> None:
    health = HealthEndpoints(CollectorRegistry())
    health.add_check("postgres", _ok)
    async with _client(health) as client:
        assert (await client.get("/readyz")).status_code == 200
        health.begin_shutdown()
        assert (await client.get("/readyz")).status_code == 503
        assert (await client.get("/healthz")).status_code == 200


async def test_liveness_never_runs_dependency_checks() -> None:
    calls: list[str] = []

    async def counted() -> bool:
        calls.append("x")
        return False

    health = HealthEndpoints(CollectorRegistry())
    health.add_check("postgres", counted)
    async with _client(health) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert calls == []


async def test_metrics_expose_the_service_registry_only() -> None:
    registry = CollectorRegistry()
    Counter("kervan_demo_things_total", "Things.", registry=registry).inc(3)
    health = HealthEndpoints(registry)
    async with _client(health) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert "kervan_demo_things_total 3.0" in response.text
    assert "python_gc_objects_collected_total" not in response.text  # not the global registry


async def test_asgi_routes_serve_the_same_endpoints_for_asgifaststream() -> None:
    health = HealthEndpoints(CollectorRegistry())
    routes = dict(health.asgi_routes())
    assert set(routes) == {"/healthz", "/readyz", "/metrics"}
    transport = httpx.ASGITransport(app=routes["/readyz"])
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        assert (await client.get("/readyz")).json()["status"] == "ready"
