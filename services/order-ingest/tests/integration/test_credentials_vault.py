"""The running service reads store credentials from a real Vault (OpenBao/Vault dev server)
through servicekit's reader, and a rotation announced on `kervan.credentials.v1` reaches the
next poll: no secret → `missing_credentials`; written and announced → polled; rotated in Vault
→ still the cached copy until the event, then the new one. A rotation the platform enforces
before this replica hears of it: the 401 makes it read Vault again and poll with the new
version, without pausing the store. The two versions are the credentials of two simulator
accounts, so the orders ingested show which one was used."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from marketplace_sim.app import create_app
from marketplace_sim.testing import TEST_ACCOUNTS, SimDriver
from order_ingest.bootstrap import build_app
from pydantic import SecretStr

from kervan_contracts.credentials.v1 import CredentialsChanged
from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import StoreCreated
from kervan_marketplaces import AdapterFactory
from kervan_servicekit import VaultSettings
from kervan_testkit import wait_until
from kervan_testkit.events import publish_events
from kervan_testkit.infra import VaultEndpoint

from .conftest import SIM, api_valid, service_settings, sim_marketplace_settings, snapshot

pytestmark = pytest.mark.integration

ROTATED = {"seller_id": "2002", "api_key": "ty-key-rotated", "api_secret": "ty-secret-rotated"}


@asynccontextmanager
async def store_secret(vault: VaultEndpoint, store_id: str) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client of Vault; the store's secret (every version) is deleted afterwards."""
    async with httpx.AsyncClient(
        base_url=f"{vault.addr}/v1/{vault.kv_mount}",
        headers={"X-Vault-Token": vault.token},
        timeout=5.0,
    ) as client:
        try:
            yield client
        finally:
            await client.delete(f"/metadata/marketplace-credentials/{store_id}")


async def write_secret(client: httpx.AsyncClient, store_id: str, fields: dict[str, str]) -> int:
    """A new version of the store's secret (what credential-vault writes); its number."""
    response = await client.post(f"/data/marketplace-credentials/{store_id}", json={"data": fields})
    response.raise_for_status()
    return int(response.json()["data"]["version"])


def credentials_changed(store_id: str, version: int) -> CredentialsChanged:
    return CredentialsChanged(
        store_id=store_id,
        platform=Platform.TRENDYOL,
        version=version,
        changed_at=datetime.now(UTC),
        deleted=False,
    )


class RecordingRetest:
    """Records the re-test requests credential-vault would get."""

    def __init__(self) -> None:
        self.requested: list[tuple[str, str]] = []

    async def request_retest(self, store_id: str, reason: str) -> None:
        self.requested.append((store_id, reason))


@dataclass
class Stage:
    """The running service, Vault (admin) and the simulator: the store polls the simulator's
    `first` account (an order FIRST-1 waits there) with its credentials, `rotated` is the
    account of the ROTATED credentials."""

    store_id: str
    api: httpx.AsyncClient
    vault: httpx.AsyncClient
    driver: SimDriver
    first: str
    rotated: str
    retest: RecordingRetest

    async def ingest(self) -> dict[str, Any]:
        response = await self.api.get(f"/v1/stores/{self.store_id}/ingest")
        response.raise_for_status()
        return dict(response.json())

    async def orders(self) -> list[str]:
        response = await self.api.get("/v1/orders", params={"store_id": self.store_id})
        return sorted(o["order_number"] for o in response.json()["orders"])

    async def wait_for_order(self, number: str, what: str) -> None:
        async def ingested() -> bool:
            return number in await self.orders()

        await wait_until(ingested, timeout=30, what=what)


@asynccontextmanager
async def stage(
    pg_dsn: str,
    kafka_bootstrap: str,
    vault_endpoint: VaultEndpoint,
    unique_name: Callable[[str], str],
) -> AsyncIterator[Stage]:
    store_id = unique_name("vault").replace("_", "-")
    settings = service_settings(
        pg_dsn,
        kafka_bootstrap,
        unique_name,
        vault=VaultSettings(
            addr=vault_endpoint.addr,
            token=SecretStr(vault_endpoint.token),
            kv_mount=vault_endpoint.kv_mount,
        ),
        backoff_max_seconds=1.0,
        fresh_overlap_seconds=60.0,
    )
    retest = RecordingRetest()
    sim_app = create_app()
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=sim_app), base_url=SIM) as sim,
        store_secret(vault_endpoint, store_id) as vault,
    ):
        driver = SimDriver(sim)
        first = await driver.account("trendyol")
        await driver.order(first, "FIRST-1", [("SKU-V", 1, "9.90")])
        rotated = await driver.account("trendyol", seller_id="2002", credentials=ROTATED)
        # No `credentials=`: the service builds servicekit's reader from `settings.vault`.
        app = build_app(
            settings, factory=AdapterFactory(sim_marketplace_settings(), client=sim), retest=retest
        )
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://oi") as api,
        ):
            yield Stage(store_id, api, vault, driver, first, rotated, retest)


