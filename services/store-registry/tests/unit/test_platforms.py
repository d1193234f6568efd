"""Platform knowledge taken from kervan_marketplaces: capabilities and store URL rules."""

from __future__ import annotations

import pytest
from store_registry.adapters.platforms import MarketplaceCatalog, validate_store_url
from store_registry.domain.errors import InvalidStoreUrl

from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import AutoUpdateType
from kervan_marketplaces import capabilities_of


def test_every_platform_has_support_derived_from_its_adapter() -> None:
    catalog = MarketplaceCatalog()
    for platform in Platform:
        support = catalog.support(platform)
        assert support.platform is platform
        assert support.update_types, platform
        # the default for new stores must itself be accepted
        assert support.default_update_type() in support.update_types


def test_support_follows_the_adapter_capabilities() -> None:
    catalog = MarketplaceCatalog()
    for platform in Platform:
        caps = capabilities_of(platform)
        support = catalog.support(platform)
        assert support.accepts_product_info == ("product_info" in caps.fields)
        assert {t.value for t in support.update_types} == {t.value for t in caps.update_types}
        if AutoUpdateType.ALL not in support.update_types:
            # e.g. hepsiburada (price and stock only): new stores must not default to "all"
            assert support.default_update_type() is not AutoUpdateType.ALL


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.amazon.com.tr/stores/page/ABC", "https://www.amazon.com.tr/stores/page/ABC"),
        ("https://Shop.Example.com/", "https://shop.example.com"),
        (
            "https://www.amazon.com.tr/stores/page/ABC?ref_=ast_bln",
            "https://www.amazon.com.tr/stores/page/ABC?ref_=ast_bln",
        ),
        ("https://shop.example.com/a#top", "https://shop.example.com/a"),
    ],
)
def test_public_https_links_are_accepted(url: str, expected: str) -> None:
    assert validate_store_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://shop.example.com",
        "ftp://shop.example.com",
        "javascript:alert(1)",
        "https://localhost/",
        "https://127.0.0.1/",
        "https://2130706433/",
        "https://0x7f.0.0.1/",
        "https://10.0.0.5/",
        "https://192.168.1.1/",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://user:pw@shop.example.com/",
        "https://shop.internal/",
        "https://shop.example.com:8443/",
        "https://shop.example.com/?q=a b",
    ],
)
def test_unsafe_links_are_refused(url: str) -> None:
    with pytest.raises(InvalidStoreUrl) as caught:
        validate_store_url(url)
    assert caught.value.details["field"] == "store_url"
