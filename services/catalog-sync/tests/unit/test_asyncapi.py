"""The service subscribes to what its AsyncAPI document says it receives."""

from datetime import timedelta
from unittest.mock import Mock

from catalog_sync.app.pusher import PRODUCER
from catalog_sync.entrypoints.consumer import register_consumers
from catalog_sync.settings import CatalogSyncSettings
from faststream.kafka import KafkaBroker

from kervan_testkit.asyncapi import assert_matches_party


def test_subscriptions_and_producer_match_the_asyncapi_document() -> None:
    service_name = CatalogSyncSettings.model_fields["service_name"].default
    broker = KafkaBroker("127.0.0.1:1")
    # bootstrap.py subscribes with the service name as the consumer group.
    register_consumers(
        broker,
        group=service_name,
        uow=Mock(),
        clock=Mock(),
        ack_window=timedelta(hours=1),
        wake=Mock(),
    )

    assert_matches_party(broker, "catalog-sync", PRODUCER, service_name)
