"""The one `KafkaBroker` of a service, built with Kervan's delivery defaults.

- producer: `acks="all"`, idempotence on (no duplicates from producer retries);
- consumers: `AckPolicy.NACK_ON_ERROR` at broker level (never `ACK_FIRST`, which is
  at-most-once), combined with the retry→DLQ middleware so that a poison message neither
  loops hot nor blocks its partition; `auto_offset_reset="earliest"` via `subscriber_options`;
- middlewares, outermost first: Prometheus metrics, log context, retry→DLQ;
- `<prefix>_consumer_lag_messages` of every subscriber, read at scrape time
  (`kervan_servicekit.consumer_lag`).
"""

from __future__ import annotations

import logging
from typing import Any, Literal, TypedDict

from faststream import BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.middlewares import AckPolicy
from prometheus_client import CollectorRegistry

from kervan_servicekit.consumer_lag import ConsumerLagCollector
from kervan_servicekit.dead_letter import RetryDeadLetterMiddleware, broker_dead_letter_publisher
from kervan_servicekit.logging import bound_log_context
from kervan_servicekit.metrics import ServiceMetrics, metric_prefix
from kervan_servicekit.retry import RetryPolicy
from kervan_servicekit.settings import KafkaSettings

BROKER_ACK_POLICY = AckPolicy.NACK_ON_ERROR


class SubscriberOptions(TypedDict):
    """Keyword arguments every Kervan subscriber passes to `@broker.subscriber(...)`."""

    group_id: str
    auto_offset_reset: Literal["earliest"]
    ack_policy: AckPolicy


def subscriber_options(group_id: str) -> SubscriberOptions:
    """Safe subscriber defaults: explicit group, read from the start when new, nack on error.

    Usage: `@router.subscriber(topics.ORDERS, **subscriber_options("catalog-sync"))`.
    aiokafka's own default `auto_offset_reset="latest"` would make a new consumer group skip
    everything published before it first joined.
    """
    return {"group_id": group_id, "auto_offset_reset": "earliest", "ack_policy": BROKER_ACK_POLICY}


def subscriptions(broker: KafkaBroker) -> set[tuple[str, str | None]]:
    """(topic, consumer group) of every subscriber registered on a broker; no connection needed.

    Services' tests compare it with what their AsyncAPI document says they receive.
    """
    return {
        (str(topic), getattr(subscriber, "group_id", None))
        for subscriber in broker.subscribers
        for topic in getattr(subscriber, "topic_names", ())
    }


def _header(headers: Any, name: str) -> str | None:
    value = headers.get(name) if isinstance(headers, dict) else None
    return value if isinstance(value, str) else None


class LogContextMiddleware(BaseMiddleware[Any, Any]):
    """Binds correlation_id, event_id, event_type, topic, partition and offset to log lines."""

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        raw = msg.raw_message
        single = not isinstance(raw, tuple)
        with bound_log_context(
            correlation_id=msg.correlation_id,
            event_id=_header(msg.headers, "event_id"),
            event_type=_header(msg.headers, "event_type"),
            topic=raw.topic if single else None,
            partition=raw.partition if single else None,
            offset=raw.offset if single else None,
        ):
            return await call_next(msg)


def build_broker(
    *,
    service: str,
    kafka: KafkaSettings,
    retry: RetryPolicy,
    registry: CollectorRegistry,
    metrics: ServiceMetrics,
    extra_permanent_errors: tuple[type[BaseException], ...] = (),
) -> KafkaBroker:
    """Build the service's broker (not connected; FastStream or the lifespan starts it).

    The consumer group used for the DLQ name is the subscriber's `group_id`, falling back to
    the service name.
    """
    dead_letters = RetryDeadLetterMiddleware(
        policy=retry,
        metrics=metrics,
        default_group=service,
        publish_timeout=kafka.publish_timeout_seconds,
        extra_permanent_errors=extra_permanent_errors,
    )
    broker = KafkaBroker(
        kafka.bootstrap,
        client_id=kafka.client_id or service,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=int(kafka.request_timeout_seconds * 1000),
        ack_policy=BROKER_ACK_POLICY,
        graceful_timeout=kafka.graceful_timeout_seconds,
        logger=logging.getLogger(f"kervan.{service}.broker"),
        middlewares=(
            KafkaPrometheusMiddleware(registry=registry, metrics_prefix=metric_prefix(service)),
            LogContextMiddleware,
            dead_letters,
        ),
    )
    dead_letters.bind(broker_dead_letter_publisher(broker))
    # Every service builds its broker here, so each of its consumers reports its lag.
    registry.register(
        ConsumerLagCollector(f"{metrics.prefix}_consumer_lag_messages", lambda: broker.subscribers)
    )
    return broker
