"""The retry→DLQ middleware on FastStream's in-memory broker (no Kafka; fake sleep/publisher).

The real-broker behaviour (commit, partition moving on, elapsed backoff) is covered by
tests/integration/test_dead_letter.py.
"""

from dataclasses import dataclass, field

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from kervan_servicekit.broker import BROKER_ACK_POLICY, subscriber_options
from kervan_servicekit.dead_letter import RetryDeadLetterMiddleware
from kervan_servicekit.metrics import ServiceMetrics
from kervan_servicekit.retry import RetryPolicy


class Order(BaseModel):
    order_id: int


@dataclass
class Recorder:
    sleeps: list[float] = field(default_factory=list)
    dead_letters: list[dict[str, object]] = field(default_factory=list)
    fail_publish: bool = False

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def publish(
        self, *, topic: str, key: bytes | None, value: bytes, headers: dict[str, str]
    ) -> None:
        if self.fail_publish:
            raise ConnectionError("kafka down")
        self.dead_letters.append({"topic": topic, "key": key, "value": value, "headers": headers})


@dataclass
class Setup:
    broker: KafkaBroker
    recorder: Recorder
    metrics: ServiceMetrics
    registry: CollectorRegistry


def make_setup(policy: RetryPolicy) -> Setup:
    registry = CollectorRegistry()
    metrics = ServiceMetrics("order-ingest", registry)
    recorder = Recorder()
    middleware = RetryDeadLetterMiddleware(
        policy=policy, metrics=metrics, default_group="order-ingest", sleep=recorder.sleep
    )
    middleware.bind(recorder.publish)
    broker = KafkaBroker(ack_policy=BROKER_ACK_POLICY, middlewares=(middleware,))
    return Setup(broker, recorder, metrics, registry)


POLICY = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=3.0, jitter=0.0)


def _sample(setup: Setup, name: str, labels: dict[str, str]) -> float:
    value = setup.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_transient_failures_are_retried_with_backoff_then_succeed() -> None:
    setup = make_setup(POLICY)
    calls: list[int] = []

    @setup.broker.subscriber("orders", **subscriber_options("grp"))
    async def handle(order: Order) -> None:
        calls.append(order.order_id)
        if len(calls) < 3:
            raise ConnectionError("db blip")

    async with TestKafkaBroker(setup.broker) as broker:
        await broker.publish({"order_id": 7}, "orders")

    assert calls == [7, 7, 7]
    assert setup.recorder.sleeps == [1.0, 2.0]
    assert setup.recorder.dead_letters == []
    retries = _sample(
        setup, "kervan_order_ingest_consumer_retries_total", {"topic": "orders", "group": "grp"}
    )
    assert retries == 2


async def test_exhausted_message_goes_to_the_group_dlq_with_original_bytes() -> None:
    setup = make_setup(POLICY)
    calls: list[int] = []

    @setup.broker.subscriber("orders", **subscriber_options("grp"))
    async def handle(order: Order) -> None:
        calls.append(order.order_id)
        raise RuntimeError("always")

    raw = b'{"order_id": 9,   "extra": "kept as is"}'
    async with TestKafkaBroker(setup.broker) as broker:
        await broker.publish(raw, "orders", key=b"store-1", headers={"event_id": "e-9"})

    assert len(calls) == POLICY.max_attempts
    assert setup.recorder.sleeps == [1.0, 2.0, 3.0]
    (letter,) = setup.recorder.dead_letters
    assert letter["topic"] == "grp.dlq"
    assert letter["value"] == raw
    assert letter["key"] == b"store-1"
    headers = letter["headers"]
    assert isinstance(headers, dict)
    assert headers["event_id"] == "e-9"
    assert headers["x-dlq-attempts"] == "4"
    assert headers["x-dlq-error-type"] == "builtins.RuntimeError"
    assert headers["x-dlq-consumer-group"] == "grp"
    dead = _sample(
        setup,
        "kervan_order_ingest_dead_lettered_messages_total",
        {"topic": "orders", "group": "grp", "reason": "exhausted"},
    )
    assert dead == 1


@pytest.mark.parametrize("body", [b"{not json", b'{"order_id": "seven"}'])
async def test_validation_errors_skip_the_retries(body: bytes) -> None:
    setup = make_setup(POLICY)
    calls: list[object] = []

    @setup.broker.subscriber("orders", **subscriber_options("grp"))
    async def handle(order: Order) -> None:
        calls.append(order)

    async with TestKafkaBroker(setup.broker) as broker:
        await broker.publish(body, "orders")

    assert calls == []
    assert setup.recorder.sleeps == []
    (letter,) = setup.recorder.dead_letters
    assert letter["value"] == body
    headers = letter["headers"]
    assert isinstance(headers, dict)
    assert headers["x-dlq-attempts"] == "1"
    assert "seven" not in headers["x-dlq-error-message"]


async def test_failed_dlq_publish_escapes_after_a_backoff() -> None:
    setup = make_setup(POLICY)
    setup.recorder.fail_publish = True

    @setup.broker.subscriber("orders", **subscriber_options("grp"))
    async def handle(order: Order) -> None:
        raise RuntimeError("always")

    async with TestKafkaBroker(setup.broker) as broker:
        with pytest.raises(Exception, match=r"could not publish to grp\.dlq"):
            await broker.publish({"order_id": 1}, "orders")

    # three retry waits, then the longest wait before letting the error escape (no hot loop)
    assert setup.recorder.sleeps == [1.0, 2.0, 3.0, 3.0]
    failures = _sample(
        setup,
        "kervan_order_ingest_dead_letter_publish_failures_total",
        {"topic": "orders", "group": "grp"},
    )
    assert failures == 1
