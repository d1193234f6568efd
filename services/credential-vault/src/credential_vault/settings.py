"""credential-vault settings (env prefix `CREDENTIAL_VAULT_`; Kafka/PostgreSQL/Vault `KERVAN_*`)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from kervan_servicekit.auth import TokenGrant
from kervan_servicekit.settings import ServiceSettings


class CredentialVaultSettings(ServiceSettings):
    """Everything credential-vault reads from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="CREDENTIAL_VAULT_",
        env_nested_delimiter="__",
        extra="ignore",
        populate_by_name=True,
    )

    service_name: str = Field(
        default="credential-vault", description="Service name (consumer group, metrics prefix)."
    )
    http_port: int = Field(default=8082, ge=0, le=65535, description="HTTP port.")
    db_schema: str = Field(
        default="credential_vault",
        pattern=r"^[a-z_][a-z0-9_]*$",
        description="PostgreSQL schema owning the service's tables.",
    )
    tokens: list[TokenGrant] = Field(
        default_factory=list,
        description='API tokens as JSON: `[{"name": "order-ingest", "role": "operator", '
        '"sha256": "<hex>"}]`. Only hashes are configured.',
    )
    admin_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("KERVAN_ADMIN_TOKEN", "CREDENTIAL_VAULT_ADMIN_TOKEN"),
        description="Development admin token (plain; `make up` sets it). Env `KERVAN_ADMIN_TOKEN`.",
    )
    fingerprint_key: SecretStr = Field(
        default=SecretStr(""),
        description="Key of the HMAC fingerprints and OAuth state signatures (≥ 32 bytes in "
        "production). Empty: a random key per process (fingerprints then change on restart).",
    )
    vault_prefix: str = Field(
        default="marketplace-credentials",
        pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
        description="KV path prefix under the mount; a store's secret is `<prefix>/<store_id>`.",
    )
    oauth_redirect_uri: str = Field(
        default="http://127.0.0.1:8082/v1/oauth/{platform}/callback",
        description="Public callback URL registered at Amazon/IdeaSoft; `{platform}` is "
        "replaced by the platform id.",
    )
    oauth_state_ttl_seconds: float = Field(
        default=600.0, gt=0, description="How long an OAuth state may be used."
    )
    recheck_interval_seconds: float = Field(
        default=3600.0, ge=0, description="Every store is re-checked this often (0 = never)."
    )
    recheck_jitter: float = Field(
        default=0.2, ge=0, le=1, description="Random spread of the re-check interval (fraction)."
    )
    status_metrics_interval_seconds: float = Field(
        default=15.0,
        gt=0,
        description="How often the API status gauge is reloaded from PostgreSQL (keeps "
        "replicas in agreement; a check made by this process shows at once).",
    )
    max_body_bytes: int = Field(
        default=16 * 1024, ge=1024, description="Largest request body accepted (413 above)."
    )
    stores_topic: str = Field(
        default="kervan.stores.v1", description="Topic the store events are consumed from."
    )
    consumer_group: str = Field(
        default="credential-vault", description="Kafka consumer group of the stores consumer."
    )
    create_topics: bool = Field(default=True, description="Create missing topics at start.")
