"""Secret canary: unique secrets through every path, then 0 occurrences anywhere observable.

Searched: every log record (DEBUG, all loggers, extras included) and the JSON log output, every
Kafka record (value, key, headers) on the topics the service uses (DLQ included), a dump of every
table of the service's schema, and every API response. Identifiers that platforms put in URLs
(seller/merchant/partner ids, store domains, OAuth client ids, T-Soft's user name) are not
secrets and not canaries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from kervan_contracts import topics
from kervan_servicekit.logging import configure_logging
from kervan_testkit import wait_until
from kervan_testkit.events import record_events

from ..conftest import (  # noqa: TID252 - shared helpers
    Sim,
    random_credentials,
)
from .conftest import ADMIN, Running, VaultProxy

pytestmark = pytest.mark.integration

SECRET_FIELDS = {
    "api_key",
    "api_secret",
    "service_key",
    "app_key",
    "app_secret",
    "refresh_token",
    "access_token",
    "client_secret",
    "api_password",
}
PLATFORMS = ("trendyol", "hepsiburada", "n11", "amazon_tr", "ideasoft", "tsoft")


class Exploding:
    """A checker whose exception text carries a secret (it must not surface)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    async def check(self, store: Any, fields: Any) -> Any:
        raise RuntimeError(f"boom with {self.secret}")


