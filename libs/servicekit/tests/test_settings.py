"""Settings: read from the environment when built, never at import; documented."""

import re
import secrets

import pytest
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from kervan_servicekit.settings import (
    KafkaSettings,
    OutboxSettings,
    PostgresSettings,
    RetrySettings,
    ServiceSettings,
    VaultSettings,
    settings_markdown,
)


class OrderIngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDER_INGEST_", env_nested_delimiter="__")

    service_name: str = "order-ingest"
    poll_interval_seconds: float = 60.0
    """Not documented with a Field on purpose: the table shows an empty description."""


def test_shared_settings_come_from_the_kervan_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERVAN_KAFKA_BOOTSTRAP", "10.0.0.1:9092,10.0.0.2:9092")
    monkeypatch.setenv("KERVAN_POSTGRES_DSN", "postgresql://u:pw@db/kervan")
    monkeypatch.setenv("KERVAN_POSTGRES_SCHEMA", "order_ingest")
    monkeypatch.setenv("KERVAN_VAULT_ADDR", "http://vault:8200")
    monkeypatch.setenv("KERVAN_VAULT_TOKEN", "hvs.secret")
    monkeypatch.setenv("ORDER_INGEST_RETRY__MAX_ATTEMPTS", "3")
    monkeypatch.setenv("ORDER_INGEST_OUTBOX__POLL_INTERVAL_SECONDS", "0.25")
    monkeypatch.setenv("ORDER_INGEST_HTTP_PORT", "9000")
    settings = OrderIngestSettings()
    assert settings.kafka.bootstrap == "10.0.0.1:9092,10.0.0.2:9092"
    assert settings.postgres.dsn.get_secret_value() == "postgresql://u:pw@db/kervan"
    assert settings.postgres.schema_name == "order_ingest"
    assert settings.vault.addr == "http://vault:8200"
    assert settings.vault.token.get_secret_value() == "hvs.secret"
    assert settings.vault.kv_mount == "kervan"
    assert settings.retry.max_attempts == 3
    assert settings.outbox.poll_interval_seconds == 0.25
    assert settings.http_port == 9000
    assert settings.service_name == "order-ingest"
    # secrets never show in a repr (which is what ends up in logs and tracebacks)
    assert "hvs.secret" not in repr(settings)
    assert "pw@" not in repr(settings)


def test_explicit_values_win_and_bad_values_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERVAN_KAFKA_BOOTSTRAP", "from-env:9092")
    assert KafkaSettings(bootstrap="127.0.0.1:1").bootstrap == "127.0.0.1:1"
    assert PostgresSettings(schema_name="catalog_sync").schema_name == "catalog_sync"
    with pytest.raises(ValueError):
        PostgresSettings(schema_name="Robert'); DROP TABLE")


def _all_fields(model: type[BaseModel]) -> list[tuple[str, str | None]]:
    fields: list[tuple[str, str | None]] = []
    for name, info in model.model_fields.items():
        fields.append((f"{model.__name__}.{name}", info.description))
    return fields


@pytest.mark.parametrize(
    "model",
    [
        KafkaSettings,
        PostgresSettings,
        VaultSettings,
        RetrySettings,
        OutboxSettings,
        ServiceSettings,
    ],
)
def test_every_shared_setting_is_documented(model: type[BaseModel]) -> None:
    undocumented = [name for name, description in _all_fields(model) if not description]
    assert undocumented == []


def test_markdown_table_lists_env_names_defaults_and_hides_secrets() -> None:
    table = settings_markdown(OrderIngestSettings)
    lines = table.splitlines()
    assert lines[0] == "| Environment variable | Type | Default | Description |"
    rows = {line.split("|")[1].strip(" `"): line for line in lines[2:]}
    assert "KERVAN_KAFKA_BOOTSTRAP" in rows
    assert '`"127.0.0.1:9092"`' in rows["KERVAN_KAFKA_BOOTSTRAP"]
    assert "KERVAN_POSTGRES_SCHEMA" in rows
    assert "ORDER_INGEST_RETRY__MAX_ATTEMPTS" in rows
    assert "`5`" in rows["ORDER_INGEST_RETRY__MAX_ATTEMPTS"]
    assert "ORDER_INGEST_OUTBOX__RETENTION_HOURS" in rows
    assert "ORDER_INGEST_POLL_INTERVAL_SECONDS" in rows
    assert "'DEBUG' \\| 'INFO'" in rows["ORDER_INGEST_LOG_LEVEL"]
    assert "*(secret)*" in rows["KERVAN_POSTGRES_DSN"]
    assert "kervan@127.0.0.1" not in table
    # one row per leaf setting
    leaf_count = (
        sum(
            len(model.model_fields)
            for model in (
                KafkaSettings,
                PostgresSettings,
                VaultSettings,
                RetrySettings,
                OutboxSettings,
            )
        )
        + len(OrderIngestSettings.model_fields)
        - 5
    )
    assert len(rows) == leaf_count


class _FactorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FACTORY_", env_nested_delimiter="__")

    tags: list[str] = Field(default_factory=list, description="Empty list by default.")
    limits: dict[str, int] = Field(default_factory=lambda: {"a": 1}, description="A mapping.")
    signing_key: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_hex(16)), description="Random per run."
    )
    maybe_key: SecretStr | None = Field(default_factory=lambda: None, description="Secret type.")
    derived: str = Field(
        default_factory=lambda data: f"{data['service_name']}-x", description="From data."
    )
    needed: str = Field(description="No default at all.")


def test_markdown_renders_default_factories_and_keeps_secrets_out() -> None:
    cells = [
        [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        for line in settings_markdown(_FactorySettings).splitlines()[2:]
    ]
    rows = {env.strip("`"): default for env, _type, default, _description in cells}
    assert rows["FACTORY_TAGS"] == "`[]`"
    assert rows["FACTORY_LIMITS"] == "`{'a': 1}`"
    # a factory of a secret type is never called into the table, nor one that reads other fields
    assert rows["FACTORY_SIGNING_KEY"] == "*computed*"
    assert rows["FACTORY_MAYBE_KEY"] == "*computed*"
    assert rows["FACTORY_DERIVED"] == "*computed*"
    assert rows["FACTORY_NEEDED"] == "*required*"


def test_a_service_owns_a_schema_named_after_it_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KERVAN_POSTGRES_SCHEMA", raising=False)

    class OrderIngestLike(ServiceSettings):
        service_name: str = "order-ingest"

    assert OrderIngestLike().postgres.schema_name == "order_ingest"
    monkeypatch.setenv("KERVAN_POSTGRES_SCHEMA", "chosen")
    assert OrderIngestLike().postgres.schema_name == "chosen"
