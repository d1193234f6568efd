"""Outbox rows are written without building an `Envelope`: they must be the very bytes the
contracts' own serialisation gives, and every event the aggregate builds must be valid."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from order_ingest.adapters.postgres import OrderJson, new_event_ids, outbox_row
from order_ingest.domain.order import IngestedOrder

from kervan_contracts.event import EventPayload
from kervan_contracts.orders.v1 import Order, OrderBuyer, OrderStatus
from kervan_contracts.registry import key_for, make_envelope, serialize_envelope, spec_of
from kervan_servicekit import Outbox
from kervan_servicekit.outbox import OutboxMessage

from .builders import T0, line, order
from .test_order_properties import histories, run


def assert_row_matches_the_contract(event: EventPayload, occurred_at: datetime) -> None:
    # Validating a dump checks what the aggregate assembled without validation.
    assert type(event).model_validate(event.model_dump()) == event
    (event_id,) = new_event_ids(1)
    row = outbox_row(
        event,
        producer="order-ingest",
        correlation_id="poll-7",
        occurred_at=occurred_at,
        event_id=event_id,
        order_json=OrderJson(),
    )
    envelope = make_envelope(
        event,
        producer="order-ingest",
        correlation_id="poll-7",
        event_id=uuid.UUID(event_id),
        occurred_at=occurred_at,
    )
    message = OutboxMessage(spec_of(type(event)).topic, key_for(event), envelope)
    _, topic, key, headers, payload = Outbox._row(message)
    assert row[0] == event_id
    assert row[1] == topic
    assert row[2] == key
    assert json.loads(row[3]) == json.loads(str(headers))
    assert row[4] == payload == serialize_envelope(envelope)
    # The relay's hand-off carries the headers it would have read back from row[3].
    assert row[5] == [(name, str(value).encode()) for name, value in json.loads(row[3]).items()]


@settings(max_examples=100, deadline=None)
@given(histories(), st.sampled_from(["w", None]))
def test_every_event_of_the_aggregate_is_valid_and_serialised_as_the_contract_does(
    versions: list[Order], warehouse: str | None
) -> None:
    agg, events = run(versions, warehouse)
    if warehouse is None:
        events += agg.assign_warehouse("late", T0)
    for event in events:
        assert_row_matches_the_contract(event, T0)


def test_text_that_needs_escaping_and_every_kind_of_timestamp() -> None:
    """Non-ASCII, quotes, backslashes and control characters; whole-second, microsecond and
    non-UTC instants (the envelope is always in UTC, with a `Z`)."""
    first = order(
        lines=[
            line("L1", "ÇAY-6", 2).model_copy(
                update={"product_name": 'Çay barda\u011f\u0131 "ince" \\ 6\u2028l\u0131\t\x01 €'}
            )
        ]
    ).model_copy(update={"buyer": OrderBuyer(name="Şükrü Öztürk", city="İstanbul")})
    agg, events = IngestedOrder.first_seen(
        first, stock_deduction_enabled=True, default_warehouse_id="wh-1", now=T0
    )
    cancelled = first.model_copy(
        update={
            "lines": [first.lines[0].model_copy(update={"cancelled_quantity": 1})],
            "last_modified_at": T0 + timedelta(minutes=1),
            "status": OrderStatus.PREPARING,
        }
    )
    events += agg.observe(cancelled, T0 + timedelta(seconds=1, microseconds=5))
    assert [type(e).__name__ for e in events] == [
        "OrderReceived",
        "StockDeducted",
        "OrderCancelled",
        "OrderUpdated",
        "StockReleased",
    ]
    istanbul = timezone(timedelta(hours=3))
    for at in (T0, T0.replace(microsecond=123456), datetime(2026, 3, 1, 12, tzinfo=istanbul)):
        for event in events:
            assert_row_matches_the_contract(event, at.astimezone(UTC))


def test_an_order_is_serialised_once_for_its_row_and_its_event() -> None:
    shared = OrderJson()
    first = order()
    assert shared.of(first) is shared.of(first)
    assert shared.of(first) == first.model_dump_json().encode()
    other = order(number="1002")
    assert shared.of(other) != shared.of(first)


def test_event_ids_are_random_version_4_uuids_in_canonical_text() -> None:
    ids = new_event_ids(2_000)
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # canonical: lowercase, hyphenated
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    # Every variant digit occurs (the two random bits under the variant are kept).
    assert {text[19] for text in ids} == set("89ab")
    assert new_event_ids(0) == []
