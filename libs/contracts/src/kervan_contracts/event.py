"""Base class of every event payload: knows its type, version, topic and Kafka key."""

from __future__ import annotations

from typing import ClassVar

from kervan_contracts.envelope import ContractModel


class EventPayload(ContractModel):
    """The `data` of an envelope. Subclasses pin their event type, major version and topic."""

    event_type: ClassVar[str]
    """`<context>.<entity>.<verb>`, e.g. `orders.order.received`."""
    event_version: ClassVar[int]
    """Major version of this payload's schema."""
    topic: ClassVar[str]
    """Kafka topic the event is published to."""

    def partition_key(self) -> str:
        """The Kafka message key; it decides the partition and therefore the ordering scope."""
        raise NotImplementedError
