"""Composition: settings + shared state (HTTP client, limiters, token cache) → adapters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from kervan_contracts.identifiers import Platform
from kervan_marketplaces.base import AdapterBase, Clock, StoreContext, utc_now
from kervan_marketplaces.errors import UnsupportedOperation
from kervan_marketplaces.interface import MarketplaceAdapter
from kervan_marketplaces.models import Capabilities
from kervan_marketplaces.oauth import TokenCache
from kervan_marketplaces.platforms.amazon import AmazonAdapter, AmazonAuthorization
from kervan_marketplaces.platforms.hepsiburada import HepsiburadaAdapter
from kervan_marketplaces.platforms.ideasoft import IdeaSoftAdapter, TokenSink
from kervan_marketplaces.platforms.n11 import N11Adapter
from kervan_marketplaces.platforms.trendyol import TrendyolAdapter
from kervan_marketplaces.platforms.tsoft import TSoftAdapter
from kervan_marketplaces.ratelimit import LimiterRegistry
from kervan_marketplaces.retry import RetryPolicy
from kervan_marketplaces.settings import DOCUMENTED_HOSTS, STORE_DOMAIN, MarketplaceSettings
from kervan_marketplaces.transport import PlatformHttp
from kervan_marketplaces.urls import BaseUrlPolicy, validate_base_url

SELLER_ID_FIELDS = ("seller_id", "merchant_id", "selling_partner_id", "store_domain", "app_key")
"""Credential fields that name the seller on its platform, in the order they are looked for."""


@dataclass(frozen=True, slots=True)
class StoreAdapter:
    """A store's marketplace adapter and the version of the credentials it was built with
    (after a 401/403 a service compares it with what Vault holds now)."""

    adapter: MarketplaceAdapter
    credentials_version: int


ADAPTERS: dict[Platform, type[AdapterBase]] = {
    Platform.TRENDYOL: TrendyolAdapter,
    Platform.HEPSIBURADA: HepsiburadaAdapter,
    Platform.N11: N11Adapter,
    Platform.AMAZON_TR: AmazonAdapter,
    Platform.IDEASOFT: IdeaSoftAdapter,
    Platform.TSOFT: TSoftAdapter,
}


def capabilities_of(platform: Platform | str) -> Capabilities:
    """What `platform`'s API allows, without an adapter (no credentials, no I/O).

    Equal to `adapter.capabilities` of every adapter the factory builds for the platform.
    """
    return ADAPTERS[Platform(platform)].platform_capabilities()


class AdapterFactory:
    """Builds adapters for stores; one per process, so limiters and tokens are shared.

    `client` may be injected (tests pass an `httpx.AsyncClient` on an ASGI transport); otherwise
    the factory owns one with redirects off and the configured timeouts (close it with `aclose`).
    Every configured base URL is validated here, so a bad override fails at start-up.
    """

    def __init__(
        self,
        settings: MarketplaceSettings | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        limiters: LimiterRegistry | None = None,
        token_cache: TokenCache | None = None,
        clock: Clock = utc_now,
        token_sink: TokenSink | None = None,
    ) -> None:
        self.settings = settings or MarketplaceSettings()
        self._owns_client = client is None
        self._timeout = httpx.Timeout(
            self.settings.read_timeout, connect=self.settings.connect_timeout
        )
        self.client = client or httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        self.limiters = limiters or LimiterRegistry()
        self.token_cache = token_cache or TokenCache()
        self._clock = clock
        self._token_sink = token_sink
        self._retry = RetryPolicy(
            attempts=self.settings.retry_attempts,
            timeout=self.settings.retry_timeout,
            wait_initial=self.settings.retry_wait_initial,
            wait_max=self.settings.retry_wait_max,
            wait_jitter=self.settings.retry_wait_jitter,
            max_retry_after=self.settings.max_retry_after,
        )
        self._sim_origins = frozenset(
            o.lower().rstrip("/") for o in self.settings.simulator_origins
        )
        for platform in Platform:
            for test_mode in (False, True):
                for url in self._raw_urls(platform, test_mode).values():
                    if STORE_DOMAIN not in url:
                        validate_base_url(url, self.policy(platform))

    def policy(self, platform: Platform) -> BaseUrlPolicy:
        """Hosts a base URL of `platform` may name."""
        documented = DOCUMENTED_HOSTS[platform.value]
        hosts = set(documented)
        if documented:
            hosts |= set(self.settings.allowed_sandbox_hosts)
        return BaseUrlPolicy.of(hosts, self._sim_origins)

    def _raw_urls(self, platform: Platform, test_mode: bool) -> dict[str, str]:
        urls = self.settings.urls[platform.value]
        chosen = urls.sandbox if test_mode else urls.production
        return dict(chosen)

    def resolve_urls(
        self, platform: Platform, test_mode: bool, store_domain: str | None = None
    ) -> dict[str, str]:
        """Validated base URL per role for a store (sandbox ones in test mode)."""
        raw = self._raw_urls(platform, test_mode)
        if not raw:
            raise UnsupportedOperation(
                "the platform has no sandbox; point its sandbox URL at the simulator",
                code="no_sandbox",
                platform=platform.value,
            )
        resolved = {}
        for role, template in raw.items():
            url = template
            if STORE_DOMAIN in url:
                if not store_domain:
                    raise ValueError(f"{platform.value} stores need a store_domain credential")
                # The seller typed this domain: it must be a public https host on its own.
                domain_url = validate_base_url(f"https://{store_domain.strip().lower()}")
                url = url.replace("https://" + STORE_DOMAIN, domain_url)
            resolved[role] = validate_base_url(url, self.policy(platform))
        return resolved

    def _http(self, platform: Platform, store_id: str) -> PlatformHttp:
        return PlatformHttp(
            platform=platform.value,
            store_key=f"{platform.value}:{store_id}",
            client=self.client,
            limiters=self.limiters,
            retry=self._retry,
            timeout=self._timeout,
            rate_scale=self.settings.rate_limit_scale,
            dns_exempt_origins=self._sim_origins,
            check_dns=self.settings.check_dns,
        )

    def create(
        self,
        platform: Platform | str,
        *,
        store_id: str,
        seller_id: str,
        credentials: Mapping[str, SecretStr | str],
        test_mode: bool = False,
        **extra: Any,
    ) -> MarketplaceAdapter:
        """An adapter for one store. Credentials are wrapped in SecretStr at once."""
        platform = Platform(platform)
        secrets = {
            name: value if isinstance(value, SecretStr) else SecretStr(str(value))
            for name, value in credentials.items()
        }
        store_domain = (
            secrets["store_domain"].get_secret_value() if "store_domain" in secrets else None
        )
        store = StoreContext(
            store_id=store_id, seller_id=seller_id, credentials=secrets, test_mode=test_mode
        )
        kwargs: dict[str, Any] = {
            "store": store,
            "urls": self.resolve_urls(platform, test_mode, store_domain),
            "http": self._http(platform, store_id),
            "integrator": self.settings.integrator,
            "clock": self._clock,
        }
        if platform in (Platform.AMAZON_TR, Platform.IDEASOFT, Platform.TSOFT):
            kwargs["token_cache"] = self.token_cache
        if platform is Platform.IDEASOFT:
            kwargs["token_sink"] = self._token_sink
        kwargs.update(extra)
        adapter: MarketplaceAdapter = ADAPTERS[platform](**kwargs)
        return adapter

    def create_for_store(
        self,
        platform: Platform | str,
        *,
        store_id: str,
        credentials: Mapping[str, str],
        test_mode: bool = False,
    ) -> MarketplaceAdapter:
        """An adapter for one store from its stored credentials alone: the seller id is the
        first of `SELLER_ID_FIELDS` the credentials hold ("" when none does)."""
        seller_id = next((credentials[f] for f in SELLER_ID_FIELDS if credentials.get(f)), "")
        return self.create(
            platform,
            store_id=store_id,
            seller_id=seller_id,
            credentials=credentials,
            test_mode=test_mode,
        )

    def amazon_authorization(self, *, test_mode: bool = False) -> AmazonAuthorization:
        """Consent URL builder and code exchange for Amazon (integrator-level, not per store)."""
        return AmazonAuthorization(
            urls=self.resolve_urls(Platform.AMAZON_TR, test_mode),
            http=self._http(Platform.AMAZON_TR, "_authorization"),
            integrator=self.settings.integrator,
        )

    async def aclose(self) -> None:
        """Close the HTTP client if the factory created it."""
        if self._owns_client:
            await self.client.aclose()
