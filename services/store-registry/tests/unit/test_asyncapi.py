"""The service subscribes to what its AsyncAPI document says it receives."""

from unittest.mock import Mock

from faststream.kafka import KafkaBroker
from store_registry.adapters.events import PRODUCER
from store_registry.entrypoints.consumer import register_api_status_consumer
from store_registry.settings import StoreRegistrySettings

from kervan_contracts.asyncapi import party
from kervan_servicekit.broker import subscriptions


def test_subscriptions_and_producer_match_the_asyncapi_document() -> None:
    declared = party("store-registry")
    fields = StoreRegistrySettings.model_fields
    broker = KafkaBroker("127.0.0.1:1")
    register_api_status_consumer(
        broker,
        topic=fields["api_status_topic"].default,
        group=fields["consumer_group"].default,
        uow=Mock(),
    )

    assert subscriptions(broker) == {(topic, declared.group) for topic in declared.receives}
    assert fields["stores_topic"].default == {model.topic for model in declared.sends}.pop()
    assert PRODUCER == fields["service_name"].default == declared.name
