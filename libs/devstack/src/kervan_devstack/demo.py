"""`python -m kervan_devstack.demo`: the demo data of `make up` that spans several services.

Each service seeds its own demo data (store-registry: reference lists and one test-mode store
per platform; marketplace-sim: one account per platform). What is left is what a seller would do
by hand: copy each marketplace account's API credentials from the platform's panel (the
simulator's `GET /_sim/accounts/{id}/credentials`) into credential-vault, and press "test API".
One extra store gets a wrong key, so the demo shows an invalid API status too.

Only HTTP is used, through the services' public APIs; nothing here imports a service.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

WRONG_KEY_TITLE = "Demo trendyol (wrong key)"
#: How long to wait for credential-vault to learn a new store from kervan.stores.v1.
PROJECTION_WAIT_SECONDS = 60.0


class DemoSeedError(RuntimeError):
    """The demo could not be seeded; the message says which step failed."""


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise DemoSeedError(f"{name} is not set (run through `make up`)")
    return value


def _until(
    attempt: Callable[[], httpx.Response], done: Callable[[httpx.Response], bool], what: str
) -> httpx.Response:
    deadline = time.monotonic() + PROJECTION_WAIT_SECONDS
    while True:
        response = attempt()
        if done(response):
            return response
        if time.monotonic() > deadline:
            raise DemoSeedError(f"{what}: HTTP {response.status_code} {response.text[:200]}")
        time.sleep(0.5)


def _stores(registry: httpx.Client) -> list[dict[str, Any]]:
    stores: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = registry.get("/v1/stores", params=params)
        page.raise_for_status()
        body = page.json()
        stores.extend(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            return stores


def _wrong_key_store(registry: httpx.Client, stores: list[dict[str, Any]]) -> dict[str, Any]:
    for store in stores:
        if store["title"] == WRONG_KEY_TITLE:
            return store
    created = registry.post(
        "/v1/stores", json={"title": WRONG_KEY_TITLE, "platform": "trendyol", "test_mode": True}
    )
    created.raise_for_status()
    return dict(created.json())


def _test(vault: httpx.Client, path: str) -> dict[str, Any]:
    tested = vault.post(f"{path}/test")
    tested.raise_for_status()
    return dict(tested.json())


def _consent(vault: httpx.Client, sim: httpx.Client, store: dict[str, Any]) -> None:
    """Walk the OAuth consent like a seller clicking "Authorize": start at credential-vault,
    approve at the platform (the simulator approves at once), land on the callback."""
    start = vault.get(f"/v1/oauth/{store['platform']}/start", params={"store_id": store["id"]})
    start.raise_for_status()
    approved = sim.get(start.json()["authorization_url"], follow_redirects=False)
    if not approved.is_redirect:
        raise DemoSeedError(f"consent for {store['title']}: HTTP {approved.status_code}")
    # The callback authenticates by its signed state, not by the bearer token.
    callback = httpx.get(approved.headers["location"], timeout=30)
    callback.raise_for_status()


def seed(sim_url: str, registry_url: str, vault_url: str, admin_token: str) -> list[str]:
    """Store and test every demo store's credentials; returns one summary line per store."""
    auth = {"Authorization": f"Bearer {admin_token}"}
    with (
        httpx.Client(base_url=sim_url, timeout=10) as sim,
        httpx.Client(base_url=registry_url, headers=auth, timeout=10) as registry,
        httpx.Client(base_url=vault_url, headers=auth, timeout=30) as vault,
    ):
        panel: dict[str, dict[str, str]] = {}
        for account in sim.get("/_sim/accounts").raise_for_status().json():
            if account["platform"] not in panel:
                issued = sim.get(f"/_sim/accounts/{account['account_id']}/credentials")
                panel[account["platform"]] = issued.raise_for_status().json()["credentials"]

        stores = _stores(registry)
        wrong = _wrong_key_store(registry, stores)
        if all(s["id"] != wrong["id"] for s in stores):
            stores.append(wrong)

        lines = []
        for store in stores:
            fields = panel.get(store["platform"])
            if fields is None:
                continue
            if store["id"] == wrong["id"]:
                fields = {**fields, "api_key": "wrong-demo-key"}
            path = f"/v1/stores/{store['id']}/credentials"
            body = {"platform": store["platform"], "fields": fields}
            # credential-vault learns of the store from Kafka: 404 until its projection has it.
            _until(
                functools.partial(vault.put, path, json=body),
                lambda r: r.status_code != 404,
                f"storing credentials of {store['title']}",
            ).raise_for_status()
            result = _test(vault, path)
            if result.get("reason_code") == "consent_required":
                _consent(vault, sim, store)
                result = _test(vault, path)
            reason = f" ({result['reason_code']})" if result.get("reason_code") else ""
            lines.append(f"{store['title']:<28} {store['platform']:<12} {result['status']}{reason}")
        return lines


def main() -> None:
    """Console entry: seed and print the API status of every demo store."""
    try:
        lines = seed(
            _env("KERVAN_SIM_URL"),
            _env("KERVAN_STORE_REGISTRY_URL"),
            _env("KERVAN_CREDENTIAL_VAULT_URL"),
            _env("KERVAN_ADMIN_TOKEN"),
        )
    except (DemoSeedError, httpx.HTTPError) as exc:
        print(f"demo seed: error: {exc}", file=sys.stderr)
        sys.exit(1)
    print("demo stores and their API status:", file=sys.stderr)
    for line in lines:
        print(f"  {line}", file=sys.stderr)


if __name__ == "__main__":
    main()
