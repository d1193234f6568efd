"""What every Kervan service shares: settings, logging, Kafka broker, outbox, inbox, DLQ,
migrations and health endpoints. Nothing connects or reads the environment at import."""

from kervan_servicekit.broker import build_broker, subscriber_options
from kervan_servicekit.dead_letter import RetryDeadLetterMiddleware, dead_letter_topic
from kervan_servicekit.errors import PermanentError, is_permanent
from kervan_servicekit.health import (
    HealthEndpoints,
    kafka_check,
    postgres_check,
    relay_check,
    vault_check,
)
from kervan_servicekit.inbox import Inbox
from kervan_servicekit.logging import configure_logging, get_logger
from kervan_servicekit.metrics import ServiceMetrics, metric_prefix
from kervan_servicekit.migrations import (
    MigrationError,
    MigrationSet,
    apply_migrations,
    load_migrations,
    migrate,
    servicekit_migrations,
)
from kervan_servicekit.outbox import Outbox, OutboxMessage, OutboxRecord, OutboxRelay
from kervan_servicekit.retry import RetryPolicy
from kervan_servicekit.runtime import Lifecycle, create_pool, freeze_startup_heap, run_service
from kervan_servicekit.settings import (
    KafkaSettings,
    OutboxSettings,
    PostgresSettings,
    RetrySettings,
    ServiceSettings,
    VaultSettings,
    settings_markdown,
)
from kervan_servicekit.topics import TopicDefinition, ensure_topics

__all__ = [
    "HealthEndpoints",
    "Inbox",
    "KafkaSettings",
    "Lifecycle",
    "MigrationError",
    "MigrationSet",
    "Outbox",
    "OutboxMessage",
    "OutboxRecord",
    "OutboxRelay",
    "OutboxSettings",
    "PermanentError",
    "PostgresSettings",
    "RetryDeadLetterMiddleware",
    "RetryPolicy",
    "RetrySettings",
    "ServiceMetrics",
    "ServiceSettings",
    "TopicDefinition",
    "VaultSettings",
    "apply_migrations",
    "build_broker",
    "configure_logging",
    "create_pool",
    "dead_letter_topic",
    "ensure_topics",
    "freeze_startup_heap",
    "get_logger",
    "is_permanent",
    "kafka_check",
    "load_migrations",
    "metric_prefix",
    "migrate",
    "postgres_check",
    "relay_check",
    "run_service",
    "servicekit_migrations",
    "settings_markdown",
    "subscriber_options",
    "vault_check",
]
