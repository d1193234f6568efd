"""The service subscribes to what its AsyncAPI document says it receives."""

from unittest.mock import Mock

from faststream.kafka import KafkaBroker
from store_registry.adapters.events import PRODUCER
from store_registry.entrypoints.consumer import register_api_status_consumer
from store_registry.settings import StoreRegistrySettings

from kervan_testkit.asyncapi import assert_matches_party


def test_subscriptions_and_producer_match_the_asyncapi_document() -> None:
    fields = StoreRegistrySettings.model_fields
    broker = KafkaBroker("127.0.0.1:1")
    register_api_status_consumer(
        broker,
        topic=fields["api_status_topic"].default,
        group=fields["consumer_group"].default,
        uow=Mock(),
    )

    declared = assert_matches_party(
        broker, "store-registry", PRODUCER, fields["service_name"].default
    )
    assert fields["stores_topic"].default == {model.topic for model in declared.sends}.pop()
