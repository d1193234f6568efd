"""Registry of every event type: model, major version, topic and key; envelope helpers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Generic, TypeVar, cast, overload

from pydantic import ValidationError

from kervan_contracts.catalog.v1 import PriceChanged, ProductUpserted, StockLevelChanged
from kervan_contracts.credentials.v1 import ApiStatusChanged, CredentialsChanged
from kervan_contracts.envelope import Envelope
from kervan_contracts.errors import InvalidEventError, UnknownEventTypeError
from kervan_contracts.event import EventPayload
from kervan_contracts.inventory.v1 import StockDeducted, StockReleased
from kervan_contracts.orders.v1 import OrderCancelled, OrderReceived, OrderUpdated
from kervan_contracts.stores.v1 import (
    StoreCreated,
    StoreDeleted,
    StoreSettingsChanged,
    StoreStatusChanged,
    StoreUpdated,
)
from kervan_contracts.sync.v1 import CatalogPushCompleted
from kervan_contracts.topics import TOPICS

P = TypeVar("P", bound=EventPayload)

HEADER_EVENT_TYPE = "event_type"
"""Kafka header mirroring the envelope's `event_type`."""
HEADER_EVENT_ID = "event_id"
"""Kafka header mirroring the envelope's `event_id`."""

WIRE_REQUIRED_FIELDS = (
    "event_id",
    "event_type",
    "event_version",
    "occurred_at",
    "producer",
    "correlation_id",
    "data",
)
"""Envelope fields a message must carry; the model only defaults them when *producing*."""

_MAX_REPORTED_ERRORS = 10

_ENVELOPE_MODELS: dict[type[EventPayload], type[Envelope[Any]]] = {}
"""Each payload's parametrised envelope (see `EventSpec.envelope_model`)."""


@dataclass(frozen=True, slots=True)
class EventSpec(Generic[P]):
    """One registered event: its payload model and what the model declares about itself."""

    model: type[P]

    @property
    def event_type(self) -> str:
        """`<context>.<entity>.<verb>`."""
        return self.model.event_type

    @property
    def version(self) -> int:
        """Major version of the payload schema."""
        return self.model.event_version

    @property
    def topic(self) -> str:
        """Topic the event is published to."""
        return self.model.topic

    @property
    def envelope_model(self) -> type[Envelope[P]]:
        """The envelope parametrised with this payload, built once and kept for good.

        pydantic's own cache of parametrised generic models holds them weakly, and such a
        class sits in reference cycles: once nothing else refers to it, a garbage collection
        frees it and the next `Envelope[...]` builds the class and its schema again (about a
        millisecond; ~12 % of store-registry's CPU per write under load before this).
        """
        model = _ENVELOPE_MODELS.get(self.model)
        if model is None:
            model = _ENVELOPE_MODELS[self.model] = Envelope[self.model]  # type: ignore[name-defined]
        return cast("type[Envelope[P]]", model)


EVENT_MODELS: tuple[type[EventPayload], ...] = (
    StoreCreated,
    StoreUpdated,
    StoreSettingsChanged,
    StoreStatusChanged,
    StoreDeleted,
    ApiStatusChanged,
    CredentialsChanged,
    OrderReceived,
    OrderUpdated,
    OrderCancelled,
    StockDeducted,
    StockReleased,
    ProductUpserted,
    PriceChanged,
    StockLevelChanged,
    CatalogPushCompleted,
)
"""Every v1 event payload, in documentation order."""


def _build_registry() -> Mapping[tuple[str, int], EventSpec[EventPayload]]:
    registry: dict[tuple[str, int], EventSpec[EventPayload]] = {}
    for model in EVENT_MODELS:
        spec: EventSpec[EventPayload] = EventSpec(model)
        if (spec.event_type, spec.version) in registry:
            raise RuntimeError(f"{spec.event_type} v{spec.version} registered twice")
        if spec.topic not in TOPICS:
            raise RuntimeError(f"{spec.event_type} names unknown topic {spec.topic}")
        registry[spec.event_type, spec.version] = spec
    return MappingProxyType(registry)


REGISTRY = _build_registry()
"""(event_type, major version) → EventSpec."""

_BY_MODEL: Mapping[type[EventPayload], EventSpec[EventPayload]] = MappingProxyType(
    {spec.model: spec for spec in REGISTRY.values()}
)


def spec_for(event_type: str, version: int) -> EventSpec[EventPayload]:
    """The spec of an event type and major version, or UnknownEventTypeError."""
    try:
        return REGISTRY[event_type, version]
    except KeyError:
        known = sorted(v for (t, v) in REGISTRY if t == event_type)
        if known:
            raise UnknownEventTypeError(
                f"{event_type!r} has no major version {version!r}; known versions: {known}"
            ) from None
        raise UnknownEventTypeError(f"unknown event type {event_type!r}") from None


