"""Kafka consumers (thin): envelope in → use case → wake the pusher."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from catalog_sync.app import projections
from catalog_sync.app.ports import Clock, UnitOfWorkFactory
from catalog_sync.app.projections import Incoming
from kervan_contracts import topics
from kervan_contracts.catalog.v1 import PriceChanged, ProductUpserted, StockLevelChanged
from kervan_contracts.credentials.v1 import ApiStatusChanged, CredentialsChanged
from kervan_contracts.inventory.v1 import StockDeducted, StockReleased
from kervan_contracts.registry import parse_envelope
from kervan_contracts.stores.v1 import StoreDeleted
from kervan_servicekit import get_logger, subscriber_options

logger = get_logger("catalog_sync.consumer")


def register_consumers(
    broker: KafkaBroker,
    *,
    group: str,
    uow: UnitOfWorkFactory,
    clock: Clock,
    ack_window: timedelta,
    wake: Callable[[], None],
    on_credentials: Callable[[CredentialsChanged], None] = lambda _event: None,
) -> None:
    """Subscribe the catalogue, stock-movement, store, API-status and credentials handlers."""

    @broker.subscriber(topics.CATALOG, **subscriber_options(group))
    async def on_catalog(msg: KafkaMessage) -> None:
        if not msg.body:
            return  # compaction tombstone: nothing to project
        envelope = parse_envelope(msg.body)
        incoming = Incoming(envelope.event_id, envelope.occurred_at)
        data = envelope.data
        if isinstance(data, ProductUpserted):
            await projections.apply_product(incoming, data, uow(), clock)
        elif isinstance(data, PriceChanged):
            await projections.apply_price(incoming, data, uow(), clock)
        elif isinstance(data, StockLevelChanged):
            change = await projections.apply_stock_level(incoming, data, uow(), clock, ack_window)
            logger.info(
                "stock level",
                sku=data.sku,
                warehouse_id=data.warehouse_id,
                verdict=change.verdict.value if change else "redelivery",
            )
        wake()

    @broker.subscriber(topics.STOCK_MOVEMENTS, **subscriber_options(group))
    async def on_movement(msg: KafkaMessage) -> None:
        envelope = parse_envelope(msg.body)
        data = envelope.data
        if not isinstance(data, StockDeducted | StockReleased):
            return
        incoming = Incoming(envelope.event_id, envelope.occurred_at)
        verdict = await projections.apply_movement(incoming, data, uow(), clock, ack_window)
        logger.info(
            "stock movement",
            sku=data.sku,
            warehouse_id=data.warehouse_id,
            movement_id=data.movement_id,
            verdict=verdict.value if verdict else "redelivery",
        )
        wake()

    @broker.subscriber(topics.STORES, **subscriber_options(group))
    async def on_store(msg: KafkaMessage) -> None:
        if not msg.body:
            return  # tombstone after StoreDeleted, which was already applied
        envelope = parse_envelope(msg.body)
        store = getattr(envelope.data, "store", None)
        if store is None:
            return
        if isinstance(envelope.data, StoreDeleted):
            await projections.forget_store(store.store_id, store.version, uow())
            return
        await projections.apply_store(store, uow(), clock)
        wake()

    @broker.subscriber(topics.API_STATUS, **subscriber_options(group))
    async def on_api_status(msg: KafkaMessage) -> None:
        if not msg.body:
            return
        envelope = parse_envelope(msg.body, ApiStatusChanged)
        await projections.apply_api_status(envelope.data, uow(), clock)
        wake()

    @broker.subscriber(topics.CREDENTIALS, **subscriber_options(group))
    async def on_credentials_changed(msg: KafkaMessage) -> None:
        if not msg.body:
            return
        envelope = parse_envelope(msg.body, CredentialsChanged)
        on_credentials(envelope.data)
        await projections.apply_credentials(envelope.data, uow(), clock)
        wake()
