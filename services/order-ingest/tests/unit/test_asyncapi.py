"""The service subscribes to what its AsyncAPI document says it receives."""

from unittest.mock import Mock

from faststream.kafka import KafkaBroker
from order_ingest.entrypoints.consumer import register_consumers
from order_ingest.settings import OrderIngestSettings

from kervan_testkit.asyncapi import assert_matches_party


def test_subscriptions_and_producer_match_the_asyncapi_document() -> None:
    service_name = OrderIngestSettings.model_fields["service_name"].default
    broker = KafkaBroker("127.0.0.1:1")
    # bootstrap.py subscribes with the service name as the consumer group.
    register_consumers(broker, group=service_name, uow=Mock(), adapters=Mock(), clock=Mock())

    assert_matches_party(broker, "order-ingest", service_name)
