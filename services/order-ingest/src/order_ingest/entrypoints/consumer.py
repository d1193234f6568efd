"""Kafka consumers of the projections: stores, API status, credential versions (thin)."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from kervan_contracts import topics
from kervan_contracts.credentials.v1 import ApiStatusChanged, CredentialsChanged
from kervan_contracts.registry import parse_envelope
from kervan_contracts.stores.v1 import StoreDeleted
from kervan_servicekit import get_logger, subscriber_options
from order_ingest.app.ports import AdapterProvider, Clock, UnitOfWorkFactory
from order_ingest.app.services import (
    apply_api_status,
    apply_credentials,
    apply_store_snapshot,
    forget_store,
)

logger = get_logger("order_ingest.consumer")


def _key(msg: KafkaMessage) -> str | None:
    raw = getattr(msg.raw_message, "key", None)
    return raw.decode() if isinstance(raw, bytes) else None


def register_consumers(
    broker: KafkaBroker,
    *,
    group: str,
    uow: UnitOfWorkFactory,
    adapters: AdapterProvider,
    clock: Clock,
) -> None:
    """Subscribe the three projection handlers. Projections upsert by version (or
    checked_at), so redeliveries are harmless without an inbox."""

    @broker.subscriber(topics.STORES, **subscriber_options(group))
    async def on_store(msg: KafkaMessage) -> None:
        if not msg.body:
            store_id = _key(msg)
            if store_id:
                await forget_store(store_id, uow())
                logger.info("store forgotten (tombstone)", store_id=store_id)
            return
        envelope = parse_envelope(msg.body)
        store = getattr(envelope.data, "store", None)
        if store is None:
            return
        if isinstance(envelope.data, StoreDeleted):
            await forget_store(store.store_id, uow())
            return
        applied = await apply_store_snapshot(store, uow(), clock)
        logger.info(
            "store applied" if applied else "store skipped (older version)",
            store_id=store.store_id,
            version=store.version,
        )

    @broker.subscriber(topics.API_STATUS, **subscriber_options(group))
    async def on_api_status(msg: KafkaMessage) -> None:
        if not msg.body:
            return
        envelope = parse_envelope(msg.body, ApiStatusChanged)
        await apply_api_status(envelope.data, uow())

    @broker.subscriber(topics.CREDENTIALS, **subscriber_options(group))
    async def on_credentials(msg: KafkaMessage) -> None:
        if not msg.body:
            return
        envelope = parse_envelope(msg.body, CredentialsChanged)
        await apply_credentials(envelope.data, uow(), adapters)
