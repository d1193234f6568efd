"""`capabilities_of(platform)`: what an adapter of that platform reports, without building one."""

from __future__ import annotations

import pytest

from kervan_contracts.identifiers import Platform
from kervan_marketplaces import AdapterFactory, Capabilities, capabilities_of

CREDENTIALS: dict[Platform, dict[str, str]] = {
    Platform.TRENDYOL: {"api_key": "ty-key", "api_secret": "ty-secret"},
    Platform.HEPSIBURADA: {
        "merchant_id": "8f2a7c9e-0d6b-4f0e-9a53-1c2b3d4e5f60",
        "service_key": "k",
    },
    Platform.N11: {"app_key": "n11-key", "app_secret": "n11-secret"},
    Platform.AMAZON_TR: {"selling_partner_id": "A1SELLER", "refresh_token": "Atzr|refresh"},
    Platform.IDEASOFT: {
        "store_domain": "demo.myideasoft.com",
        "client_id": "is-client",
        "client_secret": "is-secret",
    },
    Platform.TSOFT: {"store_domain": "demo.tsoft.example", "api_user": "u", "api_password": "p"},
}


@pytest.mark.parametrize("platform", list(Platform))
async def test_capabilities_of_equals_the_adapter_instance(platform: Platform) -> None:
    factory = AdapterFactory()
    try:
        adapter = factory.create(
            platform, store_id="s1", seller_id="seller-1", credentials=CREDENTIALS[platform]
        )
        expected = adapter.capabilities
    finally:
        await factory.aclose()
    found = capabilities_of(platform)
    assert isinstance(found, Capabilities)
    assert found == expected
    assert found.platform == platform.value
    assert capabilities_of(platform.value) == expected  # the plain id works too


def test_an_unknown_platform_is_refused() -> None:
    with pytest.raises(ValueError, match="not_a_platform"):
        capabilities_of("not_a_platform")