def spec_of(model: type[P]) -> EventSpec[P]:
    """The spec of a payload class, or UnknownEventTypeError if it is not registered."""
    try:
        return cast("EventSpec[P]", _BY_MODEL[model])
    except KeyError:
        raise UnknownEventTypeError(f"{model.__qualname__} is not a registered event") from None


def events_on_topic(topic: str) -> tuple[EventSpec[EventPayload], ...]:
    """Every event published to a topic."""
    return tuple(spec for spec in REGISTRY.values() if spec.topic == topic)


def key_for(payload: EventPayload) -> str:
    """The Kafka key of an event, as documented per topic."""
    spec_of(type(payload))
    return payload.partition_key()


def make_envelope(
    payload: P,
    *,
    producer: str,
    correlation_id: str | None = None,
    causation_id: uuid.UUID | None = None,
    event_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
) -> Envelope[P]:
    """Wrap a payload in an envelope; event type and version come from the payload's class.

    `correlation_id` defaults to a new id (start of a chain); pass the incoming event's
    `correlation_id` and its `event_id` as `causation_id` when reacting to an event.
    """
    spec = spec_of(type(payload))
    fields: dict[str, object] = {
        "event_type": spec.event_type,
        "event_version": spec.version,
        "producer": producer,
        "causation_id": causation_id,
        "data": payload,
        "event_id": event_id or uuid.uuid4(),
        "occurred_at": occurred_at or datetime.now(UTC),
        "correlation_id": correlation_id or str(uuid.uuid4()),
    }
    try:
        return spec.envelope_model.model_validate(fields)
    except ValidationError as exc:
        raise InvalidEventError(_describe(spec.event_type, spec.version, exc)) from exc


def serialize_envelope(envelope: Envelope[P]) -> bytes:
    """UTF-8 JSON of an envelope, as written to Kafka."""
    return envelope.model_dump_json().encode()


def envelope_headers(envelope: Envelope[P]) -> dict[str, str]:
    """Kafka headers mirroring the envelope, so brokers' tools can route without parsing."""
    return {HEADER_EVENT_TYPE: envelope.event_type, HEADER_EVENT_ID: str(envelope.event_id)}


RawEvent = bytes | bytearray | memoryview | str | Mapping[str, object]


@overload
def parse_envelope(raw: RawEvent) -> Envelope[EventPayload]: ...
@overload
def parse_envelope(raw: RawEvent, expected: type[P]) -> Envelope[P]: ...
def parse_envelope(
    raw: RawEvent, expected: type[P] | None = None
) -> Envelope[P] | Envelope[EventPayload]:
    """Parse a message value into an envelope typed by its `event_type` and `event_version`.

    Raises UnknownEventTypeError for types or major versions not in the registry, and
    InvalidEventError for anything malformed (or not the `expected` payload class).
    Unknown fields are ignored, so producers may add optional fields within a major version.
    """
    document = _decode(raw)
    event_type = document.get("event_type")
    version = document.get("event_version")
    if not isinstance(event_type, str) or isinstance(version, bool) or not isinstance(version, int):
        raise InvalidEventError("envelope needs a string event_type and an integer event_version")
    spec = spec_for(event_type, version)
    if expected is not None and spec.model is not expected:
        raise InvalidEventError(
            f"expected {spec_of(expected).event_type} v{spec_of(expected).version}, "
            f"got {event_type} v{version}"
        )
    missing = [name for name in WIRE_REQUIRED_FIELDS if document.get(name) is None]
    if missing:
        raise InvalidEventError(f"{event_type} v{version}: envelope lacks {', '.join(missing)}")
    try:
        return spec.envelope_model.model_validate(document)
    except ValidationError as exc:
        raise InvalidEventError(_describe(event_type, version, exc)) from exc


def _decode(raw: RawEvent) -> Mapping[str, object]:
    if isinstance(raw, Mapping):
        return raw
    try:
        document = json.loads(bytes(raw) if not isinstance(raw, str) else raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEventError("message value is not UTF-8 JSON") from exc
    if not isinstance(document, dict):
        raise InvalidEventError("message value is not a JSON object")
    return cast("dict[str, object]", document)


def _describe(event_type: str, version: int, exc: ValidationError) -> str:
    # Field paths and rule messages only: input values could be personal data.
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or '<root>'}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    shown = "; ".join(problems[:_MAX_REPORTED_ERRORS])
    more = len(problems) - _MAX_REPORTED_ERRORS
    suffix = f" (+{more} more)" if more > 0 else ""
    return f"invalid {event_type} v{version}: {shown}{suffix}"
