"""One adapter interface, six marketplace adapters (httpx, async).

Entry point: `AdapterFactory(settings).create(platform, store_id=..., seller_id=...,
credentials=..., test_mode=...)` → a `MarketplaceAdapter`. `capabilities_of(platform)` tells
what a platform allows without building an adapter.
"""

from kervan_marketplaces.base import StoreContext
from kervan_marketplaces.errors import (
    AuthRejected,
    MarketplaceError,
    PermanentItemFailure,
    RateLimited,
    RequestRejected,
    Transient,
    UnsafeBaseUrl,
    UnsupportedOperation,
)
from kervan_marketplaces.factory import AdapterFactory, StoreAdapter, capabilities_of
from kervan_marketplaces.interface import ListingReader, MarketplaceAdapter
from kervan_marketplaces.models import (
    AuthStyle,
    BatchHandle,
    BatchResult,
    Capabilities,
    CredentialCheck,
    EndpointLimit,
    ItemOutcome,
    ListingRef,
    OrderWindow,
    OutcomeState,
    PriceStockItem,
    ProductInfoItem,
    UpdateType,
)
from kervan_marketplaces.ratelimit import LimiterRegistry, Rate, TokenBucket
from kervan_marketplaces.retry import RetryPolicy
from kervan_marketplaces.settings import (
    IntegratorIdentity,
    MarketplaceSettings,
    PlatformUrls,
    simulator_urls,
)
from kervan_marketplaces.urls import BaseUrlPolicy, validate_base_url

__all__ = [
    "AdapterFactory",
    "AuthRejected",
    "AuthStyle",
    "BaseUrlPolicy",
    "BatchHandle",
    "BatchResult",
    "Capabilities",
    "CredentialCheck",
    "EndpointLimit",
    "IntegratorIdentity",
    "ItemOutcome",
    "LimiterRegistry",
    "ListingReader",
    "ListingRef",
    "MarketplaceAdapter",
    "MarketplaceError",
    "MarketplaceSettings",
    "OrderWindow",
    "OutcomeState",
    "PermanentItemFailure",
    "PlatformUrls",
    "PriceStockItem",
    "ProductInfoItem",
    "Rate",
    "RateLimited",
    "RequestRejected",
    "RetryPolicy",
    "StoreAdapter",
    "StoreContext",
    "TokenBucket",
    "Transient",
    "UnsafeBaseUrl",
    "UnsupportedOperation",
    "UpdateType",
    "capabilities_of",
    "simulator_urls",
    "validate_base_url",
]
