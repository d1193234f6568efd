"""Settings of the simulator, read from `MARKETPLACE_SIM_*` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SimSettings(BaseSettings):
    """Tunable behaviour; every field can be set with `MARKETPLACE_SIM_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="MARKETPLACE_SIM_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8090
    log_level: str = "info"
    demo: bool = False
    batch_delay_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How long an asynchronous batch stays pending on the simulator clock.",
    )
    rate_limits: bool = Field(
        default=True, description="Enforce documented rate limits (per account may override)."
    )
    random_seed: int = 20260101
    amazon_lwa_client_id: str = "amzn1.application-oa2-client.kervan-sim"
    amazon_lwa_client_secret: str = "kervan-sim-lwa-secret"  # noqa: S105 - public demo value
    amazon_application_id: str = "amzn1.sp.solution.kervan-sim"
    amazon_app_is_draft: bool = Field(
        default=False, description="When true the consent page demands `version=beta` (MD1000)."
    )
    amazon_redirect_uris: list[str] = Field(
        default_factory=list,
        description="Registered OAuth redirect URIs; empty means any http(s) URI is accepted.",
    )
    amazon_access_token_ttl: int = 3600
    amazon_auth_code_ttl: int = 300
    ideasoft_access_token_ttl: int = 86400
    ideasoft_auth_code_ttl: int = 600
    tsoft_token_ttl: int = 3600
    trendyol_record_cap: int = Field(
        default=10_000,
        ge=1,
        description=(
            "Records one Trendyol order filter may page through: (page + 1) * size beyond it"
            " answers 429. Accounts may override it (`record_cap`)."
        ),
    )
