"""Use cases of the store registry: each runs in one unit of work (one transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from store_registry.app.commands import (
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
from store_registry.app.ports import (
    AuditEntry,
    KnownStores,
    PlatformCatalog,
    StoreChangedMeanwhile,
    StoreUrlValidator,
    StoreView,
    UnitOfWork,
)
from store_registry.domain.api_status import ApiStatusView
from store_registry.domain.errors import (
    ReferenceInUse,
    ReferenceNotFound,
    StoreNotFound,
    UnknownReference,
    VersionMismatch,
)
from store_registry.domain.model import (
    Store,
    StoreState,
    check_product_settings,
    order_references,
    product_references,
)
from store_registry.domain.references import ReferenceUse

API_STATUS_CONSUMER = "store-registry.api-status"
"""Inbox consumer name of the API status projection."""

_USERS_SHOWN = 20
_WRITE_ATTEMPTS = 20
"""Tries of an `If-Match: *` write while other writers keep changing the store under it."""

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _new_store_id() -> str:
    return str(uuid.uuid4())


def _nothing_known(_store_id: str, _version: int) -> StoreState | None:
    return None


@dataclass(frozen=True, slots=True)
class Collaborators:
    """What the use cases need besides the unit of work (wired in bootstrap)."""

    catalog: PlatformCatalog
    validate_store_url: StoreUrlValidator
    clock: Callable[[], datetime] = _utc_now
    new_store_id: Callable[[], str] = _new_store_id
    known_store: KnownStores = _nothing_known
    """A store's state at a version, when this process holds it (the read model)."""


async def _view_of(uow: UnitOfWork, store: Store) -> StoreView:
    status = await uow.api_statuses.get(store.id)
    return StoreView(store.state, status or ApiStatusView.unknown())


async def _load(
    uow: UnitOfWork,
    store_id: str,
    expected_version: int | None,
    references: Sequence[ReferenceUse] = (),
    known: StoreState | None = None,
) -> Store:
    store = await uow.stores.get(store_id, references=references, known=known)
    if store is None:
        raise StoreNotFound(f"no store with id {store_id}", {"store_id": store_id})
    store.check_version(expected_version)
    return store


class _Attempt(Protocol[T_co]):
    def __call__(self, known: StoreState | None) -> Awaitable[T_co]: ...


async def _changing_store(
    env: Collaborators, store_id: str, expected_version: int | None, attempt: _Attempt[T]
) -> T:
    """Run a store write.

    A write naming a version (`If-Match: "N"`) whose state this process holds starts from
    that state instead of reading the store (`known`): the commit writes only if the store is
    still at N, and the foreign keys check the references, so the answer is the database's
    either way. If that first try fails on either check, the write runs again the careful
    way (read, check references, commit), which gives the exact answer (412, 404, 422 with
    the missing items), so trusting the held state never changes what a caller sees.

    If the store changed between its read and the commit, a write that named the version it
    read is refused (412, like a stale `If-Match`), and one sent with `If-Match: *` is applied
    again on a fresh read.
    """
    known = None if expected_version is None else env.known_store(store_id, expected_version)
    tries = 0
    while True:
        tries += 1
        try:
            return await attempt(known)
        except (StoreChangedMeanwhile, UnknownReference) as exc:
            if known is not None:
                known = None  # the held state or an unchecked reference was not good
                continue
            if isinstance(exc, UnknownReference):
                raise
            if expected_version is not None or tries >= _WRITE_ATTEMPTS:
                raise VersionMismatch(
                    "the store changed while this write was applied; read it again",
                    {"store_ids": exc.store_ids, "expected_version": expected_version},
                ) from exc


async def _require_references(uow: UnitOfWork, uses: list[ReferenceUse]) -> None:
    missing = await uow.references.missing(uses)
    if missing:
        names = ", ".join(f"{use.field}={use.id}" for use in missing)
        raise UnknownReference(
            f"settings point at items that do not exist: {names}",
            {"missing": [{"field": u.field, "kind": u.kind.value, "id": u.id} for u in missing]},
        )


