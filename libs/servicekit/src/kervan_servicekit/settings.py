"""Settings shared by every Kervan service, read from the environment by pydantic-settings.

Nothing here is instantiated at import: a service builds its settings in its bootstrap (or a
test builds them with explicit values), so importing a module never reads the environment.
"""

from __future__ import annotations

import types
from typing import Any, Literal, Self, Union, get_args, get_origin

from pydantic import BaseModel, Field, SecretBytes, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class KafkaSettings(BaseSettings):
    """Connection to the Kafka cluster (env prefix `KERVAN_KAFKA_`)."""

    model_config = SettingsConfigDict(env_prefix="KERVAN_KAFKA_", extra="ignore")

    bootstrap: str = Field(
        default="127.0.0.1:9092",
        description="Comma-separated `host:port` list of bootstrap brokers.",
    )
    client_id: str | None = Field(
        default=None, description="Kafka client id; defaults to the service name."
    )
    request_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Timeout of one request to a broker."
    )
    publish_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        description="Upper bound on waiting for a publish confirm; guards against aiokafka "
        "hanging while Kafka is unreachable.",
    )
    graceful_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        description="On shutdown, how long consumers may finish the message in hand.",
    )
    replication_factor: int = Field(
        default=1,
        ge=1,
        description="Replication factor for topics this service creates (3 in production).",
    )


class PostgresSettings(BaseSettings):
    """Connection to the service's PostgreSQL database (env prefix `KERVAN_POSTGRES_`)."""

    model_config = SettingsConfigDict(
        env_prefix="KERVAN_POSTGRES_", extra="ignore", populate_by_name=True
    )

    dsn: SecretStr = Field(
        default=SecretStr("postgresql://kervan@127.0.0.1:5432/kervan"),
        description="libpq connection URI; it may hold a password, so it is never logged.",
    )
    schema_name: str = Field(
        default="public",
        validation_alias="KERVAN_POSTGRES_SCHEMA",
        pattern=r"^[a-z_][a-z0-9_]*$",
        description="Schema owning the service's tables (set as search_path); env "
        "`KERVAN_POSTGRES_SCHEMA`. Inside a service's settings the default is the service "
        "name in snake case, so services sharing one database never share tables.",
    )
    pool_min_size: int = Field(default=1, ge=0, description="Connections kept open in the pool.")
    pool_max_size: int = Field(default=10, ge=1, description="Upper bound of the pool.")
    command_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Default timeout of one SQL statement."
    )


class VaultSettings(BaseSettings):
    """Connection to Vault / OpenBao (env prefix `KERVAN_VAULT_`)."""

    model_config = SettingsConfigDict(env_prefix="KERVAN_VAULT_", extra="ignore")

    addr: str = Field(default="http://127.0.0.1:8200", description="Vault base URL.")
    token: SecretStr = Field(
        default=SecretStr(""), description="Vault token of this service (never logged)."
    )
    kv_mount: str = Field(default="kervan", description="Mount point of the KV v2 engine.")
    timeout_seconds: float = Field(default=5.0, gt=0, description="HTTP timeout per call.")


class RetrySettings(BaseModel):
    """Consumer retries before dead-lettering (nested: `<PREFIX>RETRY__<FIELD>`)."""

    max_attempts: int = Field(
        default=5, ge=1, description="Handler attempts per message, the first one included."
    )
    base_delay_seconds: float = Field(
        default=0.5, ge=0, description="Delay after the first failed attempt."
    )
    max_delay_seconds: float = Field(
        default=30.0, ge=0, description="Cap of the exponential delay (before jitter)."
    )
    multiplier: float = Field(default=2.0, ge=1, description="Growth factor per attempt.")
    jitter: float = Field(
        default=0.5,
        ge=0,
        description="Random extra delay, as a fraction of the nominal delay (0.5 = up to +50%).",
    )


class OutboxSettings(BaseModel):
    """Outbox relay tuning (nested: `<PREFIX>OUTBOX__<FIELD>`)."""

    batch_size: int = Field(default=500, ge=1, description="Rows claimed and published per batch.")
    poll_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        description="Polling fallback when no NOTIFY arrives (NOTIFY is only a wake-up hint).",
    )
    linger_seconds: float = Field(
        default=0.0,
        ge=0,
        le=1.0,
        description=(
            "After a batch smaller than `batch_size`, wait this long before claiming again "
            "(NOTIFYs meanwhile are not lost): fewer, larger claims and produce requests under "
            "a steady stream of small commits, at the price of up to this much event latency."
        ),
    )
    lock_retry_seconds: float = Field(
        default=2.0, gt=0, description="How often a standby relay tries to take the lock."
    )
    publish_timeout_seconds: float = Field(
        default=15.0, gt=0, description="Upper bound on publishing one batch (confirms included)."
    )
    retention_hours: float = Field(
        default=168.0, gt=0, description="Published rows older than this are deleted."
    )
    delete_published: bool = Field(
        default=False,
        description=(
            "Delete rows once Kafka confirmed them instead of marking them published and "
            "keeping them for the retention (cheaper for PostgreSQL; Kafka keeps the events)."
        ),
    )
    cleanup_interval_seconds: float = Field(
        default=3600.0, gt=0, description="How often published rows are cleaned up."
    )
    reconnect_max_delay_seconds: float = Field(
        default=30.0, gt=0, description="Cap of the backoff between reconnect attempts."
    )


