"""The store aggregate: its state, the rules of changing it, and the changes it records.

Every accepted change bumps `version` by one and records a `StoreChange` carrying the state
after the change and a field-level diff; the unit of work turns each change into an audit row
and an outbox event in the same transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import AutoUpdateType, StoreStatus
from store_registry.domain.errors import UnsupportedByPlatform, VersionMismatch
from store_registry.domain.references import ReferenceKind, ReferenceUse


@dataclass(frozen=True, slots=True)
class ProductSettings:
    """Products tab."""

    default_price_list_id: str | None = None
    default_category_id: str | None = None
    default_brand_id: str | None = None
    product_update_enabled: bool = False
    auto_update_type: AutoUpdateType = AutoUpdateType.ALL


@dataclass(frozen=True, slots=True)
class OrderSettings:
    """Orders tab."""

    order_transfer_enabled: bool = False
    default_warehouse_id: str | None = None
    cargo_company_id: str | None = None
    stock_deduction_enabled: bool = False


@dataclass(frozen=True, slots=True)
class PlatformSupport:
    """What a platform's API accepts, as far as store settings are concerned."""

    platform: Platform
    update_types: frozenset[AutoUpdateType]
    accepts_product_info: bool

    def default_update_type(self) -> AutoUpdateType:
        """The broadest update type the platform accepts (used for new stores)."""
        for candidate in (
            AutoUpdateType.ALL,
            AutoUpdateType.STOCK_AND_PRICE,
            AutoUpdateType.PRICE,
            AutoUpdateType.STOCK,
            AutoUpdateType.PRODUCT_INFO,
        ):
            if candidate in self.update_types:
                return candidate
        raise ValueError(f"{self.platform.value} accepts no update type at all")


@dataclass(frozen=True, slots=True)
class StoreState:
    """The whole state of a store at one version."""

    id: str
    title: str
    platform: Platform
    status: StoreStatus
    test_mode: bool
    store_url: str | None
    products: ProductSettings
    orders: OrderSettings
    version: int
    created_at: datetime
    updated_at: datetime


class ChangeKind(StrEnum):
    """What kind of change a `StoreChange` is; maps one-to-one onto a stores.v1 event."""

    CREATED = "created"
    UPDATED = "updated"
    SETTINGS_CHANGED = "settings_changed"
    STATUS_CHANGED = "status_changed"
    DELETED = "deleted"


FieldDiff = dict[str, dict[str, Any]]
"""`{"products.auto_update_type": {"old": "all", "new": "price"}, ...}`."""


@dataclass(frozen=True, slots=True)
class StoreChange:
    """One accepted change: who, when, what changed, and the state afterwards."""

    kind: ChangeKind
    state: StoreState
    diff: FieldDiff
    actor: str
    at: datetime


_TAB_FIELDS = tuple(
    (tab, tuple((f"{tab}.{entry.name}", entry.name) for entry in dataclasses.fields(kind)))
    for tab, kind in (("products", ProductSettings), ("orders", OrderSettings))
)
"""(tab, ((diff name, field name), ...)) of the two settings tabs."""


def _flatten(state: StoreState) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name in ("title", "platform", "status", "test_mode", "store_url"):
        flat[name] = getattr(state, name)
    for tab, names in _TAB_FIELDS:
        settings = getattr(state, tab)
        # The tabs hold only flat values: read the fields directly (`dataclasses.asdict`
        # deep-copies, and every write diffs two states).
        for flat_name, name in names:
            flat[flat_name] = getattr(settings, name)
    return flat


def _plain(value: Any) -> Any:
    # Enums become their wire value so diffs serialise to JSON as the API shows them.
    return value.value if isinstance(value, StrEnum) else value


def diff_states(before: StoreState | None, after: StoreState | None) -> FieldDiff:
    """Field-level diff between two states (None on one side: creation or deletion)."""
    old = _flatten(before) if before is not None else {}
    new = _flatten(after) if after is not None else {}
    return {
        name: {"old": _plain(old.get(name)), "new": _plain(new.get(name))}
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    }


def check_product_settings(settings: ProductSettings, support: PlatformSupport) -> None:
    """Refuse product settings the platform's API cannot honour, saying why."""
    platform = support.platform.value
    if settings.auto_update_type not in support.update_types:
        accepted = ", ".join(sorted(t.value for t in support.update_types))
        raise UnsupportedByPlatform(
            f"{platform} does not support the update type "
            f"{settings.auto_update_type.value!r}; it accepts: {accepted}",
            {
                "field": "auto_update_type",
                "platform": platform,
                "value": settings.auto_update_type.value,
                "supported": sorted(t.value for t in support.update_types),
            },
        )
    if not support.accepts_product_info:
        for name in ("default_category_id", "default_brand_id"):
            if getattr(settings, name) is not None:
                raise UnsupportedByPlatform(
                    f"{platform} does not accept product information through its API, so "
                    f"{name} would never be used; leave it empty",
                    {"field": name, "platform": platform},
                )