async def create_store(cmd: CreateStore, uow: UnitOfWork, env: Collaborators) -> StoreView:
    """Add a store with default settings; emits StoreCreated."""
    store_url = env.validate_store_url(cmd.store_url) if cmd.store_url is not None else None
    async with uow:
        uow.correlation_id = cmd.caller.correlation_id
        store = Store.create(
            store_id=env.new_store_id(),
            title=cmd.title,
            platform=cmd.platform,
            status=cmd.status,
            test_mode=cmd.test_mode,
            store_url=store_url,
            support=env.catalog.support(cmd.platform),
            actor=cmd.caller.actor,
            now=env.clock(),
        )
        uow.stores.add(store)
        await uow.commit()
    return StoreView(store.state, ApiStatusView.unknown())


async def update_store(cmd: UpdateStore, uow: UnitOfWork, env: Collaborators) -> StoreView:
    """Change title, test mode or store URL; emits StoreUpdated when something changed."""
    store_url = env.validate_store_url(cmd.store_url) if cmd.store_url is not None else None

    async def attempt(known: StoreState | None) -> StoreView:
        async with uow:
            uow.correlation_id = cmd.caller.correlation_id
            store = await _load(uow, cmd.store_id, cmd.expected_version, known=known)
            store.update_details(
                actor=cmd.caller.actor,
                now=env.clock(),
                title=cmd.title,
                test_mode=cmd.test_mode,
                store_url=store_url,
                clear_store_url=cmd.store_url_given and cmd.store_url is None,
            )
            await uow.commit()
            return await _view_of(uow, store)

    return await _changing_store(env, cmd.store_id, cmd.expected_version, attempt)


async def change_product_settings(
    cmd: ChangeProductSettings, uow: UnitOfWork, env: Collaborators
) -> StoreView:
    """Replace the Products tab; emits StoreSettingsChanged when something changed."""

    async def attempt(known: StoreState | None) -> StoreView:
        async with uow:
            uow.correlation_id = cmd.caller.correlation_id
            uses = product_references(cmd.settings)
            store = await _load(uow, cmd.store_id, cmd.expected_version, uses, known)
            # Platform rules first: "not supported" explains more than "unknown id" would.
            check_product_settings(cmd.settings, env.catalog.support(store.state.platform))
            await _require_references(uow, uses)
            store.change_product_settings(
                cmd.settings,
                support=env.catalog.support(store.state.platform),
                actor=cmd.caller.actor,
                now=env.clock(),
            )
            await uow.commit()
            return await _view_of(uow, store)

    return await _changing_store(env, cmd.store_id, cmd.expected_version, attempt)


async def change_order_settings(
    cmd: ChangeOrderSettings, uow: UnitOfWork, env: Collaborators
) -> StoreView:
    """Replace the Orders tab; emits StoreSettingsChanged when something changed."""

    async def attempt(known: StoreState | None) -> StoreView:
        async with uow:
            uow.correlation_id = cmd.caller.correlation_id
            uses = order_references(cmd.settings)
            store = await _load(uow, cmd.store_id, cmd.expected_version, uses, known)
            await _require_references(uow, uses)
            store.change_order_settings(cmd.settings, actor=cmd.caller.actor, now=env.clock())
            await uow.commit()
            return await _view_of(uow, store)

    return await _changing_store(env, cmd.store_id, cmd.expected_version, attempt)


async def set_store_status(cmd: SetStoreStatus, uow: UnitOfWork, env: Collaborators) -> StoreView:
    """Activate or deactivate; emits StoreStatusChanged when the status changed."""

    async def attempt(known: StoreState | None) -> StoreView:
        async with uow:
            uow.correlation_id = cmd.caller.correlation_id
            store = await _load(uow, cmd.store_id, cmd.expected_version, known=known)
            store.set_status(cmd.status, actor=cmd.caller.actor, now=env.clock())
            await uow.commit()
            return await _view_of(uow, store)

    return await _changing_store(env, cmd.store_id, cmd.expected_version, attempt)


