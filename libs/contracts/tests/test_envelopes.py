"""Round trips, parse errors, UTC, money on the wire, unknown fields ignored, immutability."""

from __future__ import annotations

import gc
import json
import uuid
import weakref
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from kervan_contracts import (
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    REGISTRY,
    Envelope,
    EventPayload,
    InvalidEventError,
    UnknownEventTypeError,
    envelope_headers,
    key_for,
    make_envelope,
    parse_envelope,
    serialize_envelope,
)
from kervan_contracts.examples import EXAMPLES, order, store_snapshot
from kervan_contracts.money import Money
from kervan_contracts.orders.v1 import OrderReceived
from kervan_contracts.stores.v1 import StoreCreated, StoreSnapshot


def test_every_registered_event_has_an_example() -> None:
    assert set(EXAMPLES) == {event_type for event_type, _ in REGISTRY}


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_round_trip_through_bytes_gives_an_equal_typed_envelope(event_type: str) -> None:
    payload = EXAMPLES[event_type]
    cause = uuid.uuid4()
    sent = make_envelope(payload, producer="test", correlation_id="corr-1", causation_id=cause)

    received = parse_envelope(serialize_envelope(sent))

    assert received == sent
    assert type(received.data) is type(payload)
    assert received.event_type == event_type
    assert received.event_version == 1
    assert (received.correlation_id, received.causation_id) == ("corr-1", cause)
    assert envelope_headers(received) == {
        HEADER_EVENT_TYPE: event_type,
        HEADER_EVENT_ID: str(sent.event_id),
    }


def test_parse_with_expected_class_returns_that_payload_type() -> None:
    raw = serialize_envelope(make_envelope(EXAMPLES["orders.order.received"], producer="t"))

    envelope: Envelope[OrderReceived] = parse_envelope(raw, OrderReceived)

    assert envelope.data.order.order_number == "10654321987"
    with pytest.raises(InvalidEventError, match=r"expected stores\.store\.created v1"):
        parse_envelope(raw, StoreCreated)


def _wire(payload: EventPayload) -> dict[str, object]:
    document = json.loads(serialize_envelope(make_envelope(payload, producer="test")))
    assert isinstance(document, dict)
    return document


def test_unknown_event_type_and_unknown_major_version_are_named() -> None:
    document = _wire(EXAMPLES["orders.order.received"])

    with pytest.raises(UnknownEventTypeError, match=r"unknown event type 'orders\.order\.eaten'"):
        parse_envelope({**document, "event_type": "orders.order.eaten"})
    with pytest.raises(UnknownEventTypeError, match=r"no major version 2; known versions: \[1\]"):
        parse_envelope({**document, "event_version": 2})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"{not json", "not UTF-8 JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"event_type": "orders.order.received"}', "integer event_version"),
        (
            b'{"event_type": "orders.order.received", "event_version": true}',
            "integer event_version",
        ),
    ],
)
def test_malformed_values_raise_invalid_event(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidEventError, match=message):
        parse_envelope(raw)


@pytest.mark.parametrize("field", ["event_id", "occurred_at", "correlation_id", "producer"])
def test_consumers_never_invent_envelope_fields_missing_on_the_wire(field: str) -> None:
    document = _wire(EXAMPLES["stores.store.created"])
    del document[field]

    with pytest.raises(InvalidEventError, match=f"lacks {field}"):
        parse_envelope(document)


def test_unknown_fields_are_ignored_at_every_level() -> None:
    document = _wire(EXAMPLES["orders.order.received"])
    document["added_in_a_later_minor"] = {"x": 1}
    data = document["data"]
    assert isinstance(data, dict)
    data["new_optional_field"] = "ignored"
    data["order"]["lines"][0]["gift_wrap"] = True

    parsed = parse_envelope(json.dumps(document))

    assert parsed.data == EXAMPLES["orders.order.received"]
    assert "gift_wrap" not in parsed.model_dump_json()


def test_validation_errors_name_fields_but_never_echo_values() -> None:
    document = _wire(EXAMPLES["orders.order.received"])
    document["data"]["order"]["buyer"]["name"] = "X" * 201  # type: ignore[index]
    document["data"]["order"]["lines"][0]["quantity"] = 0  # type: ignore[index]

    with pytest.raises(InvalidEventError) as caught:
        parse_envelope(document)

    text = str(caught.value)
    assert "data.order.buyer.name" in text
    assert "data.order.lines.0.quantity" in text
    assert "XXXX" not in text


