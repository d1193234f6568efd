"""Read use cases: store views, listings with keyset cursors, audit, reference lists."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import StoreStatus
from store_registry.app.ports import AuditEntry, StoreQuery, StoreView, UnitOfWork
from store_registry.domain.errors import InvalidCursor, ReferenceNotFound, StoreNotFound
from store_registry.domain.references import ReferenceItem, ReferenceKind

T = TypeVar("T")
_SAFE_PART = re.compile(r"[\x21-\x7e]{1,64}")
"""Cursor parts are ids and timestamps: printable ASCII, never anything the database chokes on."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results and the cursor of the next page (None on the last page)."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(*parts: str | int) -> str:
    """Opaque, URL-safe cursor from the keyset position."""
    raw = json.dumps(list(parts), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, types: tuple[type, ...]) -> list[str | int]:
    """The keyset position in a cursor; `InvalidCursor` for anything this service did not issue."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor("the cursor is malformed; start again without one") from exc
    if (
        not isinstance(parts, list)
        or len(parts) != len(types)
        or not all(type(p) is t for p, t in zip(parts, types, strict=True))
        or not all(_SAFE_PART.fullmatch(p) for p in parts if isinstance(p, str))
    ):
        raise InvalidCursor("the cursor is malformed; start again without one")
    return parts


async def get_store(uow: UnitOfWork, store_id: str) -> StoreView:
    """One store with its API status, or StoreNotFound."""
    async with uow:
        view = await uow.stores.view(store_id)
    if view is None:
        raise StoreNotFound(f"no store with id {store_id}", {"store_id": store_id})
    return view


def store_query(
    *,
    limit: int,
    cursor: str | None = None,
    platform: Platform | None = None,
    status: StoreStatus | None = None,
    api_status: ApiStatus | None = None,
    text: str | None = None,
) -> StoreQuery:
    """The listing's query: `limit + 1` rows after the cursor's position (InvalidCursor)."""
    after: tuple[datetime, str] | None = None
    if cursor is not None:
        created, store_id = decode_cursor(cursor, (str, str))
        try:
            after = (datetime.fromisoformat(str(created)), str(store_id))
        except ValueError as exc:
            raise InvalidCursor("the cursor is malformed; start again without one") from exc
        if after[0].tzinfo is None:
            raise InvalidCursor("the cursor is malformed; start again without one")
    return StoreQuery(
        limit=limit + 1,
        platform=platform,
        status=status,
        api_status=api_status,
        text=text.strip() if text and text.strip() else None,
        after=after,
    )


def next_store_cursor(views: list[StoreView], limit: int) -> str | None:
    """The cursor after the last of `limit` views, when a `limit + 1`-th was found."""
    if len(views) <= limit:
        return None
    last = views[limit - 1].state
    return encode_cursor(last.created_at.isoformat(), last.id)


async def list_stores(
    uow: UnitOfWork,
    *,
    limit: int,
    cursor: str | None = None,
    platform: Platform | None = None,
    status: StoreStatus | None = None,
    api_status: ApiStatus | None = None,
    text: str | None = None,
) -> Page[StoreView]:
    """Stores matching the filters, oldest first, `limit` per page."""
    query = store_query(
        limit=limit,
        cursor=cursor,
        platform=platform,
        status=status,
        api_status=api_status,
        text=text,
    )
    async with uow:
        views = await uow.stores.list_views(query)
    return Page(views[:limit], next_store_cursor(views, limit))


async def store_audit(
    uow: UnitOfWork, store_id: str, *, limit: int, cursor: str | None = None
) -> Page[AuditEntry]:
    """A store's audit entries, newest first (also after the store was deleted)."""
    before = int(decode_cursor(cursor, (int,))[0]) if cursor is not None else None
    async with uow:
        entries = await uow.audit.list("store", store_id, before, limit + 1)
        if not entries and before is None and await uow.stores.view(store_id) is None:
            raise StoreNotFound(f"no store with id {store_id}", {"store_id": store_id})
    next_cursor = None
    if len(entries) > limit:
        entries = entries[:limit]
        last_id = entries[-1].id
        next_cursor = encode_cursor(last_id) if last_id is not None else None
    return Page(entries, next_cursor)


async def get_reference(uow: UnitOfWork, kind: ReferenceKind, item_id: str) -> ReferenceItem:
    """One reference item, or ReferenceNotFound."""
    async with uow:
        item = await uow.references.get(kind, item_id)
    if item is None:
        raise ReferenceNotFound(
            f"no {kind.value} with id {item_id}", {"kind": kind.value, "id": item_id}
        )
    return item


async def list_references(
    uow: UnitOfWork, kind: ReferenceKind, *, limit: int, cursor: str | None = None
) -> Page[ReferenceItem]:
    """Items of one reference list ordered by id."""
    after = str(decode_cursor(cursor, (str,))[0]) if cursor is not None else None
    async with uow:
        items = await uow.references.list(kind, after, limit + 1)
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        next_cursor = encode_cursor(items[-1].id)
    return Page(items, next_cursor)
