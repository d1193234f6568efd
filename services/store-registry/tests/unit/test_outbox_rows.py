"""`outbox_row` writes events without building an `Envelope`: its rows must be what servicekit's
`Outbox` writes for the contract's envelope (`envelope_of`), byte for byte, for every kind of
change and any state the contract accepts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from store_registry.adapters.events import envelope_of, outbox_row
from store_registry.domain.model import (
    ChangeKind,
    OrderSettings,
    ProductSettings,
    StoreChange,
    StoreState,
)

from kervan_contracts.identifiers import Platform
from kervan_contracts.registry import parse_envelope
from kervan_contracts.stores.v1 import AutoUpdateType, StoreStatus, _StoreEvent
from kervan_contracts.topics import STORES
from kervan_servicekit.outbox import Outbox, OutboxMessage

identifiers = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
# Any text: non-ASCII, quotes, backslashes, control characters, U+2028, surrogates excluded.
titles = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=200)
urls = st.none() | st.from_regex(r"\Ahttps://[a-z0-9.-]{1,30}(/[^\s]{0,40})?\Z")
# Whole seconds, microseconds, and offsets other than UTC (the envelope is always in UTC).
instants = st.builds(
    lambda at, offset_minutes: at.replace(tzinfo=UTC).astimezone(
        timezone(timedelta(minutes=offset_minutes))
    ),
    st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1)),  # noqa: DTZ001
    st.sampled_from([0, 0, 180, -330, 840]),
)


@st.composite
def states(draw: st.DrawFn) -> StoreState:
    created = draw(instants)
    return StoreState(
        id=draw(identifiers),
        title=draw(titles),
        platform=draw(st.sampled_from(Platform)),
        status=draw(st.sampled_from(StoreStatus)),
        test_mode=draw(st.booleans()),
        store_url=draw(urls),
        products=ProductSettings(
            default_price_list_id=draw(st.none() | identifiers),
            default_category_id=draw(st.none() | identifiers),
            default_brand_id=draw(st.none() | identifiers),
            product_update_enabled=draw(st.booleans()),
            auto_update_type=draw(st.sampled_from(AutoUpdateType)),
        ),
        orders=OrderSettings(
            order_transfer_enabled=draw(st.booleans()),
            default_warehouse_id=draw(st.none() | identifiers),
            cargo_company_id=draw(st.none() | identifiers),
            stock_deduction_enabled=draw(st.booleans()),
        ),
        version=draw(st.integers(1, 2**31 - 1)),
        created_at=created,
        updated_at=created + draw(st.timedeltas(timedelta(0), timedelta(days=400))),
    )


changes = st.builds(
    StoreChange,
    kind=st.sampled_from(ChangeKind),
    state=states(),
    diff=st.just({}),
    actor=st.just("admin"),
    at=instants,
)


@settings(max_examples=300, deadline=None)
@given(changes, st.none() | st.text(min_size=1, max_size=128))
def test_rows_are_what_the_outbox_writes_for_the_contract_envelope(
    change: StoreChange, correlation_id: str | None
) -> None:
    event_id = uuid.uuid4()
    row = outbox_row(change, topic=STORES, correlation_id=correlation_id, event_id=event_id)
    envelope = envelope_of(change, row_correlation_id(row))
    envelope = envelope.model_copy(update={"event_id": event_id})
    expected = Outbox._row(OutboxMessage(STORES, change.state.id, envelope))
    assert row[:3] == expected[:3]
    assert json.loads(row[3]) == json.loads(str(expected[3]))
    assert row[4] == expected[4]
    # And what consumers parse is the change: its event type, its snapshot, its correlation.
    parsed = parse_envelope(row[4])
    assert parsed.event_type == f"stores.store.{change.kind.value}"
    assert isinstance(parsed.data, _StoreEvent)
    assert parsed.data.store.version == change.state.version
    if correlation_id is not None:
        assert parsed.correlation_id == correlation_id


def row_correlation_id(row: tuple[object, ...]) -> str:
    """The correlation id a row carries (a new one when the write had none)."""
    headers = json.loads(str(row[3]))
    assert isinstance(headers["correlation_id"], str)
    return headers["correlation_id"]


def test_a_write_without_correlation_id_gets_a_new_one_per_row() -> None:
    at = datetime(2026, 12, 7, 22, 0, tzinfo=UTC)
    state = StoreState(
        "s1", "Mağaza", Platform.TRENDYOL, StoreStatus.ACTIVE, False, None,
        ProductSettings(), OrderSettings(), 1, at, at,
    )  # fmt: skip
    change = StoreChange(ChangeKind.CREATED, state, {}, "admin", at)
    first, second = (outbox_row(change, topic=STORES, correlation_id=None) for _ in range(2))
    assert row_correlation_id(first) != row_correlation_id(second)
    assert first[0] != second[0]
    assert json.loads(first[4])["correlation_id"] == row_correlation_id(first)
