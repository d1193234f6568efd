"""`subscriptions(broker)`: what a broker subscribes to, read without connecting."""

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from kervan_servicekit.broker import subscriber_options, subscriptions


def test_lists_each_topic_with_its_consumer_group() -> None:
    broker = KafkaBroker("127.0.0.1:1")
    assert subscriptions(broker) == set()

    @broker.subscriber("kervan.stores.v1", "kervan.api-status.v1", **subscriber_options("a"))
    async def both(msg: KafkaMessage) -> None: ...

    @broker.subscriber("kervan.orders.v1", **subscriber_options("b"))
    async def orders(msg: KafkaMessage) -> None: ...

    assert subscriptions(broker) == {
        ("kervan.stores.v1", "a"),
        ("kervan.api-status.v1", "a"),
        ("kervan.orders.v1", "b"),
    }
