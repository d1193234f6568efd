"""Platform knowledge from kervan_marketplaces: capabilities and the store URL check."""

from __future__ import annotations

from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import AutoUpdateType
from kervan_marketplaces import Capabilities, UnsafeBaseUrl, capabilities_of, validate_base_url
from store_registry.domain.errors import InvalidStoreUrl
from store_registry.domain.model import PlatformSupport

_PRODUCT_INFO = "product_info"


def support_from_capabilities(platform: Platform, caps: Capabilities) -> PlatformSupport:
    """Translate adapter capabilities into what store settings care about."""
    return PlatformSupport(
        platform=platform,
        update_types=frozenset(AutoUpdateType(t.value) for t in caps.update_types),
        accepts_product_info=_PRODUCT_INFO in caps.fields,
    )


class MarketplaceCatalog:
    """`PlatformCatalog` backed by the marketplace adapters' documented capabilities."""

    def __init__(self) -> None:
        self._support = {
            platform: support_from_capabilities(platform, capabilities_of(platform))
            for platform in Platform
        }

    def support(self, platform: Platform) -> PlatformSupport:
        """Update types and fields the platform accepts."""
        return self._support[platform]


def validate_store_url(url: str) -> str:
    """A seller-typed store link: public https host (SSRF rules of kervan_marketplaces).

    Unlike an API base URL, a shop link may carry a query (Amazon store pages do); the
    fragment is dropped, the rest must pass `validate_base_url` unchanged in spirit.
    """
    link, _, _fragment = url.partition("#")
    base, sep, query = link.partition("?")
    try:
        checked = validate_base_url(base)
    except UnsafeBaseUrl as exc:
        raise InvalidStoreUrl(
            f"store_url is not a public https address: {exc}",
            {"field": "store_url", "rule": exc.code},
        ) from exc
    if sep and any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in query):
        raise InvalidStoreUrl(
            "store_url query contains whitespace or control characters",
            {"field": "store_url", "rule": "malformed"},
        )
    return f"{checked}?{query}" if sep and query else checked
