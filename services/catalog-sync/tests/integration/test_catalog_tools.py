"""The catalogue publisher and the reference inventory on a real Kafka (isolated topics)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from catalog_sync.__main__ import main
from catalog_sync.tools.publisher import publish_events
from catalog_sync.tools.reference_inventory import run_reference_inventory

from kervan_contracts.catalog.v1 import StockLevelChanged
from kervan_contracts.inventory.v1 import StockDeducted, StockMovementReason, StockReleased
from kervan_testkit.events import record_events

pytestmark = [pytest.mark.integration]

NewTopic = Callable[..., Awaitable[str]]


async def test_publish_catalog_publishes_every_record_under_its_contract_key(
    kafka_bootstrap: str, new_topic: NewTopic, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    topic = await new_topic(prefix="catalog", partitions=1)  # one order to compare
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "sku,title,price_list_id,sale_price,list_price,warehouse_id,quantity\n"
        "LAMP-1,Lamp,pl-1,100.00,120.00,wh-1,7\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("KERVAN_KAFKA_BOOTSTRAP", kafka_bootstrap)
    async with record_events(kafka_bootstrap, topic) as rec:
        before = datetime.now(UTC)
        status = await asyncio.to_thread(main, ["publish-catalog", str(catalog), "--topic", topic])
        events = await rec.wait_for(3, timeout=20)
        # Stock levels are stamped when published: check the stamp, then compare the rest.
        as_of = events[2][2]["data"]["as_of"]
        assert before <= datetime.fromisoformat(as_of) <= datetime.now(UTC)
        await rec.assert_exact(
            [
                {
                    "event_type": "catalog.product.upserted",
                    "event_version": 1,
                    "producer": "catalog-publisher",
                    "data": {
                        "sku": "LAMP-1",
                        "title": "Lamp",
                        "description": None,
                        "barcode": None,
                        "model_code": None,
                        "brand_id": None,
                        "category_id": None,
                        "attributes": {},
                        "images": [],
                        "vat_rate": None,
                    },
                },
                {
                    "event_type": "catalog.price.changed",
                    "event_version": 1,
                    "producer": "catalog-publisher",
                    "data": {
                        "sku": "LAMP-1",
                        "price_list_id": "pl-1",
                        "sale_price": {"amount": "100.00", "currency": "TRY"},
                        "list_price": {"amount": "120.00", "currency": "TRY"},
                    },
                },
                {
                    "event_type": "catalog.stock.level_changed",
                    "event_version": 1,
                    "producer": "catalog-publisher",
                    "data": {
                        "sku": "LAMP-1",
                        "warehouse_id": "wh-1",
                        "quantity": 7,
                        "as_of": as_of,
                        "applied_movement_ids": [],
                    },
                },
            ],
        )
    assert status == 0
    assert sorted(str(key) for key, _, _ in events) == [
        "price:LAMP-1:pl-1",
        "product:LAMP-1",
        "stock:LAMP-1:wh-1",
    ]
    assert [headers["event_type"] for _, headers, _ in events] == [
        "catalog.product.upserted",
        "catalog.price.changed",
        "catalog.stock.level_changed",
    ]


def test_publish_catalog_rejects_an_invalid_file_without_publishing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text('{"stock": [{"sku": "A", "warehouse_id": "w"}]}', encoding="utf-8")
    # No Kafka is configured for this call: an invalid file must fail before connecting.
    assert main(["publish-catalog", str(catalog), "--topic", "unused"]) == 2
    assert "stock[0]: quantity" in capsys.readouterr().err


def _sale(line: str, quantity: int, sku: str, warehouse: str) -> StockDeducted:
    return StockDeducted.for_order_line(
        store_id="store-a",
        order_number="ORDER-1",
        line_id=line,
        reason=StockMovementReason.SALE,
        warehouse_id=warehouse,
        sku=sku,
        quantity=quantity,
        occurred_at=datetime.now(UTC),
    )


@asynccontextmanager
async def running_inventory(
    bootstrap: str, catalog: str, movements: str, group: str
) -> AsyncIterator[None]:
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        run_reference_inventory(
            bootstrap,
            stop=stop,
            ready=ready,
            catalog_topic=catalog,
            movements_topic=movements,
            group_id=group,
        )
    )
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if not ready.is_set():
        waiter.cancel()
        task.cancel()
        raise AssertionError(f"reference inventory did not start: {task}")
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def _levels(events: list[Any]) -> list[dict[str, Any]]:
    return [doc["data"] for _, _, doc in events if doc["event_type"].endswith("level_changed")]


async def test_reference_inventory_applies_each_movement_once_even_across_a_restart(
    kafka_bootstrap: str, new_topic: NewTopic, unique_name: Callable[[str], str]
) -> None:
    catalog = await new_topic(prefix="catalog", partitions=2)
    movements = await new_topic(prefix="movements", partitions=2)
    group = unique_name("inventory")
    sku, warehouse = "LAMP-1", "wh-1"
    initial = StockLevelChanged(
        sku=sku, warehouse_id=warehouse, quantity=10, as_of=datetime.now(UTC)
    )
    await publish_events(kafka_bootstrap, [initial], topic=catalog)
    first, second = _sale("1", 3, sku, warehouse), _sale("2", 2, sku, warehouse)
    cancel = StockReleased.for_order_line(
        store_id="store-a",
        order_number="ORDER-1",
        line_id="1",
        reason=StockMovementReason.CANCELLATION,
        warehouse_id=warehouse,
        sku=sku,
        quantity=3,
        occurred_at=datetime.now(UTC),
    )

    async with record_events(kafka_bootstrap, catalog) as rec:
        async with running_inventory(kafka_bootstrap, catalog, movements, group):
            await publish_events(kafka_bootstrap, [first, first], topic=movements)
            await rec.wait_for(1, timeout=20)
        # Restarted with an empty memory: the duplicate comes again, then new movements.
        async with running_inventory(kafka_bootstrap, catalog, movements, group):
            await publish_events(kafka_bootstrap, [first, second, cancel], topic=movements)
            await rec.wait_for(3, timeout=20)
        await rec.settle(timeout=10)
        everything = _levels(rec.records)

    assert [level["quantity"] for level in everything] == [7, 5, 8]
    assert everything[-1]["applied_movement_ids"] == sorted(
        {first.movement_id, second.movement_id, cancel.movement_id}
    )
    assert everything[0]["applied_movement_ids"] == [first.movement_id]
    as_of = [datetime.fromisoformat(level["as_of"]) for level in everything]
    assert as_of == sorted(as_of)
    assert len(set(as_of)) == 3
