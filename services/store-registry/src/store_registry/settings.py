"""store-registry settings (env prefix `STORE_REGISTRY_`; Kafka/PostgreSQL from `KERVAN_*`)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from kervan_contracts import topics
from kervan_servicekit.auth import TokenGrant
from kervan_servicekit.settings import OutboxSettings, ServiceSettings


class StoreOutboxSettings(OutboxSettings):
    """servicekit's relay settings, published rows deleted and a 20 ms linger (a subclass, so
    that setting another field in the environment keeps these defaults)."""

    linger_seconds: float = Field(
        default=0.02,
        ge=0,
        le=1.0,
        description=(
            "After a batch smaller than `batch_size`, wait this long before claiming again: "
            "under a stream of settings writes the relay claims, publishes and deletes dozens "
            "of rows per round instead of a few (write p99 60-80 → 36-43 ms in 30 s runs)."
        ),
    )

    delete_published: bool = Field(
        default=True,
        description=(
            "Published rows are deleted: Kafka keeps the events, the audit log the history; "
            "marking them published rewrote every row (~1.5 KB) and its index entries."
        ),
    )


class StoreRegistrySettings(ServiceSettings):
    """Everything store-registry reads from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="STORE_REGISTRY_",
        env_nested_delimiter="__",
        extra="ignore",
        populate_by_name=True,
    )

    service_name: str = Field(
        default="store-registry", description="Service name (consumer group, metrics prefix)."
    )
    http_port: int = Field(default=8081, ge=0, le=65535, description="HTTP port.")
    outbox: StoreOutboxSettings = Field(
        default_factory=StoreOutboxSettings,
        description="Outbox relay (published rows deleted).",
    )
    db_schema: str = Field(
        default="store_registry",
        pattern=r"^[a-z_][a-z0-9_]*$",
        description="PostgreSQL schema owning the service's tables.",
    )
    tokens: list[TokenGrant] = Field(
        default_factory=list,
        description='API tokens as JSON: `[{"name": "erp", "role": "admin", "sha256": "<hex>"}]`. '
        "Only hashes are configured; `python -m store_registry hash-token` prints one.",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("KERVAN_ADMIN_TOKEN", "STORE_REGISTRY_ADMIN_TOKEN"),
        description="Development admin token (plain, `make up` sets it); hashed at start, "
        "recorded as actor `admin`. Env `KERVAN_ADMIN_TOKEN`.",
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest request body accepted (413 above)."
    )
    stores_topic: str = Field(default=topics.STORES, description="Topic the store events go to.")
    api_status_topic: str = Field(
        default=topics.API_STATUS, description="Topic the API status column is consumed from."
    )
    consumer_group: str = Field(
        default="store-registry", description="Kafka consumer group of the API status consumer."
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=32,
        description="Server processes on the HTTP port (the parent accepts and hands each "
        "connection to the next one in turn). Each runs "
        "the whole service (its own pool, relay on standby, API status consumer in the group); "
        "`/metrics` then shows the one process that answered. 1 in containers (scale with "
        "replicas); 2 on a small host where one Python process cannot keep up with the CPUs.",
    )
    write_batch: int = Field(
        default=32,
        ge=1,
        le=1000,
        description="Group commit: most single-store updates (settings, PATCH, activate) that "
        "one statement writes together when they are ready at the same moment; a write that "
        "finds none running is written at once. 1: each write its own statement.",
    )
    read_model: bool = Field(
        default=True,
        description="Answer GET of a store and the listing from an in-memory copy of the stores "
        "kept current by PostgreSQL LISTEN/NOTIFY (false: every read queries PostgreSQL).",
    )
    read_model_reconnect_seconds: float = Field(
        default=1.0,
        gt=0,
        description="Wait before listening again after the read model's connection was lost "
        "(reads go to PostgreSQL meanwhile).",
    )
    create_topics: bool = Field(
        default=True, description="Create missing topics (compacted) at start."
    )