async def test_credentials_come_from_vault_and_a_rotation_reaches_the_next_poll(
    pg_dsn: str,
    kafka_bootstrap: str,
    vault_endpoint: VaultEndpoint,
    unique_name: Callable[[str], str],
) -> None:
    async with stage(pg_dsn, kafka_bootstrap, vault_endpoint, unique_name) as on:
        await publish_events(
            kafka_bootstrap,
            StoreCreated(store=snapshot(on.store_id)),
            api_valid(on.store_id),
        )

        # Nothing in Vault yet: the store cannot be polled, and the ops API says why.
        async def missing() -> bool:
            response = await on.api.get(f"/v1/stores/{on.store_id}/ingest")  # 404 until projected
            return response.status_code == 200 and bool(
                response.json()["last_error_code"] == "missing_credentials"
            )

        await wait_until(missing, timeout=30, what="missing_credentials in the ops API")

        # credential-vault writes the secret and announces it: the cached "none" is dropped.
        version = await write_secret(on.vault, on.store_id, TEST_ACCOUNTS["trendyol"][1])
        await publish_events(kafka_bootstrap, credentials_changed(on.store_id, version))
        await on.wait_for_order("FIRST-1", "the first account's order")

        # Rotated in Vault but not announced yet: polls go on with the cached credentials.
        version = await write_secret(on.vault, on.store_id, ROTATED)
        await on.driver.order(on.first, "FIRST-2", [("SKU-V", 1, "9.90")])
        await on.wait_for_order("FIRST-2", "the first account's new order")

        # Announced: the next poll reads the rotated credentials (the other account). Each
        # poll re-reads the last minute (FRESH_OVERLAP), so the order is read whichever
        # poll switches.
        await publish_events(kafka_bootstrap, credentials_changed(on.store_id, version))
        await on.driver.order(on.rotated, "ROTATED-1", [("SKU-V", 1, "9.90")])
        await on.wait_for_order("ROTATED-1", "the rotated account's order")
        assert await on.orders() == ["FIRST-1", "FIRST-2", "ROTATED-1"]
        status = await on.ingest()
        assert (status["last_outcome"], status["eligible"]) == ("ok", True)


async def test_a_401_for_rotated_credentials_polls_with_the_new_version_without_a_pause(
    pg_dsn: str,
    kafka_bootstrap: str,
    vault_endpoint: VaultEndpoint,
    unique_name: Callable[[str], str],
) -> None:
    """Between credential-vault's write and the `credential_versions` commit of the replica
    that consumed the event, a replica still holds the old version. Here no event is ever
    published for the rotation, and the platform refuses the old credentials at once."""
    async with stage(pg_dsn, kafka_bootstrap, vault_endpoint, unique_name) as on:
        version = await write_secret(on.vault, on.store_id, TEST_ACCOUNTS["trendyol"][1])
        await publish_events(
            kafka_bootstrap,
            StoreCreated(store=snapshot(on.store_id)),
            api_valid(on.store_id),
            credentials_changed(on.store_id, version),
        )
        await on.wait_for_order("FIRST-1", "the first account's order")

        # Rotated in Vault, not announced; the platform refuses the old credentials now.
        await write_secret(on.vault, on.store_id, ROTATED)
        await on.driver.fault(kind="revoked_credentials", account_id=on.first)
        await on.driver.order(on.rotated, "ROTATED-1", [("SKU-V", 1, "9.90")])
        await on.wait_for_order("ROTATED-1", "the rotated account's order")
        status = await on.ingest()
        assert (status["paused_reason"], status["eligible"]) == (None, True)
        assert on.retest.requested == []
        metrics = (await on.api.get("/metrics")).text
        series = "kervan_order_ingest_auth_rejections_resolved_total"
        assert f'{series}{{store_id="{on.store_id}"}} 1.0' in metrics