async def delete_store(cmd: DeleteStore, uow: UnitOfWork, env: Collaborators) -> None:
    """Delete a store; emits StoreDeleted, then a tombstone for its key."""

    async def attempt(known: StoreState | None) -> None:
        async with uow:
            uow.correlation_id = cmd.caller.correlation_id
            store = await _load(uow, cmd.store_id, cmd.expected_version, known=known)
            store.delete(actor=cmd.caller.actor, now=env.clock())
            await uow.commit()

    await _changing_store(env, cmd.store_id, cmd.expected_version, attempt)


async def put_reference(cmd: PutReference, uow: UnitOfWork, env: Collaborators) -> bool:
    """Create or rename a reference item; True when it was created."""
    async with uow:
        uow.correlation_id = cmd.caller.correlation_id
        previous = await uow.references.get(cmd.kind, cmd.item_id)
        if previous is not None and previous.name == cmd.name:
            return False
        now = env.clock()
        await uow.references.put(cmd.kind, cmd.item_id, cmd.name, now)
        uow.audit.add(
            AuditEntry(
                entity_type=cmd.kind.value,
                entity_id=cmd.item_id,
                action="created" if previous is None else "updated",
                actor=cmd.caller.actor,
                at=now,
                changes={"name": {"old": previous.name if previous else None, "new": cmd.name}},
                correlation_id=cmd.caller.correlation_id,
            )
        )
        await uow.commit()
    return previous is None


async def delete_reference(cmd: DeleteReference, uow: UnitOfWork, env: Collaborators) -> None:
    """Delete a reference item; refused (409) while any store's settings point at it."""
    async with uow:
        uow.correlation_id = cmd.caller.correlation_id
        item = await uow.references.get(cmd.kind, cmd.item_id)
        if item is None:
            raise ReferenceNotFound(
                f"no {cmd.kind.value} with id {cmd.item_id}",
                {"kind": cmd.kind.value, "id": cmd.item_id},
            )
        users = await uow.references.users(cmd.kind, cmd.item_id, _USERS_SHOWN)
        if users:
            raise ReferenceInUse(
                f"{cmd.kind.value} {cmd.item_id} is used by store settings; "
                "point those stores elsewhere first",
                {"kind": cmd.kind.value, "id": cmd.item_id, "store_ids": users},
            )
        await uow.references.delete(cmd.kind, cmd.item_id)
        uow.audit.add(
            AuditEntry(
                entity_type=cmd.kind.value,
                entity_id=cmd.item_id,
                action="deleted",
                actor=cmd.caller.actor,
                at=env.clock(),
                changes={"name": {"old": item.name, "new": None}},
                correlation_id=cmd.caller.correlation_id,
            )
        )
        await uow.commit()


async def record_api_status(cmd: RecordApiStatus, uow: UnitOfWork) -> bool:
    """Apply a credential check result once; True when the column changed.

    Duplicates (same event) are skipped by the inbox; older checks arriving late lose to the
    newer one already recorded, so replays never move the column backwards.
    """
    async with uow:
        if not await uow.claim_event(API_STATUS_CONSUMER, cmd.event_id):
            return False
        incoming = ApiStatusView(
            cmd.status, cmd.reason_code, cmd.message, cmd.checked_at, cmd.test_mode
        )
        current = await uow.api_statuses.get(cmd.store_id, lock=True)
        changed = incoming.is_newer_than(current)
        if changed:
            await uow.api_statuses.put(cmd.store_id, incoming)
        # Commit either way: the inbox row must stick so a redelivery is recognised.
        await uow.commit()
    return changed
