"""Kafka consumer of `kervan.api-status.v1`: keeps the API status column current."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from kervan_contracts.credentials.v1 import ApiStatusChanged
from kervan_contracts.registry import parse_envelope
from kervan_servicekit.broker import subscriber_options
from kervan_servicekit.logging import get_logger
from store_registry.app.commands import RecordApiStatus
from store_registry.app.ports import UnitOfWorkFactory
from store_registry.app.services import record_api_status

logger = get_logger("store_registry.consumer")


def api_status_command(raw: bytes) -> RecordApiStatus:
    """Parse one record value (invalid input raises a permanent error → DLQ)."""
    envelope = parse_envelope(raw, ApiStatusChanged)
    data = envelope.data
    return RecordApiStatus(
        event_id=envelope.event_id,
        store_id=data.store_id,
        status=data.status,
        reason_code=data.reason_code,
        message=data.message,
        checked_at=data.checked_at,
        test_mode=data.test_mode,
    )


def register_api_status_consumer(
    broker: KafkaBroker, *, topic: str, group: str, uow: UnitOfWorkFactory
) -> None:
    """Subscribe the projection handler (thin: bytes → command → use case)."""

    @broker.subscriber(topic, **subscriber_options(group))
    async def on_api_status(msg: KafkaMessage) -> None:
        if not msg.body:
            return  # a tombstone: credential-vault forgot the store; the column stays as is
        command = api_status_command(msg.body)
        changed = await record_api_status(command, uow())
        logger.info(
            "api status applied" if changed else "api status skipped (duplicate or older)",
            store_id=command.store_id,
            event_id=str(command.event_id),
            api_status=command.status.value,
        )
