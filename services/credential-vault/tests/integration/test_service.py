"""Store lifecycle, credentials, checks and Vault outages on real servers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from credential_vault.bootstrap import build_app

from kervan_contracts import topics
from kervan_testkit import wait_until
from kervan_testkit.events import record_events

from ..conftest import (  # noqa: TID252 - shared helpers
    Sim,
    random_credentials,
)
from .conftest import ADMIN, Running, VaultProxy

pytestmark = pytest.mark.integration


def for_store(records: list[Any], store_id: str) -> list[Any]:
    return [r for r in records if r[0] == store_id]


async def status_of(service: Running, store_id: str) -> dict[str, Any] | None:
    response = await service.client.get(f"/v1/stores/{store_id}/api-status", headers=ADMIN)
    return response.json() if response.status_code == 200 else None


async def test_store_lifecycle_end_to_end(
    service: Running,
    sim: Sim,
    snapshot: Callable[..., Any],
    unique_name: Callable[[str], str],
    kafka_bootstrap: str,
) -> None:
    store_id = unique_name("store")
    creds = random_credentials("trendyol")
    await sim.account("trendyol", creds)
    async with record_events(kafka_bootstrap, topics.API_STATUS, topics.CREDENTIALS) as rec:
        await service.publish_store(snapshot(store_id, "trendyol", version=1))

        async def projected() -> bool:
            return await status_of(service, store_id) is not None

        await wait_until(projected, what="the store projection")
        url = f"/v1/stores/{store_id}/credentials"
        put = await service.client.put(
            url, json={"platform": "trendyol", "fields": creds}, headers=ADMIN
        )
        assert put.status_code == 200, put.text
        stored = service.secret(store_id)
        assert stored is not None
        assert stored["data"] == creds
        assert stored["metadata"]["version"] == put.json()["vault_version"] == 1
        check = await service.client.post(f"{url}/test", headers=ADMIN)
        assert check.json()["status"] == "valid"

        # Test mode on: the service re-checks by itself, against the sandbox base.
        sim.paths.clear()
        await service.publish_store(
            snapshot(store_id, "trendyol", version=2, test_mode=True), "updated"
        )

        async def rechecked() -> bool:
            status = await status_of(service, store_id)
            return bool(status and status["test_mode"])

        await wait_until(rechecked, what="the re-check in test mode")
        assert sim.paths
        assert all(p.startswith("/trendyol-sandbox/") for p in sim.paths)

        await service.publish_store(snapshot(store_id, "trendyol", version=3), "deleted")

        async def destroyed() -> bool:
            return service.secret(store_id) is None

        await wait_until(destroyed, what="the secret destroyed")
        await wait_until(
            lambda: _has_tombstones(rec.records, store_id), what="the tombstones", timeout=30
        )
    mine = for_store(rec.records, store_id)
    statuses = [
        r[2]["data"]["status"] if r[2] else None for r in mine if r.topic == topics.API_STATUS
    ]
    assert statuses == ["unknown", "valid", "valid", "unknown", None]
    changes = [r[2] for r in mine if r.topic == topics.CREDENTIALS]
    assert changes[0]["data"]["version"] == 1
    assert changes[0]["data"]["fields_set"] == ["api_key", "api_secret", "seller_id"]
    assert changes[1]["data"]["deleted"] is True
    assert changes[2] is None
    gone = await service.client.get(f"/v1/stores/{store_id}/credentials", headers=ADMIN)
    assert gone.status_code == 404


async def test_credentials_entered_again_after_a_delete_get_a_higher_version(
    service: Running,
    snapshot: Callable[..., Any],
    unique_name: Callable[[str], str],
    kafka_bootstrap: str,
) -> None:
    store_id = unique_name("store")
    url = f"/v1/stores/{store_id}/credentials"
    body = {"platform": "trendyol", "fields": random_credentials("trendyol")}
    async with record_events(kafka_bootstrap, topics.CREDENTIALS) as rec:
        await service.publish_store(snapshot(store_id, "trendyol", version=1))

        async def projected() -> bool:
            return await status_of(service, store_id) is not None

        await wait_until(projected, what="the store projection")
        for _ in range(2):
            assert (await service.client.put(url, json=body, headers=ADMIN)).status_code == 200
        assert (await service.client.delete(url, headers=ADMIN)).status_code == 204

        # Every version's data is gone; Vault keeps only the metadata, i.e. the counter.
        assert service.secret(store_id) is None
        kv_metadata = service.vault.secrets.kv.v2.read_secret_metadata(
            path=f"{service.settings.vault_prefix}/{store_id}",
            mount_point=service.settings.vault.kv_mount,
        )
        assert all(v["destroyed"] for v in kv_metadata["data"]["versions"].values())
        check = await service.client.post(f"{url}/test", headers=ADMIN)
        assert check.json()["error"]["code"] == "credentials_not_set"

        put = await service.client.put(url, json=body, headers=ADMIN)
        assert put.json()["vault_version"] == 3
        assert service.secret(store_id) is not None

        async def all_published() -> bool:
            return len(for_store(rec.records, store_id)) >= 4

        await wait_until(all_published, what="the credential events")
    changes = [r[2]["data"] for r in for_store(rec.records, store_id)]
    assert [(c["version"], c["deleted"]) for c in changes] == [
        (1, False),
        (2, False),
        (2, True),
        (3, False),
    ]


async def _has_tombstones(records: list[Any], store_id: str) -> bool:
    return sum(1 for r in records if r[0] == store_id and r[2] is None) >= 2


async def test_vault_outage_answers_503_writes_nothing_and_recovers(
    service: Running,
    vault_proxy: VaultProxy,
    snapshot: Callable[..., Any],
    unique_name: Callable[[str], str],
) -> None:
    store_id = unique_name("store")
    await service.publish_store(snapshot(store_id, "n11", version=1))

    async def projected() -> bool:
        return await status_of(service, store_id) is not None

    await wait_until(projected, what="the store projection")
    conn = await service.db()
    try:
        outbox_before = await conn.fetchval("SELECT count(*) FROM outbox")
        await vault_proxy.stop()
        body = {"platform": "n11", "fields": random_credentials("n11")}
        url = f"/v1/stores/{store_id}/credentials"
        down = await service.client.put(url, json=body, headers=ADMIN)
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "secret_store_unavailable"
        assert (await service.client.post(f"{url}/test", headers=ADMIN)).status_code in {404, 503}
        assert await conn.fetchval("SELECT count(*) FROM credential_metadata") == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox") == outbox_before
        await vault_proxy.start()  # same port: the service recovers without a restart
        up = await service.client.put(url, json=body, headers=ADMIN)
        assert up.status_code == 200, up.text
        assert service.secret(store_id) is not None
    finally:
        await conn.close()


async def test_health_and_metrics(service: Running) -> None:
    assert (await service.client.get("/healthz")).status_code == 200
    ready = await service.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    metrics = await service.client.get("/metrics")
    assert "kervan_credential_vault_build_info" in metrics.text


def _status_series(text: str, store_id: str) -> dict[str, float]:
    """`status -> value` of the store's `kervan_credential_vault_store_api_status` samples."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("kervan_credential_vault_store_api_status{") and (
            f'store_id="{store_id}"' in line
        ):
            status = line.split('status="', 1)[1].split('"', 1)[0]
            found[status] = float(line.rsplit(" ", 1)[1])
    return found


