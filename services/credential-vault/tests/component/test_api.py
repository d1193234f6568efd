"""Credentials API end to end on fakes, with platform checks against marketplace-sim."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from kervan_contracts.credentials.v1 import ApiStatusChanged

from ..conftest import (  # noqa: TID252 - shared helpers
    Sim,
    random_credentials,
)
from .conftest import ADMIN, OPERATOR, VIEWER, Api

PLATFORMS = ("trendyol", "hepsiburada", "n11", "amazon_tr", "ideasoft", "tsoft")


def error_code(response: Any) -> str:
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}
    return str(body["error"]["code"])


async def test_roles_guard_every_route(api: Api) -> None:
    await api.add_store("s1", "n11")
    body = {"platform": "n11", "fields": {"app_key": "a", "app_secret": "b"}}
    url = "/v1/stores/s1/credentials"
    assert error_code(await api.client.put(url, json=body)) == "unauthenticated"
    bad = {"Authorization": "Bearer nope"}
    assert (await api.client.get(url, headers=bad)).status_code == 401
    for headers in (OPERATOR, VIEWER):
        response = await api.client.put(url, json=body, headers=headers)
        assert (response.status_code, error_code(response)) == (403, "forbidden")
        assert (await api.client.delete(url, headers=headers)).status_code == 403
    assert (await api.client.post(f"{url}/test", headers=VIEWER)).status_code == 403
    assert (await api.client.put(url, json=body, headers=ADMIN)).status_code == 200
    assert (await api.client.get(url, headers=VIEWER)).status_code == 200


async def test_put_get_delete_never_returns_a_value(api: Api) -> None:
    await api.add_store("s1", "trendyol")
    creds = random_credentials("trendyol")
    url = "/v1/stores/s1/credentials"
    put = await api.client.put(url, json={"platform": "trendyol", "fields": creds}, headers=ADMIN)
    assert put.status_code == 200, put.text
    got = await api.client.get(url, headers=VIEWER)
    assert got.json() == put.json()
    assert got.json()["fields_set"] == ["api_key", "api_secret", "seller_id"]
    assert got.json()["vault_version"] == 1
    assert got.json()["updated_by"] == "admin"
    for value in creds.values():
        assert value not in put.text
        assert value not in got.text
    assert api.vault.secrets["s1"].fields == creds
    assert (await api.client.delete(url, headers=ADMIN)).status_code == 204
    assert error_code(await api.client.get(url, headers=ADMIN)) == "credentials_not_set"
    assert api.vault.secrets == {}


@pytest.mark.parametrize(
    ("store", "body", "status", "code"),
    [
        (
            "nope",
            {"platform": "n11", "fields": {"app_key": "a", "app_secret": "b"}},
            404,
            "store_not_found",
        ),
        ("s1", {"platform": "trendyol", "fields": {"api_key": "a"}}, 422, "platform_mismatch"),
        ("s1", {"platform": "n11", "fields": {"app_key": "a"}}, 422, "invalid_credentials"),
        (
            "s1",
            {"platform": "n11", "fields": {"app_key": "a", "app_secret": "b", "x": "c"}},
            422,
            "invalid_credentials",
        ),
        ("s1", {"platform": "n11"}, 422, "validation_error"),
        ("s1", {"platform": "mars", "fields": {}}, 422, "validation_error"),
        ("bad id!", {"platform": "n11", "fields": {}}, 422, "validation_error"),
    ],
)
async def test_put_refusals(
    api: Api, store: str, body: dict[str, Any], status: int, code: str
) -> None:
    await api.add_store("s1", "n11")
    response = await api.client.put(f"/v1/stores/{store}/credentials", json=body, headers=ADMIN)
    assert (response.status_code, error_code(response)) == (status, code)
    assert api.vault.secrets == {}


async def test_validation_errors_do_not_echo_input(api: Api) -> None:
    await api.add_store("s1", "n11")
    secret = "CANARY-echo-" + "x" * 5000  # too long: a validation error about this value
    body = {"platform": "n11", "fields": {"app_key": "a", "app_secret": secret}}
    response = await api.client.put("/v1/stores/s1/credentials", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert "CANARY-echo" not in response.text


async def test_vault_down_is_a_generic_503_and_recovers(api: Api) -> None:
    await api.add_store("s1", "n11")
    body = {"platform": "n11", "fields": {"app_key": "a", "app_secret": "b"}}
    api.vault.available = False
    response = await api.client.put("/v1/stores/s1/credentials", json=body, headers=ADMIN)
    assert (response.status_code, error_code(response)) == (503, "secret_store_unavailable")
    assert response.headers["retry-after"] == "5"
    assert api.uow.state.metadata == {}
    assert api.uow.state.events[1:] == []
    api.vault.available = True
    response = await api.client.put("/v1/stores/s1/credentials", json=body, headers=ADMIN)
    assert response.status_code == 200


@pytest.mark.parametrize("platform", [p for p in PLATFORMS if p != "ideasoft"])
async def test_check_against_the_platform_valid_then_invalid(
    api: Api, sim: Sim, platform: str
) -> None:
    creds = random_credentials(platform)
    await sim.account(platform, creds)
    await api.add_store("s1", platform)
    url = "/v1/stores/s1/credentials"
    await api.client.put(url, json={"platform": platform, "fields": creds}, headers=ADMIN)
    valid = await api.client.post(f"{url}/test", headers=OPERATOR)
    assert valid.status_code == 200, valid.text
    assert (valid.json()["status"], valid.json()["reason_code"]) == ("valid", None)
    wrong = {
        **creds,
        **{
            k: v + "x"
            for k, v in creds.items()
            if "secret" in k or "key" in k or "password" in k or "token" in k
        },
    }
    await api.client.put(url, json={"platform": platform, "fields": wrong}, headers=ADMIN)
    invalid = await api.client.post(f"{url}/test", headers=OPERATOR)
    assert invalid.json()["status"] == "invalid", invalid.text
    assert invalid.json()["reason_code"] in {"auth_rejected", "forbidden", "invalid_grant"}
    statuses = [e.payload for e in api.uow.state.events if isinstance(e.payload, ApiStatusChanged)]
    assert [s.status.value for s in statuses] == ["unknown", "valid", "invalid"]
    for value in wrong.values():
        assert value not in invalid.text


async def test_test_mode_uses_the_sandbox_base(api: Api, sim: Sim) -> None:
    creds = random_credentials("n11")
    await sim.account("n11", creds)
    await api.add_store("live", "n11", test_mode=False)
    await api.add_store("sandboxed", "n11", test_mode=True)
    for store in ("live", "sandboxed"):
        body = {"platform": "n11", "fields": creds}
        await api.client.put(f"/v1/stores/{store}/credentials", json=body, headers=ADMIN)
    sim.paths.clear()
    await api.client.post("/v1/stores/live/credentials/test", headers=ADMIN)
    assert sim.paths
    assert all(p.startswith("/n11/") for p in sim.paths)
    sim.paths.clear()
    response = await api.client.post("/v1/stores/sandboxed/credentials/test", headers=ADMIN)
    assert response.json()["test_mode"] is True
    assert sim.paths
    assert all(p.startswith("/n11-sandbox/") for p in sim.paths)


async def test_platform_outage_is_unknown_not_invalid(api: Api, sim: Sim) -> None:
    creds = random_credentials("trendyol")
    account = await sim.account("trendyol", creds)
    await api.add_store("s1", "trendyol")
    await api.client.put(
        "/v1/stores/s1/credentials", json={"platform": "trendyol", "fields": creds}, headers=ADMIN
    )
    await sim.fault(kind="error_rate", account_id=account, rate=1.0, status=500)
    response = await api.client.post("/v1/stores/s1/credentials/test", headers=ADMIN)
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["reason_code"]) == (
        "unknown",
        "platform_unreachable",
    )


async def test_amazon_consent_round_trip_and_replay(api: Api, sim: Sim) -> None:
    creds = random_credentials("amazon_tr")
    await sim.account("amazon_tr", creds)
    await api.add_store("az", "amazon_tr")
    start = await api.client.get(
        "/v1/oauth/amazon_tr/start", params={"store_id": "az"}, headers=ADMIN
    )
    assert start.status_code == 200, start.text
    # The simulator has no seller login: the seller is named on the consent URL.
    consent = await sim.client.get(
        start.json()["authorization_url"] + "&selling_partner_id=" + creds["selling_partner_id"]
    )
    assert consent.status_code == 302
    back = urlsplit(consent.headers["location"])
    assert back.path == "/v1/oauth/amazon_tr/callback"
    callback = await api.client.get(back.path + "?" + back.query)
    assert callback.status_code == 200, callback.text
    assert callback.json()["fields_set"] == ["refresh_token", "selling_partner_id"]
    assert api.vault.secrets["az"].fields == creds
    assert creds["refresh_token"] not in callback.text
    replay = await api.client.get(back.path + "?" + back.query)
    assert (replay.status_code, error_code(replay)) == (400, "invalid_oauth_state")
    check = await api.client.post("/v1/stores/az/credentials/test", headers=ADMIN)
    assert check.json()["status"] == "valid"


async def test_ideasoft_consent_round_trip_and_forged_state(api: Api, sim: Sim) -> None:
    creds = random_credentials("ideasoft")
    await sim.account("ideasoft", creds)
    await api.add_store("is", "ideasoft")
    await api.client.put(
        "/v1/stores/is/credentials", json={"platform": "ideasoft", "fields": creds}, headers=ADMIN
    )
    before = await api.client.post("/v1/stores/is/credentials/test", headers=ADMIN)
    assert (before.json()["status"], before.json()["reason_code"]) == (
        "invalid",
        "consent_required",
    )
    start = await api.client.get(
        "/v1/oauth/ideasoft/start", params={"store_id": "is"}, headers=ADMIN
    )
    consent = await sim.client.get(start.json()["authorization_url"])
    assert consent.status_code == 302, consent.text
    back = urlsplit(consent.headers["location"])
    query = parse_qs(back.query)
    forged = await api.client.get(
        back.path, params={"state": query["state"][0] + "A", "code": query["code"][0]}
    )
    assert (forged.status_code, error_code(forged)) == (400, "invalid_oauth_state")
    callback = await api.client.get(back.path + "?" + back.query)
    assert callback.status_code == 200, callback.text
    assert {"access_token", "refresh_token"} <= set(callback.json()["fields_set"])
    assert callback.json()["vault_version"] == 2
    after = await api.client.post("/v1/stores/is/credentials/test", headers=ADMIN)
    assert after.json()["status"] == "valid", after.text
    await api.client.put(
        "/v1/stores/is/credentials",
        json={"platform": "ideasoft", "fields": {**creds, "client_secret": "wrong"}},
        headers=ADMIN,
    )
    wrong = await api.client.post("/v1/stores/is/credentials/test", headers=ADMIN)
    assert wrong.json()["status"] == "invalid", wrong.text


async def test_oauth_is_refused_for_other_platforms(api: Api) -> None:
    await api.add_store("ty", "trendyol")
    response = await api.client.get(
        "/v1/oauth/trendyol/start", params={"store_id": "ty"}, headers=ADMIN
    )
    assert (response.status_code, error_code(response)) == (404, "unsupported_platform")


async def test_oversized_body_is_refused(api: Api) -> None:
    await api.add_store("s1", "n11")
    big = {
        "platform": "n11",
        "fields": {"app_key": "a" * 4000, "app_secret": "b" * 4000, "x": "c" * 9000},
    }
    response = await api.client.put("/v1/stores/s1/credentials", json=big, headers=ADMIN)
    assert (response.status_code, error_code(response)) == (413, "body_too_large")
