"""Use cases against the in-memory unit of work: state, events, audit, refusals."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from store_registry.adapters.memory import Database, MemoryUnitOfWorkFactory
from store_registry.app import queries, services
from store_registry.app.commands import (
    Caller,
    ChangeOrderSettings,
    ChangeProductSettings,
    CreateStore,
    DeleteReference,
    DeleteStore,
    PutReference,
    RecordApiStatus,
    SetStoreStatus,
    UpdateStore,
)
from store_registry.app.ports import StoreView
from store_registry.app.services import Collaborators
from store_registry.domain.errors import (
    InvalidCursor,
    InvalidStoreUrl,
    ReferenceInUse,
    StoreNotFound,
    UnknownReference,
    UnsupportedByPlatform,
    VersionMismatch,
)
from store_registry.domain.model import OrderSettings, ProductSettings
from store_registry.domain.references import ReferenceKind

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import AutoUpdateType, StoreStatus

ADMIN = Caller("alice", "corr-1")
UowFactory = MemoryUnitOfWorkFactory


async def create(
    uow_factory: UowFactory,
    env: Collaborators,
    platform: Platform = Platform.TRENDYOL,
    title: str = "Shop",
    **kw: Any,
) -> StoreView:
    return await services.create_store(
        CreateStore(ADMIN, title, platform, **kw), uow_factory(), env
    )


async def test_create_writes_state_event_and_audit(
    database: Database, uow_factory: UowFactory, env: Collaborators
) -> None:
    view = await create(uow_factory, env, store_url="https://shop.example.com")
    assert database.stores[view.state.id].version == 1
    [(key, envelope)] = database.events
    assert envelope is not None
    assert key == view.state.id
    assert envelope["event_type"] == "stores.store.created"
    assert envelope["producer"] == "store-registry"
    assert envelope["correlation_id"] == "corr-1"
    assert envelope["data"]["store"]["version"] == 1
    assert envelope["data"]["store"]["store_url"] == "https://shop.example.com"
    [entry] = database.audit
    assert (entry.action, entry.actor, entry.version) == ("created", "alice", 1)


async def test_invalid_store_url_creates_nothing(
    database: Database, uow_factory: UowFactory, env: Collaborators
) -> None:
    with pytest.raises(InvalidStoreUrl):
        await create(uow_factory, env, store_url="https://127.0.0.1/")
    assert database.stores == {}
    assert database.events == []


async def test_settings_change_checks_references_and_emits_full_snapshot(
    database: Database, uow_factory: UowFactory, env: Collaborators
) -> None:
    view = await create(uow_factory, env)
    settings = ProductSettings(default_price_list_id="pl1", product_update_enabled=True)
    with pytest.raises(UnknownReference) as caught:
        await services.change_product_settings(
            ChangeProductSettings(ADMIN, view.state.id, 1, settings), uow_factory(), env
        )
    assert caught.value.details["missing"] == [
        {"field": "default_price_list_id", "kind": "price_list", "id": "pl1"}
    ]
    await services.put_reference(
        PutReference(ADMIN, ReferenceKind.PRICE_LIST, "pl1", "Retail"), uow_factory(), env
    )
    changed = await services.change_product_settings(
        ChangeProductSettings(ADMIN, view.state.id, 1, settings), uow_factory(), env
    )
    assert changed.state.version == 2
    key, envelope = database.events[-1]
    assert key == view.state.id
    assert envelope is not None
    assert envelope["event_type"] == "stores.store.settings_changed"
    assert envelope["data"]["store"]["products"]["default_price_list_id"] == "pl1"
    assert envelope["data"]["store"]["title"] == "Shop"  # the whole snapshot, not a delta
    assert database.audit[-1].changes == {
        "products.default_price_list_id": {"old": None, "new": "pl1"},
        "products.product_update_enabled": {"old": False, "new": True},
    }


async def test_platform_limits_are_explained(
    database: Database, uow_factory: UowFactory, env: Collaborators
) -> None:
    view = await create(uow_factory, env, platform=Platform.HEPSIBURADA)
    assert view.state.products.auto_update_type is AutoUpdateType.STOCK_AND_PRICE
    with pytest.raises(UnsupportedByPlatform) as caught:
        await services.change_product_settings(
            ChangeProductSettings(
                ADMIN, view.state.id, 1, ProductSettings(auto_update_type=AutoUpdateType.ALL)
            ),
            uow_factory(),
            env,
        )
    assert "hepsiburada does not support the update type 'all'" in caught.value.message
    assert len(database.events) == 1


async def test_stale_version_changes_nothing_and_emits_nothing(
    database: Database, uow_factory: UowFactory, env: Collaborators
) -> None:
    view = await create(uow_factory, env)
    await services.set_store_status(
        SetStoreStatus(ADMIN, view.state.id, 1, StoreStatus.PASSIVE), uow_factory(), env
    )
    before = (dict(database.stores), list(database.events), list(database.audit))
    with pytest.raises(VersionMismatch):
        await services.update_store(
            UpdateStore(ADMIN, view.state.id, 1, title="Other"), uow_factory(), env
        )
    assert (database.stores, database.events, database.audit) == before


async def test_lifecycle_emits_expected_events_in_order_then_tombstone(
    database: Database, uow_factory: UowFactory, env: Collaborators
) -> None:
    view = await create(uow_factory, env)
    sid = view.state.id
    await services.put_reference(
        PutReference(ADMIN, ReferenceKind.WAREHOUSE, "w1", "Main"), uow_factory(), env
    )
    await services.change_order_settings(
        ChangeOrderSettings(ADMIN, sid, 1, OrderSettings(default_warehouse_id="w1")),
        uow_factory(),
        env,
    )
    await services.set_store_status(
        SetStoreStatus(ADMIN, sid, 2, StoreStatus.PASSIVE), uow_factory(), env
    )
    await services.delete_store(DeleteStore(ADMIN, sid, 3), uow_factory(), env)
    kinds = [
        (k, e and e["event_type"], e and e["data"]["store"]["version"]) for k, e in database.events
    ]
    assert kinds == [
        (sid, "stores.store.created", 1),
        (sid, "stores.store.settings_changed", 2),
        (sid, "stores.store.status_changed", 3),
        (sid, "stores.store.deleted", 4),
        (sid, None, None),
    ]
    assert sid not in database.stores
    page = await queries.store_audit(uow_factory(), sid, limit=10)
    assert [e.action for e in page.items] == [
        "deleted",
        "status_changed",
        "settings_changed",
        "created",
    ]


async def test_no_op_write_emits_nothing(
    database: Database, uow_factory: UowFactory, env: Collaborators
) -> None:
    view = await create(uow_factory, env)
    again = await services.set_store_status(
        SetStoreStatus(ADMIN, view.state.id, None, StoreStatus.ACTIVE), uow_factory(), env
    )
    assert again.state.version == 1
    assert len(database.events) == 1


async def test_reference_in_use_cannot_be_deleted(
    database: Database, uow_factory: UowFactory, env: Collaborators
) -> None:
    view = await create(uow_factory, env)
    await services.put_reference(
        PutReference(ADMIN, ReferenceKind.CARGO_COMPANY, "yk", "Yurtiçi"), uow_factory(), env
    )
    await services.change_order_settings(
        ChangeOrderSettings(ADMIN, view.state.id, 1, OrderSettings(cargo_company_id="yk")),
        uow_factory(),
        env,
    )
    with pytest.raises(ReferenceInUse) as caught:
        await services.delete_reference(
            DeleteReference(ADMIN, ReferenceKind.CARGO_COMPANY, "yk"), uow_factory(), env
        )
    assert caught.value.details["store_ids"] == [view.state.id]
    await services.change_order_settings(
        ChangeOrderSettings(ADMIN, view.state.id, 2, OrderSettings()), uow_factory(), env
    )
    await services.delete_reference(
        DeleteReference(ADMIN, ReferenceKind.CARGO_COMPANY, "yk"), uow_factory(), env
    )
    assert (ReferenceKind.CARGO_COMPANY, "yk") not in database.references
    assert [e.action for e in database.audit if e.entity_type == "cargo_company"] == [
        "created",
        "deleted",
    ]


async def test_unknown_store_is_not_found(uow_factory: UowFactory, env: Collaborators) -> None:
    with pytest.raises(StoreNotFound):
        await services.delete_store(DeleteStore(ADMIN, "nope", None), uow_factory(), env)
    with pytest.raises(StoreNotFound):
        await queries.store_audit(uow_factory(), "nope", limit=5)


def status_cmd(store_id: str, checked_at: datetime, status: ApiStatus) -> RecordApiStatus:
    return RecordApiStatus(
        event_id=uuid.uuid4(),
        store_id=store_id,
        status=status,
        reason_code="auth_rejected" if status is ApiStatus.INVALID else None,
        message=None,
        checked_at=checked_at,
        test_mode=True,
    )


async def test_api_status_keeps_the_latest_check_and_skips_duplicates(
    database: Database, uow_factory: UowFactory, env: Collaborators
) -> None:
    view = await create(uow_factory, env)
    sid = view.state.id
    t = datetime(2025, 3, 1, tzinfo=UTC)
    newer = status_cmd(sid, t, ApiStatus.INVALID)
    assert await services.record_api_status(newer, uow_factory())
    assert not await services.record_api_status(newer, uow_factory())  # redelivery
    older = status_cmd(sid, t - timedelta(minutes=5), ApiStatus.VALID)
    assert not await services.record_api_status(older, uow_factory())  # late replay
    shown = await queries.get_store(uow_factory(), sid)
    assert shown.api_status.status is ApiStatus.INVALID
    assert shown.api_status.reason_code == "auth_rejected"
    assert shown.api_status.checked_at == t
    invalid = await queries.list_stores(uow_factory(), limit=10, api_status=ApiStatus.INVALID)
    assert [v.state.id for v in invalid.items] == [sid]
    assert len(database.events) == 1  # the projection never emits store events


async def test_listing_filters_and_pages_with_a_cursor(
    uow_factory: UowFactory, env: Collaborators
) -> None:
    ids = [
        (await create(uow_factory, env, platform=p, title=f"Shop {p.value}")).state.id
        for p in (Platform.TRENDYOL, Platform.N11, Platform.TRENDYOL, Platform.TRENDYOL)
    ]
    first = await queries.list_stores(uow_factory(), limit=2, platform=Platform.TRENDYOL)
    assert [v.state.id for v in first.items] == [ids[0], ids[2]]
    assert first.next_cursor is not None
    second = await queries.list_stores(
        uow_factory(), limit=2, platform=Platform.TRENDYOL, cursor=first.next_cursor
    )
    assert [v.state.id for v in second.items] == [ids[3]]
    assert second.next_cursor is None
    by_text = await queries.list_stores(uow_factory(), limit=10, text="  N11 ")
    assert [v.state.id for v in by_text.items] == [ids[1]]


@pytest.mark.parametrize("cursor", ["!!!", "bm90LWpzb24", "WzFd", "WyJ4IiwieSJd"])
async def test_foreign_cursors_are_refused(uow_factory: UowFactory, cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        await queries.list_stores(uow_factory(), limit=10, cursor=cursor)
