"""Adapters against marketplace-sim, in process (httpx.ASGITransport)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from marketplace_sim import fidelity
from marketplace_sim.app import create_app
from marketplace_sim.settings import SimSettings

from kervan_marketplaces import (
    AdapterFactory,
    IntegratorIdentity,
    MarketplaceSettings,
    PlatformUrls,
    simulator_urls,
)

SIM = "http://127.0.0.1:8090"
PLATFORMS = ("trendyol", "hepsiburada", "n11", "amazon_tr", "ideasoft", "tsoft")


def sim_urls() -> dict[str, PlatformUrls]:
    """Production = `<sim>/<platform>`, sandbox = `<sim>/<platform>-sandbox` (the sim's mounts)."""
    return simulator_urls(SIM)


@pytest.fixture
def sim_app() -> Any:
    return create_app(settings=SimSettings(batch_delay_seconds=0.2))


# LWA and Seller Central consent are not part of the SP-API models (separate Amazon services),
# nor are the pre-signed feed document URLs (S3 on Amazon, `/_documents/` on the simulator).
_NOT_IN_MODELS = ("/auth/o2/token", "/apps/authorize/consent")
_DOCUMENTS = "/_documents/"


def _platform_of(url: httpx.URL) -> str | None:
    first = url.path.lstrip("/").split("/", 1)[0].removesuffix("-sandbox")
    return first if first in PLATFORMS else None


def _parsed_body(request: httpx.Request) -> Any:
    if not request.content:
        return None
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(request.content.decode()))
    return json.loads(request.content)


@pytest.fixture
async def sim(sim_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """One client for both the control API and the adapters (requests are counted per account).

    Every adapter request (not the `/_sim` control calls) is validated against the platform's
    contract (`marketplace_sim.fidelity`: Amazon's official models, Kervan's OpenAPI fragments
    for the others); any mismatch fails the test at teardown.
    """
    problems: list[str] = []

    async def check(request: httpx.Request) -> None:
        platform = _platform_of(request.url)
        path = request.url.path
        if platform is None or path.endswith(_NOT_IN_MODELS) or _DOCUMENTS in path:
            return
        try:
            fidelity.validate_request(
                platform,
                request.method,
                str(request.url),
                dict(request.headers),
                None,
                _parsed_body(request),
            )
        except fidelity.FidelityError as exc:
            problems.append(str(exc))

    transport = httpx.ASGITransport(app=sim_app)
    async with httpx.AsyncClient(
        transport=transport, base_url=SIM, event_hooks={"request": [check]}
    ) as client:
        yield client
    assert not problems, "requests that break the platform contract:\n" + "\n".join(problems)


def make_settings(**overrides: Any) -> MarketplaceSettings:
    values: dict[str, Any] = {
        "urls": sim_urls(),
        "simulator_origins": [SIM],
        "check_dns": False,
        "retry_attempts": 12,
        "retry_timeout": 30.0,
        "retry_wait_initial": 0.05,
        "retry_wait_max": 0.5,
        "retry_wait_jitter": 0.05,
        "max_retry_after": 2.0,
        "integrator": IntegratorIdentity(
            trendyol_integrator_name="Kervan",
            amazon_lwa_client_id="amzn1.application-oa2-client.kervan-sim",  # type: ignore[arg-type]
            amazon_lwa_client_secret="kervan-sim-lwa-secret",  # type: ignore[arg-type]
            amazon_application_id="amzn1.sp.solution.kervan-sim",
            oauth_redirect_uri="https://kervan.example/callback",
        ),
    }
    values.update(overrides)
    return MarketplaceSettings(**values)


@pytest.fixture
def factory(sim: httpx.AsyncClient) -> AdapterFactory:
    return AdapterFactory(make_settings(), client=sim)


NewAccount = Callable[..., Awaitable[str]]


@pytest.fixture
def new_account(sim: httpx.AsyncClient) -> NewAccount:
    async def create(
        platform: str, seller_id: str, credentials: dict[str, str], **extra: Any
    ) -> str:
        response = await sim.post(
            "/_sim/accounts",
            json={
                "platform": platform,
                "seller_id": seller_id,
                "credentials": credentials,
                **extra,
            },
        )
        assert response.status_code == 201, response.text
        return str(response.json()["account_id"])

    return create


async def advance_clock(sim: httpx.AsyncClient, seconds: float) -> None:
    """Move the simulator's manual clock (tests that built it with a ManualClock)."""
    response = await sim.post("/_sim/clock", json={"advance_seconds": seconds})
    assert response.status_code == 200, response.text


def counts(log: dict[str, Any]) -> dict[str, int]:
    """Requests per simulator endpoint name."""
    return {name: int(v["count"]) for name, v in log["by_endpoint"].items()}


async def requests_log(sim: httpx.AsyncClient, account_id: str) -> dict[str, Any]:
    response = await sim.get(f"/_sim/accounts/{account_id}/requests")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def add_fault(sim: httpx.AsyncClient, **fault: Any) -> dict[str, Any]:
    response = await sim.post("/_sim/faults", json=fault)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Poll `predicate` until true or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        await asyncio.sleep(0.05)  # polling interval, not synchronisation
