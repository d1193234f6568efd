"""Shared fixtures: the service layer on fakes, and store events."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from credential_vault.adapters.memory import MemorySecretStore, MemoryUnitOfWork, ScriptedChecker
from credential_vault.app.services import CredentialService
from credential_vault.domain.platforms import FIELDS
from marketplace_sim.app import create_app as create_sim_app
from marketplace_sim.settings import SimSettings
from pydantic import SecretStr

from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import OrderSettings, ProductSettings, StoreSnapshot
from kervan_marketplaces import (
    AdapterFactory,
    IntegratorIdentity,
    MarketplaceSettings,
    PlatformUrls,
    simulator_urls,
)

FINGERPRINT_KEY = b"k" * 32
SnapshotFactory = Callable[..., StoreSnapshot]


def _snapshot(
    store_id: str = "s1", platform: str = "trendyol", *, test_mode: bool = False, version: int = 1
) -> StoreSnapshot:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return StoreSnapshot(
        store_id=store_id,
        title=f"Store {store_id}",
        platform=platform,  # type: ignore[arg-type]
        status="active",  # type: ignore[arg-type]
        test_mode=test_mode,
        products=ProductSettings(),
        orders=OrderSettings(),
        version=version,
        created_at=now,
        updated_at=now,
    )


@pytest.fixture
def snapshot() -> SnapshotFactory:
    """`snapshot(store_id, platform, test_mode=, version=)` → a StoreSnapshot."""
    return _snapshot


@pytest.fixture
def uow() -> MemoryUnitOfWork:
    return MemoryUnitOfWork()


@pytest.fixture
def vault() -> MemorySecretStore:
    return MemorySecretStore()


@pytest.fixture
def checker() -> ScriptedChecker:
    return ScriptedChecker()


@pytest.fixture
def service(
    uow: MemoryUnitOfWork, vault: MemorySecretStore, checker: ScriptedChecker
) -> CredentialService:
    return CredentialService(
        uow=uow, secret_store=vault, checker=checker, fingerprint_key=FINGERPRINT_KEY
    )


@pytest.fixture
def add_store(service: CredentialService, snapshot: SnapshotFactory) -> Callable[..., object]:
    """`await add_store("s1", "trendyol", test_mode=False)`: project a StoreCreated."""

    async def add(store_id: str = "s1", platform: str = "trendyol", **kw: object) -> None:
        await service.apply_store_event(
            snapshot(store_id, platform, **kw),
            deleted=False,
            event_id=uuid.uuid4(),
            correlation_id=None,
        )

    return add


# ---- marketplace-sim in process ----------------------------------------------------------

SIM = "http://127.0.0.1:8090"
PLATFORMS = ("trendyol", "hepsiburada", "n11", "amazon_tr", "ideasoft", "tsoft")
REDIRECT = "http://127.0.0.1:8082/v1/oauth/{platform}/callback"


def sim_urls() -> dict[str, PlatformUrls]:
    """Production = `<sim>/<platform>`, sandbox = `<sim>/<platform>-sandbox`."""
    return simulator_urls(SIM)


def marketplace_settings() -> MarketplaceSettings:
    """Adapters aimed at the simulator, with quick retries."""
    return MarketplaceSettings(
        urls=sim_urls(),
        simulator_origins=[SIM],
        check_dns=False,
        retry_attempts=2,
        retry_timeout=5.0,
        retry_wait_initial=0.01,
        retry_wait_max=0.05,
        retry_wait_jitter=0.01,
        max_retry_after=0.1,
        integrator=IntegratorIdentity(
            trendyol_integrator_name="Kervan",
            amazon_lwa_client_id=SecretStr("amzn1.application-oa2-client.kervan-sim"),
            amazon_lwa_client_secret=SecretStr("kervan-sim-lwa-secret"),
            amazon_application_id="amzn1.sp.solution.kervan-sim",
            oauth_redirect_uri=REDIRECT.replace("{platform}", "amazon_tr"),
        ),
    )


@dataclass
class Sim:
    """The simulator's client (control API and adapters) and the paths adapters called."""

    client: httpx.AsyncClient
    paths: list[str]

    async def account(self, platform: str, credentials: dict[str, str]) -> str:
        """Create a simulator account holding `credentials`."""
        seller = credentials.get(
            {
                "trendyol": "seller_id",
                "hepsiburada": "merchant_id",
                "amazon_tr": "selling_partner_id",
            }.get(platform, "store_domain"),
            "seller",
        )
        body = {"platform": platform, "seller_id": seller, "credentials": credentials}
        response = await self.client.post("/_sim/accounts", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["account_id"])

    async def fault(self, **fault: Any) -> str:
        """Inject a fault; returns its id."""
        response = await self.client.post("/_sim/faults", json=fault)
        assert response.status_code == 201, response.text
        return str(response.json()["fault_id"])

    async def clear_fault(self, fault_id: str) -> None:
        """Remove a fault."""
        response = await self.client.delete(f"/_sim/faults/{fault_id}")
        assert response.status_code in {200, 204}, response.text


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    """marketplace-sim on an ASGI transport; records every platform path called."""
    paths: list[str] = []

    async def record(request: httpx.Request) -> None:
        if not request.url.path.startswith("/_sim"):
            paths.append(request.url.path)

    app = create_sim_app(settings=SimSettings())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=SIM, event_hooks={"request": [record]}
    ) as client:
        yield Sim(client, paths)


@pytest.fixture
def marketplaces(sim: Sim) -> AdapterFactory:
    return AdapterFactory(marketplace_settings(), client=sim.client)


def random_credentials(platform: str, tag: str = "") -> dict[str, str]:
    """Unique random values for every field of `platform` (each one a canary)."""
    token = secrets.token_hex(8)
    values = {}
    for name in FIELDS[Platform(platform)].required:
        if name == "store_domain":
            values[name] = f"c{token}{tag}.example.com"
        elif name in {"seller_id", "selling_partner_id"}:
            values[name] = f"A{token}{tag}".upper()
        else:
            values[name] = f"CANARY{name.upper()}{token}{tag}"
    return values