async def test_no_secret_escapes_any_path(
    service: Running,
    sim: Sim,
    vault_proxy: VaultProxy,
    snapshot: Callable[..., Any],
    unique_name: Callable[[str], str],
    kafka_bootstrap: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("credential-vault", "DEBUG")
    caplog.set_level(logging.DEBUG)
    canaries: set[str] = set()
    responses: list[httpx.Response] = []
    client = service.client

    async def call(method: str, url: str, **kw: Any) -> httpx.Response:
        response = await client.request(method, url, headers=ADMIN, **kw)
        responses.append(response)
        return response

    def remember(fields: dict[str, str]) -> None:
        canaries.update(v for k, v in fields.items() if k in SECRET_FIELDS)

    dlq = f"{service.settings.consumer_group}.dlq"
    watched = (topics.API_STATUS, topics.CREDENTIALS, service.settings.stores_topic, dlq)
    async with record_events(kafka_bootstrap, *watched) as rec:
        stores: dict[str, str] = {}
        for platform in PLATFORMS:
            store_id = unique_name(platform.replace("_", ""))
            stores[platform] = store_id
            await service.publish_store(snapshot(store_id, platform, version=1))

        async def all_projected() -> bool:
            for store_id in stores.values():
                got = await client.get(f"/v1/stores/{store_id}/api-status", headers=ADMIN)
                if got.status_code != 200:
                    return False
            return True

        await wait_until(all_projected, what="every store projected")

        for platform, store_id in stores.items():
            url = f"/v1/stores/{store_id}/credentials"
            good = random_credentials(platform)
            remember(good)
            account = await sim.account(platform, good)
            await call("PUT", url, json={"platform": platform, "fields": good})
            await call("GET", url)
            await call("POST", f"{url}/test")  # valid (IdeaSoft: consent required)
            # Validation failures with secrets in the body.
            wrong_platform = "n11" if platform != "n11" else "trendyol"
            await call("PUT", url, json={"platform": wrong_platform, "fields": good})
            await call("PUT", url, json={"platform": platform, "fields": {**good, "bogus": "x"}})
            await call(
                "PUT",
                url,
                json={
                    "platform": platform,
                    "fields": {k: v + "\x00" * 5000 for k, v in good.items()},
                },
            )
            # Rejected by the platform (401) ...
            bad = {k: (v + "Z" if k in SECRET_FIELDS else v) for k, v in good.items()}
            remember(bad)
            await call("PUT", url, json={"platform": platform, "fields": bad})
            await call("POST", f"{url}/test")
            # ... and a platform failing with 500.
            await call("PUT", url, json={"platform": platform, "fields": good})
            fault = await sim.fault(kind="error_rate", account_id=account, rate=1.0, status=500)
            outage = await call("POST", f"{url}/test")
            assert outage.json()["status"] in {"unknown", "invalid"}, outage.text
            await sim.clear_fault(fault)

        # OAuth consent for Amazon and IdeaSoft (tokens minted by the simulator).
        az = stores["amazon_tr"]
        start = await call("GET", "/v1/oauth/amazon_tr/start", params={"store_id": az})
        got = service.secret(az)
        assert got is not None
        consent = await sim.client.get(
            start.json()["authorization_url"]
            + "&selling_partner_id="
            + got["data"]["selling_partner_id"]
        )
        assert consent.status_code == 302, (start.text, consent.text)
        back = urlsplit(consent.headers["location"])
        await call("GET", back.path + "?" + back.query)
        await call("GET", back.path + "?" + back.query)  # replayed
        ideasoft = stores["ideasoft"]
        start = await call("GET", "/v1/oauth/ideasoft/start", params={"store_id": ideasoft})
        consent = await sim.client.get(start.json()["authorization_url"])
        assert consent.status_code == 302, (start.text, consent.text)
        back = urlsplit(consent.headers["location"])
        await call("GET", back.path + "?" + back.query)
        got = service.secret(ideasoft)
        assert got is not None
        remember(got["data"])

        # An unexpected exception whose text carries a secret.
        some_secret = next(iter(canaries))
        real_checker = service.app.state.service.checker
        service.app.state.service.checker = Exploding(some_secret)
        crashed = await call("POST", f"/v1/stores/{stores['n11']}/credentials/test")
        assert crashed.status_code == 500
        service.app.state.service.checker = real_checker

        # Vault stopped.
        await vault_proxy.stop()
        ty = stores["trendyol"]
        fresh = random_credentials("trendyol")
        remember(fresh)
        down = await call(
            "PUT", f"/v1/stores/{ty}/credentials", json={"platform": "trendyol", "fields": fresh}
        )
        assert down.status_code == 503
        await call("POST", f"/v1/stores/{ty}/credentials/test")
        await vault_proxy.start()

        # Delete through the API and through StoreDeleted.
        await call("DELETE", f"/v1/stores/{ty}/credentials")
        await service.publish_store(snapshot(stores["n11"], "n11", version=2), "deleted")

        async def n11_destroyed() -> bool:
            return service.secret(stores["n11"]) is None

        await wait_until(n11_destroyed, what="the deleted store's secret destroyed")
        await rec.settle(timeout=20)

    assert len(canaries) >= 20
    assert {r.status_code for r in responses} >= {200, 204, 400, 422, 500, 503}
    assert rec.records, "nothing was recorded from Kafka"

    haystacks: list[tuple[str, str]] = []
    haystacks += [(f"response {r.request.url}", r.text + repr(r.headers)) for r in responses]
    haystacks += [("log record", repr(record.__dict__)) for record in caplog.records]
    captured = capsys.readouterr()
    haystacks += [("stdout", captured.out), ("stderr", captured.err)]
    haystacks += [(f"kafka {r.topic}", repr(tuple(r))) for r in rec.records]
    conn = await service.db()
    try:
        names = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
            service.settings.db_schema,
        )
        assert {"outbox", "credential_metadata", "oauth_states"} <= {n[0] for n in names}
        for name in names:
            rows = await conn.fetch(f'SELECT * FROM "{name[0]}"')
            dump = "\n".join(
                repr(
                    {
                        k: bytes(v).decode("utf-8", "replace")
                        if isinstance(v, bytes | memoryview)
                        else v
                        for k, v in dict(row).items()
                    }
                )
                for row in rows
            )
            haystacks.append((f"table {name[0]}", dump))
    finally:
        await conn.close()

    # Positive controls: the search covers the places where this run's data really went.
    hb = stores["hepsiburada"]
    assert any(hb in text for where, text in haystacks if where.startswith("kafka"))
    assert any(hb in text for where, text in haystacks if where == "table credential_metadata")
    assert any(hb in text for where, text in haystacks if where == "log record")
    leaks = [(where, canary) for where, text in haystacks for canary in canaries if canary in text]
    assert leaks == [], f"{len(leaks)} secret occurrence(s): {[w for w, _ in leaks][:10]}"
