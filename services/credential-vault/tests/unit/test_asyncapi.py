"""The service subscribes to what its AsyncAPI document says it receives."""

from unittest.mock import Mock

from credential_vault.entrypoints.consumer import register_stores_consumer
from credential_vault.settings import CredentialVaultSettings
from faststream.kafka import KafkaBroker

from kervan_testkit.asyncapi import assert_matches_party


def test_subscriptions_and_producer_match_the_asyncapi_document() -> None:
    fields = CredentialVaultSettings.model_fields
    broker = KafkaBroker("127.0.0.1:1")
    register_stores_consumer(
        broker,
        topic=fields["stores_topic"].default,
        group=fields["consumer_group"].default,
        service=Mock(),
    )

    assert_matches_party(broker, "credential-vault", fields["service_name"].default)
