"""One realistic payload per event type: used by the docs, the tests and other services' tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType

from kervan_contracts.catalog.v1 import PriceChanged, ProductUpserted, StockLevelChanged
from kervan_contracts.credentials.v1 import (
    ApiStatus,
    ApiStatusChanged,
    CredentialField,
    CredentialsChanged,
)
from kervan_contracts.event import EventPayload
from kervan_contracts.identifiers import Platform
from kervan_contracts.inventory.v1 import (
    StockDeducted,
    StockMovementReason,
    StockReleased,
)
from kervan_contracts.money import Money
from kervan_contracts.orders.v1 import (
    CancelledLine,
    Order,
    OrderBuyer,
    OrderCancelled,
    OrderLine,
    OrderReceived,
    OrderStatus,
    OrderTotals,
    OrderUpdated,
)
from kervan_contracts.stores.v1 import (
    AutoUpdateType,
    OrderSettings,
    ProductSettings,
    StoreCreated,
    StoreDeleted,
    StoreSettingsChanged,
    StoreSnapshot,
    StoreStatus,
    StoreStatusChanged,
    StoreUpdated,
)
from kervan_contracts.sync.v1 import (
    CatalogPushCompleted,
    PushCounts,
    PushedField,
    PushItemResult,
    PushKind,
    PushOutcome,
)

STORE_ID = "st-trendyol-1"
WAREHOUSE_ID = "wh-istanbul"
PRICE_LIST_ID = "pl-retail"
_T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def _try(amount: str) -> Money:
    return Money.of(amount, "TRY")


def store_snapshot(version: int = 1, status: StoreStatus = StoreStatus.ACTIVE) -> StoreSnapshot:
    """A Trendyol store with order transfer and stock deduction on."""
    return StoreSnapshot(
        store_id=STORE_ID,
        title="Kervan Demo Trendyol",
        platform=Platform.TRENDYOL,
        status=status,
        test_mode=True,
        store_url="https://www.trendyol.com/magaza/kervan-demo-m-123456",
        products=ProductSettings(
            default_price_list_id=PRICE_LIST_ID,
            default_category_id="411",
            default_brand_id="1791",
            product_update_enabled=True,
            auto_update_type=AutoUpdateType.STOCK_AND_PRICE,
        ),
        orders=OrderSettings(
            order_transfer_enabled=True,
            default_warehouse_id=WAREHOUSE_ID,
            cargo_company_id="yurtici",
            stock_deduction_enabled=True,
        ),
        version=version,
        created_at=_T0,
        updated_at=_T0.replace(minute=30 + version),
    )


def order(status: OrderStatus = OrderStatus.NEW, cancelled_quantity: int = 0) -> Order:
    """A two-line Trendyol order."""
    return Order(
        platform=Platform.TRENDYOL,
        store_id=STORE_ID,
        order_number="10654321987",
        package_id="3456789012",
        origin_package_ids=[],
        status=status,
        raw_status="Cancelled" if status is OrderStatus.CANCELLED else "Created",
        ordered_at=_T0,
        last_modified_at=_T0.replace(minute=45),
        currency="TRY",
        totals=OrderTotals(
            gross=_try("1349.80"), discount=_try("100.00"), net=_try("1249.80"), tax=None
        ),
        buyer=OrderBuyer(name="Ayşe Y.", city="İstanbul"),
        lines=[
            OrderLine(
                line_id="987654321",
                merchant_sku="TSHIRT-RED-M",
                barcode="8690000000017",
                channel_sku="TY-PC-4455",
                product_name="Cotton T-shirt, red, M",
                quantity=2,
                unit_price=_try("299.90"),
                line_total=_try("599.80"),
                status=status,
                raw_status="Created",
                cancelled_quantity=cancelled_quantity,
            ),
            OrderLine(
                line_id="987654322",
                merchant_sku="JEANS-32",
                barcode="8690000000024",
                quantity=1,
                unit_price=_try("650.00"),
                line_total=_try("650.00"),
                status=OrderStatus.NEW,
                raw_status="Created",
            ),
        ],
    )


def _examples() -> dict[str, EventPayload]:
    deducted = StockDeducted.for_order_line(
        store_id=STORE_ID,
        order_number="10654321987",
        line_id="987654321",
        reason=StockMovementReason.SALE,
        warehouse_id=WAREHOUSE_ID,
        sku="TSHIRT-RED-M",
        quantity=2,
        occurred_at=_T0.replace(minute=46),
    )
    released = StockReleased.for_order_line(
        store_id=STORE_ID,
        order_number="10654321987",
        line_id="987654321",
        reason=StockMovementReason.CANCELLATION,
        warehouse_id=WAREHOUSE_ID,
        sku="TSHIRT-RED-M",
        quantity=2,
        occurred_at=_T0.replace(hour=11),
    )
    push_items = [
        PushItemResult(
            sku="TSHIRT-RED-M",
            fields=[PushedField.PRICE, PushedField.STOCK],
            outcome=PushOutcome.ACCEPTED,
        ),
        PushItemResult(
            sku="JEANS-32",
            fields=[PushedField.STOCK],
            outcome=PushOutcome.FAILED,
            reason_code="identical_request",
            message="Identical request was sent within the last 15 minutes.",
        ),
    ]
    payloads: list[EventPayload] = [
        StoreCreated(store=store_snapshot(1)),
        StoreUpdated(store=store_snapshot(2)),
        StoreSettingsChanged(store=store_snapshot(3)),
        StoreStatusChanged(store=store_snapshot(4, StoreStatus.PASSIVE)),
        StoreDeleted(store=store_snapshot(5, StoreStatus.PASSIVE), deleted_at=_T0.replace(hour=18)),
        ApiStatusChanged(
            store_id=STORE_ID,
            platform=Platform.TRENDYOL,
            status=ApiStatus.INVALID,
            reason_code="auth_rejected",
            message="Trendyol rejected the API key (HTTP 401).",
            checked_at=_T0.replace(minute=33),
            test_mode=True,
        ),
        CredentialsChanged(
            store_id=STORE_ID,
            platform=Platform.TRENDYOL,
            version=3,
            fields_set=[
                CredentialField.SUPPLIER_ID,
                CredentialField.API_KEY,
                CredentialField.API_SECRET,
            ],
            changed_at=_T0.replace(minute=32),
        ),
        OrderReceived(order=order()),
        OrderUpdated(order=order(OrderStatus.PREPARING), previous_status=OrderStatus.NEW),
        OrderCancelled(
            order=order(OrderStatus.NEW, cancelled_quantity=2),
            cancelled_lines=[CancelledLine(line_id="987654321", cancelled_quantity=2)],
        ),
        deducted,
        released,
        ProductUpserted(
            sku="TSHIRT-RED-M",
            title="Cotton T-shirt, red, M",
            description="<p>100% cotton.</p>",
            barcode="8690000000017",
            model_code="TSHIRT-COTTON",
            brand_id="1791",
            category_id="411",
            attributes={"color": "red", "size": "M"},
            images=["https://cdn.example.com/img/tshirt-red-m-1.jpg"],
            vat_rate=Decimal("20"),
        ),
        PriceChanged(
            sku="TSHIRT-RED-M",
            price_list_id=PRICE_LIST_ID,
            sale_price=_try("299.90"),
            list_price=_try("349.90"),
        ),
        StockLevelChanged(
            sku="TSHIRT-RED-M",
            warehouse_id=WAREHOUSE_ID,
            quantity=38,
            as_of=_T0.replace(hour=10),
            applied_movement_ids=[deducted.movement_id],
        ),
        CatalogPushCompleted(
            store_id=STORE_ID,
            platform=Platform.TRENDYOL,
            batch_id="b-2025-03-14-0001",
            platform_batch_ref="a1b2c3d4-e5f6-4711-8899-aabbccddeeff",
            kind=PushKind.PRICE_STOCK,
            submitted_at=_T0.replace(hour=10, minute=1),
            completed_at=_T0.replace(hour=10, minute=3),
            items=push_items,
            counts=PushCounts.of(push_items),
        ),
    ]
    return {type(payload).event_type: payload for payload in payloads}


EXAMPLES: Mapping[str, EventPayload] = MappingProxyType(_examples())
"""event_type → an example payload."""
