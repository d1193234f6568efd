"""Kervan event contracts: envelope, v1 events, topic registry, JSON Schemas (pydantic only).

Typical use::

    from kervan_contracts import make_envelope, parse_envelope, key_for, serialize_envelope

    envelope = make_envelope(OrderReceived(order=order), producer="order-ingest")
    value, key = serialize_envelope(envelope), key_for(envelope.data)
    ...
    incoming = parse_envelope(value)  # Envelope[OrderReceived], typed by event_type
"""

from kervan_contracts.envelope import ContractModel, Envelope, UtcDatetime
from kervan_contracts.errors import ContractError, InvalidEventError, UnknownEventTypeError
from kervan_contracts.event import EventPayload
from kervan_contracts.registry import (
    EVENT_MODELS,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    REGISTRY,
    EventSpec,
    envelope_headers,
    events_on_topic,
    key_for,
    make_envelope,
    parse_envelope,
    serialize_envelope,
    spec_for,
    spec_of,
)
from kervan_contracts.topics import TOPICS, TopicSpec, dlq_topic

__all__ = [
    "EVENT_MODELS",
    "HEADER_EVENT_ID",
    "HEADER_EVENT_TYPE",
    "REGISTRY",
    "TOPICS",
    "ContractError",
    "ContractModel",
    "Envelope",
    "EventPayload",
    "EventSpec",
    "InvalidEventError",
    "TopicSpec",
    "UnknownEventTypeError",
    "UtcDatetime",
    "dlq_topic",
    "envelope_headers",
    "events_on_topic",
    "key_for",
    "make_envelope",
    "parse_envelope",
    "serialize_envelope",
    "spec_for",
    "spec_of",
]
