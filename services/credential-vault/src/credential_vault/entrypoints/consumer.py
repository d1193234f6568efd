"""Kafka consumer of `kervan.stores.v1`: the store projection and its follow-ups."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from credential_vault.app.services import CredentialService
from credential_vault.domain.errors import CredentialsNotSet, StoreNotFound
from kervan_contracts.registry import parse_envelope
from kervan_contracts.stores.v1 import StoreDeleted
from kervan_servicekit.broker import subscriber_options
from kervan_servicekit.logging import get_logger

logger = get_logger("credential_vault.consumer")


async def handle_store_record(service: CredentialService, raw: bytes | None) -> None:
    """bytes → projection → (maybe) re-check. Invalid input raises a permanent error (DLQ)."""
    if not raw:
        return  # the tombstone after StoreDeleted: the deletion was applied already
    envelope = parse_envelope(raw)
    snapshot = getattr(envelope.data, "store", None)
    if snapshot is None:
        return  # an event type of the topic this service does not need
    retest = await service.apply_store_event(
        snapshot,
        deleted=isinstance(envelope.data, StoreDeleted),
        event_id=envelope.event_id,
        correlation_id=envelope.correlation_id,
    )
    logger.info(
        "store event applied",
        store_id=snapshot.store_id,
        event_id=str(envelope.event_id),
        retest=retest,
    )
    if retest:
        try:
            await service.test_credentials(
                snapshot.store_id,
                correlation_id=envelope.correlation_id,
                causation_id=envelope.event_id,
            )
        except (CredentialsNotSet, StoreNotFound):
            return  # deleted or emptied meanwhile: nothing to check


def register_stores_consumer(
    broker: KafkaBroker, *, topic: str, group: str, service: CredentialService
) -> None:
    """Subscribe the thin handler."""

    @broker.subscriber(topic, **subscriber_options(group))
    async def on_store_event(msg: KafkaMessage) -> None:
        await handle_store_record(service, msg.body)