class ServiceSettings(BaseSettings):
    """Base of a service's settings; subclass it with the service's own env prefix.

    Example::

        class OrderIngestSettings(ServiceSettings):
            model_config = SettingsConfigDict(env_prefix="ORDER_INGEST_", env_nested_delimiter="__")
            service_name: str = "order-ingest"
    """

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore")

    service_name: str = Field(
        default="kervan-service",
        pattern=r"^[a-z][a-z0-9-]*$",
        description="Service name: consumer group, client id, metric prefix, log field.",
    )
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to.")
    http_port: int = Field(default=8080, ge=0, le=65535, description="HTTP port.")
    log_level: LogLevel = Field(default="INFO", description="Minimum log level.")
    shutdown_drain_seconds: float = Field(
        default=0.0,
        ge=0,
        description="After SIGTERM, keep serving with /readyz answering 503 for this long "
        "so load balancers stop routing here before the server closes.",
    )
    readiness_check_timeout_seconds: float = Field(
        default=2.0, gt=0, description="Timeout of each readiness check."
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings, description="Kafka.")
    postgres: PostgresSettings = Field(default_factory=PostgresSettings, description="PostgreSQL.")
    vault: VaultSettings = Field(default_factory=VaultSettings, description="Vault.")
    retry: RetrySettings = Field(default_factory=RetrySettings, description="Consumer retries.")
    outbox: OutboxSettings = Field(default_factory=OutboxSettings, description="Outbox relay.")

    @model_validator(mode="after")
    def _own_schema_by_default(self) -> Self:
        # Every service owns one schema; without an explicit choice it is named after the
        # service, never the shared `public`.
        if "schema_name" not in self.postgres.model_fields_set:
            own = self.service_name.replace("-", "_")
            self.postgres = self.postgres.model_copy(update={"schema_name": own})
        return self


def _model_type(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel class inside an annotation (`X`, `X | None`), if any."""
    candidates = [annotation]
    if get_origin(annotation) in (Union, types.UnionType):
        candidates = [arg for arg in get_args(annotation) if arg is not type(None)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return " \\| ".join(repr(arg) for arg in get_args(annotation))
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("|", "\\|")


def _is_secret_type(annotation: Any) -> bool:
    candidates = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else ()
    return any(
        isinstance(candidate, type) and issubclass(candidate, (SecretStr, SecretBytes))
        for candidate in (annotation, *candidates)
    )


def _value_text(value: Any) -> str:
    return f"`{value!r}`" if not isinstance(value, str) else f'`"{value}"`'


def _default_text(field: FieldInfo) -> str:
    if field.default_factory is not None:
        # A factory may compute a secret (a random key) or depend on other fields: say so
        # rather than print it; otherwise show what it gives (e.g. `[]`).
        if field.default_factory_takes_validated_data or _is_secret_type(field.annotation):
            return "*computed*"
        produced = field.default_factory()  # type: ignore[call-arg]
        if isinstance(produced, (SecretStr, SecretBytes)):
            return "*computed*"
        return _value_text(produced)
    if field.default is PydanticUndefined:
        return "*required*"
    value = field.default
    if isinstance(value, SecretStr):
        return "*(secret)*" if value.get_secret_value() else '`""`'
    return _value_text(value)


def _env_names(prefix: str, name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias
    return f"{prefix}{name}".upper()


def _rows(model: type[BaseModel], prefix: str, nested_delimiter: str) -> list[str]:
    rows: list[str] = []
    for name, field in model.model_fields.items():
        nested = _model_type(field.annotation)
        if nested is not None:
            if issubclass(nested, BaseSettings):
                own_prefix = str(nested.model_config.get("env_prefix", ""))
                rows.extend(_rows(nested, own_prefix, "__"))
            else:
                rows.extend(_rows(nested, f"{prefix}{name}{nested_delimiter}", nested_delimiter))
            continue
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(
            f"| `{_env_names(prefix, name, field)}` | {_type_name(field.annotation)} "
            f"| {_default_text(field)} | {description} |"
        )
    return rows


def settings_markdown(settings_class: type[BaseSettings]) -> str:
    """Render a settings class as a markdown table (env var, type, default, description).

    Nested `BaseSettings` (Kafka, PostgreSQL, Vault) are listed under their own env prefix;
    nested plain models under `<PREFIX><FIELD>__`. Secret defaults are never printed.
    """
    config = settings_class.model_config
    prefix = str(config.get("env_prefix", ""))
    delimiter = str(config.get("env_nested_delimiter") or "__")
    header = [
        "| Environment variable | Type | Default | Description |",
        "| --- | --- | --- | --- |",
    ]
    return "\n".join(header + _rows(settings_class, prefix, delimiter)) + "\n"