async def test_status_gauge_shows_invalid_and_survives_a_restart(
    service: Running,
    sim: Sim,
    snapshot: Callable[..., Any],
    unique_name: Callable[[str], str],
    marketplaces: Any,
) -> None:
    store_id = unique_name("store")
    creds = random_credentials("trendyol")
    await sim.account("trendyol", creds)
    await service.publish_store(snapshot(store_id, "trendyol", version=1))

    async def projected() -> bool:
        return await status_of(service, store_id) is not None

    await wait_until(projected, what="the store projection")
    url = f"/v1/stores/{store_id}/credentials"
    wrong = {**creds, "api_key": "not-the-key"}
    put = await service.client.put(
        url, json={"platform": "trendyol", "fields": wrong}, headers=ADMIN
    )
    assert put.status_code == 200, put.text
    check = await service.client.post(f"{url}/test", headers=ADMIN)
    assert check.json()["status"] == "invalid"
    metrics = (await service.client.get("/metrics")).text
    assert _status_series(metrics, store_id) == {"valid": 0.0, "invalid": 1.0, "unknown": 0.0}

    # A new process on the same database reports the stored status before checking anything.
    restarted = build_app(service.settings, marketplaces=marketplaces, consume=False)
    async with restarted.router.lifespan_context(restarted):
        transport = httpx.ASGITransport(app=restarted)
        async with httpx.AsyncClient(transport=transport, base_url="http://cv2") as client:
            text = (await client.get("/metrics")).text
    assert _status_series(text, store_id) == {"valid": 0.0, "invalid": 1.0, "unknown": 0.0}
