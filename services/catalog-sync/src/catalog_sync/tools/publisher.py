"""Publish catalogue events to Kafka, each under the key its contract defines."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from kervan_contracts.event import EventPayload
from kervan_contracts.registry import (
    envelope_headers,
    key_for,
    make_envelope,
    serialize_envelope,
)

PRODUCER = "catalog-publisher"


async def publish_events(
    bootstrap: str,
    payloads: Sequence[EventPayload],
    *,
    producer: str = PRODUCER,
    topic: str | None = None,
    timeout_seconds: float = 30.0,
) -> int:
    """Publish `payloads` in order and wait until Kafka confirms every one; returns the count.

    `topic` overrides each payload's own topic (tests use isolated topics). The producer is
    idempotent with `acks=all`, so a broker retry cannot duplicate or reorder records of one key.
    """
    client = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await client.start()
    try:
        sends = []
        for payload in payloads:
            envelope = make_envelope(payload, producer=producer)
            headers = [(k, v.encode()) for k, v in envelope_headers(envelope).items()]
            sends.append(
                await client.send(
                    topic or payload.topic,
                    serialize_envelope(envelope),
                    key=key_for(payload).encode(),
                    headers=headers,
                )
            )
        await asyncio.wait_for(asyncio.gather(*sends), timeout_seconds)
    finally:
        await client.stop()
    return len(sends)
