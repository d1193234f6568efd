"""Settings of the adapter library: base URLs, allowlists, timeouts, retries.

Services embed `MarketplaceSettings` (env prefix `KERVAN_MARKETPLACES_`, nested keys with `__`).
Defaults are the platforms' real documented hosts. Overrides are validated with
`validate_base_url` when the factory is built: a host must be one of the platform's documented
hosts, a configured sandbox host (`allowed_sandbox_hosts`), or an explicit simulator origin
(`simulator_origins`, the only place plain http on 127.0.0.1 is allowed).
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

STORE_DOMAIN = "{store_domain}"


class PlatformUrls(BaseModel):
    """Base URLs of one platform per role, for production and for test mode.

    Roles: `api` everywhere; Hepsiburada adds `oms`, `listing`, `catalog`; Amazon adds `lwa`
    (token endpoint) and `consent` (Seller Central). A URL may contain `{store_domain}` (IdeaSoft,
    T-Soft), replaced by the store's validated domain. An empty `sandbox` means the platform has no
    sandbox: test mode is then refused unless the sandbox is pointed at the simulator.
    """

    production: dict[str, str]
    sandbox: dict[str, str] = Field(default_factory=dict)


def _default_urls() -> dict[str, PlatformUrls]:
    return {
        "trendyol": PlatformUrls(
            production={"api": "https://apigw.trendyol.com"},
            sandbox={"api": "https://stageapigw.trendyol.com"},
        ),
        "hepsiburada": PlatformUrls(
            production={
                "oms": "https://oms-external.hepsiburada.com",
                "listing": "https://listing-external.hepsiburada.com",
                "catalog": "https://mpop.hepsiburada.com",
            },
            sandbox={
                "oms": "https://oms-external-sit.hepsiburada.com",
                "listing": "https://listing-external-sit.hepsiburada.com",
                "catalog": "https://mpop-sit.hepsiburada.com",
            },
        ),
        "n11": PlatformUrls(production={"api": "https://api.n11.com"}),
        "amazon_tr": PlatformUrls(
            production={
                "api": "https://sellingpartnerapi-eu.amazon.com",
                "lwa": "https://api.amazon.com/auth/o2/token",
                "consent": "https://sellercentral.amazon.com.tr/apps/authorize/consent",
            },
            sandbox={
                "api": "https://sandbox.sellingpartnerapi-eu.amazon.com",
                "lwa": "https://api.amazon.com/auth/o2/token",
                "consent": "https://sellercentral.amazon.com.tr/apps/authorize/consent",
            },
        ),
        "ideasoft": PlatformUrls(production={"api": "https://{store_domain}"}),
        "tsoft": PlatformUrls(production={"api": "https://{store_domain}"}),
    }


def simulator_urls(origin: str) -> dict[str, PlatformUrls]:
    """Every platform served by marketplace-sim at `origin`: production `<origin>/<platform>`,
    sandbox `<origin>/<platform>-sandbox` (the simulator's two mounts per platform)."""
    origin = origin.rstrip("/")
    urls: dict[str, PlatformUrls] = {}
    for platform, defaults in _default_urls().items():
        roles = set(defaults.production) | set(defaults.sandbox)
        tables = []
        for mount in (platform, f"{platform}-sandbox"):
            base = f"{origin}/{mount}"
            table = dict.fromkeys(sorted(roles - {"lwa", "consent"}), base)
            if platform == "amazon_tr":
                table["lwa"] = f"{base}/auth/o2/token"
                table["consent"] = f"{base}/apps/authorize/consent"
            tables.append(table)
        urls[platform] = PlatformUrls(production=tables[0], sandbox=tables[1])
    return urls


DOCUMENTED_HOSTS: dict[str, frozenset[str]] = {
    "trendyol": frozenset({"apigw.trendyol.com", "stageapigw.trendyol.com"}),
    "hepsiburada": frozenset({"*.hepsiburada.com"}),
    "n11": frozenset({"api.n11.com"}),
    "amazon_tr": frozenset(
        {
            "sellingpartnerapi-eu.amazon.com",
            "sandbox.sellingpartnerapi-eu.amazon.com",
            "api.amazon.com",
            "sellercentral.amazon.com.tr",
        }
    ),
    # Store domains are the seller's own (custom domains are common): any public host.
    "ideasoft": frozenset(),
    "tsoft": frozenset(),
}
"""Hosts a platform's base URL may name without extra configuration."""


class IntegratorIdentity(BaseModel):
    """Who Kervan is towards the platforms: service configuration, the same for every store."""

    trendyol_integrator_name: str = Field(
        default="SelfIntegration",
        pattern=r"^[A-Za-z0-9]{1,30}$",
        description="Goes into Trendyol's mandatory `User-Agent: <sellerId> - <name>`.",
    )
    hepsiburada_integrator_user: str = Field(
        default="kervan_dev",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Hepsiburada developer username, sent as `User-Agent`.",
    )
    n11_integrator_name: str = Field(
        default="Kervan", description="n11's `integrator` body field on product tasks."
    )
    amazon_lwa_client_id: SecretStr = Field(default=SecretStr(""), description="LWA client id.")
    amazon_lwa_client_secret: SecretStr = Field(
        default=SecretStr(""), description="LWA client secret."
    )
    amazon_application_id: str = Field(
        default="", description="SP-API application id (consent URL `application_id`)."
    )
    amazon_app_is_draft: bool = Field(
        default=False, description="Draft apps need `version=beta` on the consent URL."
    )
    oauth_redirect_uri: str = Field(
        default="", description="Redirect URI registered for the Amazon and IdeaSoft consent."
    )


class MarketplaceSettings(BaseSettings):
    """Everything the adapters need that is not per store."""

    model_config = SettingsConfigDict(
        env_prefix="KERVAN_MARKETPLACES_", env_nested_delimiter="__", extra="ignore"
    )

    urls: dict[str, PlatformUrls] = Field(default_factory=_default_urls)
    allowed_sandbox_hosts: list[str] = Field(
        default_factory=list,
        description="Extra https hosts (exact or `*.suffix`) a base URL override may name.",
    )
    simulator_origins: list[str] = Field(
        default_factory=list,
        description="Exact `http://127.0.0.1:<port>` origins of marketplace-sim; only these may "
        "use plain http or a loopback address.",
    )
    simulator_url: str = Field(
        default="",
        description="marketplace-sim origin (`http://127.0.0.1:8090`). When set, every "
        "platform's sandbox (test mode) URLs point at the simulator and the origin joins "
        "`simulator_origins`; production URLs stay as they are. `make up` sets it.",
    )
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    retry_attempts: int = Field(default=5, ge=1, le=20)
    retry_timeout: float = Field(default=120.0, gt=0)
    retry_wait_initial: float = Field(default=0.5, ge=0)
    retry_wait_max: float = Field(default=30.0, ge=0)
    retry_wait_jitter: float = Field(default=1.0, ge=0)
    max_retry_after: float = Field(default=60.0, ge=0)
    rate_limit_scale: float = Field(
        default=0.97,
        gt=0,
        description=(
            "Multiplies every documented rate. The default paces 3 % under the documented limit,"
            " so timer and clock differences between Kervan and the platform do not turn the"
            " last request of a window into a 429; values above 1 are for simulator runs only."
        ),
    )
    check_dns: bool = Field(
        default=True,
        description="Resolve each host before calling it and refuse private addresses.",
    )
    integrator: IntegratorIdentity = Field(default_factory=IntegratorIdentity)

    @model_validator(mode="after")
    def _point_sandboxes_at_the_simulator(self) -> Self:
        if self.simulator_url:
            origin = self.simulator_url.rstrip("/")
            for platform, sim in simulator_urls(origin).items():
                current = self.urls.get(platform)
                production = current.production if current else sim.production
                self.urls[platform] = PlatformUrls(production=production, sandbox=sim.sandbox)
            if origin not in self.simulator_origins:
                self.simulator_origins = [*self.simulator_origins, origin]
        return self