def test_models_are_frozen() -> None:
    envelope = make_envelope(EXAMPLES["stores.store.created"], producer="t")
    snapshot = store_snapshot()

    with pytest.raises(ValidationError, match="frozen"):
        envelope.producer = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        snapshot.version = 99  # type: ignore[misc]


def test_make_envelope_refuses_unregistered_payload_classes() -> None:
    class Unregistered(EventPayload):
        event_type = "tests.thing.happened"
        event_version = 1
        topic = "kervan.orders.v1"

    with pytest.raises(UnknownEventTypeError, match="not a registered event"):
        make_envelope(Unregistered(), producer="t")
    with pytest.raises(UnknownEventTypeError):
        key_for(Unregistered())


class TestUtc:
    def test_offsets_are_normalised_to_utc(self) -> None:
        istanbul = timezone(timedelta(hours=3))
        envelope = make_envelope(
            EXAMPLES["stores.store.created"],
            producer="t",
            occurred_at=datetime(2025, 3, 14, 12, 0, tzinfo=istanbul),
        )

        assert envelope.occurred_at == datetime(2025, 3, 14, 9, 0, tzinfo=UTC)
        assert envelope.occurred_at.utcoffset() == timedelta(0)
        assert '"occurred_at":"2025-03-14T09:00:00Z"' in serialize_envelope(envelope).decode()

    def test_naive_timestamps_are_rejected_in_payloads_and_on_the_wire(self) -> None:
        naive = datetime(2025, 1, 1)  # noqa: DTZ001 - the point of the test
        with pytest.raises(ValidationError, match="timezone"):
            StoreSnapshot.model_validate({**store_snapshot().model_dump(), "created_at": naive})
        document = _wire(EXAMPLES["stores.store.created"])
        document["occurred_at"] = "2025-03-14T09:00:00"
        with pytest.raises(InvalidEventError, match="occurred_at: Value error, timestamps"):
            parse_envelope(document)


class TestMoney:
    def test_amounts_travel_as_strings_and_keep_their_scale(self) -> None:
        wire = _wire(EXAMPLES["catalog.price.changed"])

        assert wire["data"]["sale_price"] == {"amount": "299.90", "currency": "TRY"}  # type: ignore[index]
        assert Money.of(Decimal("1E+2"), "TRY").model_dump(mode="json")["amount"] == "100"

    def test_repeated_amount_texts_keep_their_own_scale(self) -> None:
        """Parsed texts are remembered: equal amounts of another scale stay apart."""
        for _ in range(2):
            for text in ("129.9", "129.90", "129.900", "-0.0", "0", "100"):
                amount = Money.of(text, "TRY").amount
                assert (str(amount), amount.is_signed()) == (text, text.startswith("-"))
                assert Money.of(text, "TRY").model_dump(mode="json")["amount"] == text

    @pytest.mark.parametrize(
        "amount", [12.5, True, "1e3", "12,50", "01.5", " 1", "NaN", "1.123456789"]
    )
    def test_floats_and_non_plain_decimals_are_rejected(self, amount: object) -> None:
        with pytest.raises(ValidationError, match="amount"):
            Money.model_validate({"amount": amount, "currency": "TRY"})

    @pytest.mark.parametrize("amount", [Decimal("NaN"), Decimal("Infinity")])
    def test_non_finite_decimals_are_rejected(self, amount: Decimal) -> None:
        with pytest.raises(ValidationError, match="finite"):
            Money.model_validate({"amount": amount, "currency": "TRY"})

    def test_json_number_amount_on_the_wire_is_rejected(self) -> None:
        document = _wire(EXAMPLES["catalog.price.changed"])
        document["data"]["sale_price"]["amount"] = 299.9  # type: ignore[index]

        with pytest.raises(InvalidEventError, match=r"data.sale_price.amount: .*never floats"):
            parse_envelope(document)

    def test_negative_prices_are_rejected_but_money_itself_may_be_signed(self) -> None:
        assert Money.of("-5.00", "TRY").amount == Decimal("-5.00")
        with pytest.raises(ValidationError, match="must not be negative"):
            order().lines[0].model_validate(
                {**order().lines[0].model_dump(), "unit_price": {"amount": "-1", "currency": "TRY"}}
            )


def test_the_parametrised_envelope_outlives_a_garbage_collection() -> None:
    # pydantic keeps parametrised generics in a weak cache: without the registry's strong
    # reference a collection frees the class and every later use rebuilds its schema.
    (spec,) = [s for s in REGISTRY.values() if s.event_type == "inventory.stock.released"]
    kept = weakref.ref(spec.envelope_model)
    gc.collect()
    assert kept() is not None
    assert spec.envelope_model is kept()
