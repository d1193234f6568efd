"""Model rules: orders, stock movements, credentials without secrets, catalog keys, push results."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import kervan_contracts
from kervan_contracts import REGISTRY, EventPayload, key_for
from kervan_contracts.catalog.v1 import PriceChanged, StockLevelChanged
from kervan_contracts.credentials.v1 import CredentialsChanged
from kervan_contracts.examples import EXAMPLES, order, store_snapshot
from kervan_contracts.inventory.v1 import (
    MOVEMENT_NAMESPACE,
    StockDeducted,
    StockMovementReason,
    StockReleased,
    movement_id,
)
from kervan_contracts.money import Money
from kervan_contracts.orders.v1 import CancelledLine, Order, OrderBuyer, OrderCancelled
from kervan_contracts.schema import envelope_schema
from kervan_contracts.stores.v1 import StoreSnapshot
from kervan_contracts.sync.v1 import CatalogPushCompleted, PushCounts


def _with(model: BaseModel, **changes: Any) -> dict[str, Any]:
    return {**model.model_dump(), **changes}


class TestOrders:
    def test_every_amount_must_be_in_the_order_currency(self) -> None:
        lines = [line.model_dump() for line in order().lines]
        lines[1]["line_total"] = {"amount": "650.00", "currency": "EUR"}
        lines[1]["unit_price"] = {"amount": "650.00", "currency": "EUR"}

        with pytest.raises(ValidationError, match="order's currency"):
            Order.model_validate(_with(order(), lines=lines))

    def test_line_ids_are_unique_and_lines_required(self) -> None:
        first = order().lines[0].model_dump()

        with pytest.raises(ValidationError, match="unique"):
            Order.model_validate(_with(order(), lines=[first, first]))
        with pytest.raises(ValidationError, match="at least 1"):
            Order.model_validate(_with(order(), lines=[]))

    def test_cancelled_and_returned_cannot_exceed_quantity(self) -> None:
        line = order().lines[0]
        assert line.model_validate(_with(line, cancelled_quantity=1, returned_quantity=1))
        with pytest.raises(ValidationError, match="must not exceed quantity"):
            line.model_validate(_with(line, cancelled_quantity=2, returned_quantity=1))

    def test_cancellation_names_lines_of_the_order(self) -> None:
        with pytest.raises(ValidationError, match="'nope' is not in the order"):
            OrderCancelled(
                order=order(), cancelled_lines=[CancelledLine(line_id="nope", cancelled_quantity=1)]
            )
        with pytest.raises(ValidationError, match="exceeds"):
            OrderCancelled(
                order=order(),
                cancelled_lines=[CancelledLine(line_id="987654321", cancelled_quantity=3)],
            )

    def test_ids_given_as_integers_become_text(self) -> None:
        parsed = Order.model_validate(_with(order(), order_number=10654321987, package_id=42))
        assert (parsed.order_number, parsed.package_id) == ("10654321987", "42")

    def test_buyer_carries_no_contact_or_identity_data(self) -> None:
        assert set(OrderBuyer.model_fields) == {"name", "city"}


class TestStockMovements:
    def test_movement_id_is_deterministic_and_separates_every_part(self) -> None:
        base = movement_id("s1", "o1", "l1", "sale")

        assert base == movement_id("s1", "o1", "l1", "sale")
        assert uuid.UUID(base).version == 5
        variants = {
            movement_id("s2", "o1", "l1", "sale"),
            movement_id("s1", "o2", "l1", "sale"),
            movement_id("s1", "o1", "l2", "sale"),
            movement_id("s1", "o1", "l1", "cancellation"),
            # A naive "s1:o1" join would make these two collide.
            movement_id("s1", "o1:l1", "", "sale"),
            movement_id("s1:o1", "l1", "", "sale"),
        }
        assert len(variants | {base}) == 7

    @settings(max_examples=500)
    @given(
        parts=st.tuples(st.text(), st.text(), st.text(), st.text()),
        cumulative=st.none() | st.integers(min_value=0, max_value=10**9),
    )
    def test_movement_id_is_uuid5_of_the_json_array_of_its_parts(
        self, parts: tuple[str, str, str, str], cumulative: int | None
    ) -> None:
        """The ids every stored movement has: uuid5 over `json.dumps` of the parts (any text:
        non-ASCII, quotes, backslashes, control characters, surrogates)."""
        name = list(parts) if cumulative is None else [*parts, str(cumulative)]
        expected = str(uuid.uuid5(MOVEMENT_NAMESPACE, json.dumps(name)))
        store_id, order_number, line_id, reason = parts
        assert movement_id(store_id, order_number, line_id, reason, cumulative) == expected

    def test_movement_ids_of_published_movements_never_change(self) -> None:
        assert movement_id("s1", "o1", "l1", "sale") == "1cce13ff-0c17-544b-8589-82aa48135114"
        assert (
            movement_id("s1", "o1", "l1", StockMovementReason.CANCELLATION, 2)
            == "e579ac30-3cd8-508c-ab56-f412dca03519"
        )

    def test_later_release_steps_have_their_own_ids_and_first_ones_keep_theirs(self) -> None:
        at = store_snapshot().created_at
        cancellation = StockMovementReason.CANCELLATION
        first = StockReleased.for_order_line(
            store_id="s",
            order_number="o",
            line_id="l",
            reason=cancellation,
            warehouse_id="w",
            sku="x",
            quantity=1,
            occurred_at=at,
        )
        second = StockReleased.later_step(
            store_id="s",
            order_number="o",
            line_id="l",
            reason=cancellation,
            warehouse_id="w",
            sku="x",
            quantity=2,
            cumulative_quantity=3,
            occurred_at=at,
        )

        # A first release is hashed exactly as before the field existed.
        assert first.movement_id == movement_id("s", "o", "l", "cancellation")
        assert first.cumulative_quantity is None
        assert second.movement_id == movement_id("s", "o", "l", "cancellation", 3)
        assert len({first.movement_id, second.movement_id}) == 2
        assert StockReleased.model_validate_json(second.model_dump_json()) == second

    def test_a_step_id_must_match_its_cumulative_quantity(self) -> None:
        second = StockReleased.for_order_line(
            store_id="s",
            order_number="o",
            line_id="l",
            reason=StockMovementReason.CANCELLATION,
            warehouse_id="w",
            sku="x",
            quantity=1,
            occurred_at=store_snapshot().created_at,
        )
        with pytest.raises(ValidationError, match="movement_id must equal"):
            StockReleased.model_validate(_with(second, cumulative_quantity=4))
        with pytest.raises(ValidationError, match="exceeds quantity"):
            StockReleased.model_validate(
                _with(
                    second,
                    quantity=4,
                    cumulative_quantity=4,
                    movement_id=movement_id("s", "o", "l", "cancellation", 4),
                )
            )

    def test_movement_id_must_match_its_origin(self) -> None:
        deducted = EXAMPLES["inventory.stock.deducted"]
        forged = _with(deducted, movement_id=str(uuid.uuid4()))

        with pytest.raises(ValidationError, match="movement_id must equal"):
            StockDeducted.model_validate(forged)

    def test_upper_case_ids_are_canonicalised(self) -> None:
        deducted = EXAMPLES["inventory.stock.deducted"]
        assert isinstance(deducted, StockDeducted)
        parsed = StockDeducted.model_validate(
            _with(deducted, movement_id=deducted.movement_id.upper())
        )
        assert parsed.movement_id == deducted.movement_id

    @pytest.mark.parametrize(
        ("model", "reason", "message"),
        [
            (StockDeducted, StockMovementReason.RETURN, "reason 'sale'"),
            (StockDeducted, StockMovementReason.CANCELLATION, "reason 'sale'"),
            (StockReleased, StockMovementReason.SALE, "'cancellation' or 'return'"),
        ],
    )
    def test_reasons_fit_the_direction(
        self, model: type[StockDeducted | StockReleased], reason: StockMovementReason, message: str
    ) -> None:
        with pytest.raises(ValidationError, match=message):
            model.for_order_line(
                store_id="s",
                order_number="o",
                line_id="l",
                reason=reason,
                warehouse_id="w",
                sku="x",
                quantity=1,
                occurred_at=store_snapshot().created_at,
            )

    def test_quantity_is_positive(self) -> None:
        with pytest.raises(ValidationError, match="greater than or equal to 1"):
            StockDeducted.for_order_line(
                store_id="s",
                order_number="o",
                line_id="l",
                reason=StockMovementReason.SALE,
                warehouse_id="w",
                sku="x",
                quantity=0,
                occurred_at=store_snapshot().created_at,
            )


def _string_leaves(node: object, path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if node.get("type") == "string":
            yield path, node
        for key, value in node.items():
            yield from _string_leaves(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _string_leaves(value, f"{path}[{index}]")


class TestCredentialsCarryNoSecrets:
    SECRET = "sk_live_9f8e7d6c5b4a"

    def test_no_string_in_the_payload_is_free_text(self) -> None:
        """Every string of CredentialsChanged is an enum, a date-time or a short id pattern."""
        spec = REGISTRY["credentials.credentials.changed", 1]
        data_defs = envelope_schema(spec)["$defs"]
        assert isinstance(data_defs, dict)
        for path, leaf in _string_leaves(data_defs):
            constrained = "enum" in leaf or leaf.get("format") == "date-time" or "pattern" in leaf
            assert constrained, f"{path} is free text and could carry a secret"
            if "pattern" in leaf:
                assert leaf["pattern"].startswith("^[A-Za-z0-9]"), path

    def test_secret_values_are_refused_or_dropped(self) -> None:
        example = EXAMPLES["credentials.credentials.changed"]
        with pytest.raises(ValidationError, match="fields_set"):
            CredentialsChanged.model_validate(_with(example, fields_set=[self.SECRET]))

        smuggled = CredentialsChanged.model_validate(
            _with(example, api_secret=self.SECRET, values={"api_key": self.SECRET})
        )
        assert self.SECRET not in smuggled.model_dump_json()

    def test_fields_set_is_canonical_and_empty_when_deleted(self) -> None:
        example = EXAMPLES["credentials.credentials.changed"]
        parsed = CredentialsChanged.model_validate(
            _with(example, fields_set=["supplier_id", "api_key", "api_key"])
        )
        assert [f.value for f in parsed.fields_set] == ["api_key", "supplier_id"]
        with pytest.raises(ValidationError, match="deleted credentials have no fields"):
            CredentialsChanged.model_validate(_with(example, deleted=True))


class TestCatalogAndSync:
    def test_price_currencies_match(self) -> None:
        price = EXAMPLES["catalog.price.changed"]
        with pytest.raises(ValidationError, match="share a currency"):
            PriceChanged.model_validate(_with(price, list_price={"amount": "1", "currency": "EUR"}))

    def test_catalog_keys_stay_unambiguous_for_skus_with_colons(self) -> None:
        price = PriceChanged(
            sku="A:B",
            price_list_id="pl1",
            sale_price=Money.of("1", "TRY"),
            list_price=Money.of("1", "TRY"),
        )
        kind, rest = key_for(price).split(":", 1)
        sku, price_list = rest.rsplit(":", 1)
        assert (kind, sku, price_list) == ("price", "A:B", "pl1")
        with pytest.raises(ValidationError, match="pattern"):
            PriceChanged.model_validate(_with(price, price_list_id="pl:1"))

    def test_applied_movement_ids_are_uuids_deduplicated(self) -> None:
        level = EXAMPLES["catalog.stock.level_changed"]
        ids = [movement_id("s", "o", "l", "sale")] * 2
        assert (
            StockLevelChanged.model_validate(
                _with(level, applied_movement_ids=ids)
            ).applied_movement_ids
            == ids[:1]
        )
        with pytest.raises(ValidationError):
            StockLevelChanged.model_validate(_with(level, applied_movement_ids=["not-a-uuid"]))

    def test_push_counts_and_fields_must_agree_with_items(self) -> None:
        push = EXAMPLES["sync.catalog_push.completed"]
        assert isinstance(push, CatalogPushCompleted)
        assert push.counts == PushCounts(accepted=1, failed=1, pending=0)
        with pytest.raises(ValidationError, match="counts must match"):
            CatalogPushCompleted.model_validate(
                _with(push, counts={"accepted": 2, "failed": 0, "pending": 0})
            )
        with pytest.raises(ValidationError, match="carry only"):
            CatalogPushCompleted.model_validate(_with(push, kind="product_info"))
        with pytest.raises(ValidationError, match="precede"):
            CatalogPushCompleted.model_validate(
                _with(push, completed_at=push.submitted_at - timedelta(seconds=1))
            )

    def test_store_snapshot_times_are_ordered(self) -> None:
        snapshot = store_snapshot()
        with pytest.raises(ValidationError, match="precede"):
            StoreSnapshot.model_validate(
                _with(snapshot, updated_at=snapshot.created_at - timedelta(seconds=1))
            )
        with pytest.raises(ValidationError, match="https"):
            StoreSnapshot.model_validate(_with(snapshot, store_url="javascript:alert(1)"))


def _all_payload_classes() -> set[type[EventPayload]]:
    for module in pkgutil.walk_packages(kervan_contracts.__path__, "kervan_contracts."):
        importlib.import_module(module.name)
    found: set[type[EventPayload]] = set()
    pending = list(EventPayload.__subclasses__())
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if cls.__module__.startswith("kervan_contracts.") and not cls.__name__.startswith("_"):
            found.add(cls)
    return found


class TestRegistry:
    def test_every_public_payload_class_is_registered(self) -> None:
        assert _all_payload_classes() == {spec.model for spec in REGISTRY.values()}

    @pytest.mark.parametrize("spec", list(REGISTRY.values()), ids=lambda s: s.event_type)
    def test_event_type_names_title_and_module(self, spec: Any) -> None:
        context = spec.event_type.split(".")[0]
        assert re.fullmatch(r"[a-z]+\.[a-z_]+\.[a-z_]+", spec.event_type)
        assert spec.model.__module__ == f"kervan_contracts.{context}.v{spec.version}"
        assert spec.model.model_config.get("title") == spec.model.__name__

    def test_every_nested_model_has_an_explicit_title(self) -> None:
        for spec in REGISTRY.values():
            defs = envelope_schema(spec)["$defs"]
            assert isinstance(defs, dict)
            for name, definition in defs.items():
                if "properties" in definition and not name.startswith("Envelope"):
                    assert definition.get("title") == name, name

    def test_keys_follow_the_documented_shape(self) -> None:
        shapes = {
            "kervan.stores.v1": r"[^:]+",
            "kervan.api-status.v1": r"[^:]+",
            "kervan.credentials.v1": r"[^:]+",
            "kervan.orders.v1": r"[^:]+:[^:]+",
            "kervan.stock-movements.v1": r"[^:]+:.+",
            "kervan.catalog.v1": r"(product:.+|price:.+:[^:]+|stock:.+:[^:]+)",
            "kervan.sync-results.v1": r"[^:]+",
        }
        for event_type, payload in EXAMPLES.items():
            assert re.fullmatch(shapes[payload.topic], key_for(payload)), event_type

    def test_examples_json_has_no_floats(self) -> None:
        def floats(node: object) -> bool:
            if isinstance(node, float):
                return True
            if isinstance(node, dict):
                return any(floats(v) for v in node.values())
            if isinstance(node, list):
                return any(floats(v) for v in node)
            return False

        for payload in EXAMPLES.values():
            assert not floats(json.loads(payload.model_dump_json()))