def product_references(settings: ProductSettings) -> list[ReferenceUse]:
    """Reference items the Products tab points at."""
    pairs = (
        ("default_price_list_id", ReferenceKind.PRICE_LIST, settings.default_price_list_id),
        ("default_category_id", ReferenceKind.CATEGORY, settings.default_category_id),
        ("default_brand_id", ReferenceKind.BRAND, settings.default_brand_id),
    )
    return [ReferenceUse(name, kind, ref) for name, kind, ref in pairs if ref is not None]


def order_references(settings: OrderSettings) -> list[ReferenceUse]:
    """Reference items the Orders tab points at."""
    pairs = (
        ("default_warehouse_id", ReferenceKind.WAREHOUSE, settings.default_warehouse_id),
        ("cargo_company_id", ReferenceKind.CARGO_COMPANY, settings.cargo_company_id),
    )
    return [ReferenceUse(name, kind, ref) for name, kind, ref in pairs if ref is not None]


@dataclass
class Store:
    """Aggregate root: one store and the changes made to it in this unit of work."""

    state: StoreState
    changes: list[StoreChange] = field(default_factory=list)
    deleted: bool = False

    @property
    def id(self) -> str:
        """The store's id."""
        return self.state.id

    @property
    def version(self) -> int:
        """Current version."""
        return self.state.version

    @classmethod
    def create(
        cls,
        *,
        store_id: str,
        title: str,
        platform: Platform,
        status: StoreStatus,
        test_mode: bool,
        store_url: str | None,
        support: PlatformSupport,
        actor: str,
        now: datetime,
    ) -> Store:
        """A new store at version 1 with default settings the platform accepts."""
        state = StoreState(
            id=store_id,
            title=title,
            platform=platform,
            status=status,
            test_mode=test_mode,
            store_url=store_url,
            products=ProductSettings(auto_update_type=support.default_update_type()),
            orders=OrderSettings(),
            version=1,
            created_at=now,
            updated_at=now,
        )
        store = cls(state=state)
        store.changes.append(
            StoreChange(ChangeKind.CREATED, state, diff_states(None, state), actor, now)
        )
        return store

    def check_version(self, expected: int | None) -> None:
        """Optimistic concurrency: refuse a write based on another version."""
        if expected is not None and expected != self.state.version:
            raise VersionMismatch(
                f"store {self.id} is at version {self.state.version}, not {expected}",
                {"current_version": self.state.version, "expected_version": expected},
            )

    def _apply(
        self, kind: ChangeKind, changes: Mapping[str, Any], actor: str, now: datetime
    ) -> bool:
        updated_at = max(now, self.state.updated_at)
        new_state = dataclasses.replace(
            self.state, **changes, version=self.state.version + 1, updated_at=updated_at
        )
        # The diff covers what a seller sets, never the version or the times.
        diff = diff_states(self.state, new_state)
        if not diff:
            return False  # nothing changed: no new version, no event, no audit row
        self.state = new_state
        self.changes.append(StoreChange(kind, new_state, diff, actor, updated_at))
        return True

    def update_details(
        self,
        *,
        actor: str,
        now: datetime,
        title: str | None = None,
        test_mode: bool | None = None,
        store_url: str | None = None,
        clear_store_url: bool = False,
    ) -> bool:
        """Change title, test mode or store URL; True when something changed."""
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = title
        if test_mode is not None:
            changes["test_mode"] = test_mode
        if store_url is not None or clear_store_url:
            changes["store_url"] = store_url
        return self._apply(ChangeKind.UPDATED, changes, actor, now)

    def change_product_settings(
        self, settings: ProductSettings, *, support: PlatformSupport, actor: str, now: datetime
    ) -> bool:
        """Replace the Products tab after checking it against the platform."""
        check_product_settings(settings, support)
        return self._apply(ChangeKind.SETTINGS_CHANGED, {"products": settings}, actor, now)

    def change_order_settings(self, settings: OrderSettings, *, actor: str, now: datetime) -> bool:
        """Replace the Orders tab."""
        return self._apply(ChangeKind.SETTINGS_CHANGED, {"orders": settings}, actor, now)

    def set_status(self, status: StoreStatus, *, actor: str, now: datetime) -> bool:
        """Activate or deactivate the store."""
        return self._apply(ChangeKind.STATUS_CHANGED, {"status": status}, actor, now)

    def delete(self, *, actor: str, now: datetime) -> None:
        """Delete the store; the last snapshot goes out with a version one higher."""
        at = max(now, self.state.updated_at)
        final = dataclasses.replace(self.state, version=self.state.version + 1, updated_at=at)
        self.state = final
        self.deleted = True
        self.changes.append(
            StoreChange(ChangeKind.DELETED, final, diff_states(final, None), actor, at)
        )

    def references(self) -> list[ReferenceUse]:
        """Every reference item the store's settings point at."""
        return product_references(self.state.products) + order_references(self.state.orders)
