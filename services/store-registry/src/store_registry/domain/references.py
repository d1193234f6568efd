"""Reference lists that store settings point to (kept current by the platform's ERP)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ReferenceKind(StrEnum):
    """The five reference lists; values double as the audit entity type."""

    WAREHOUSE = "warehouse"
    PRICE_LIST = "price_list"
    CARGO_COMPANY = "cargo_company"
    CATEGORY = "category"
    BRAND = "brand"


@dataclass(frozen=True, slots=True)
class ReferenceItem:
    """One entry of a reference list: the ERP's id and a display name."""

    kind: ReferenceKind
    id: str
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ReferenceUse:
    """A settings field of a store that points at a reference item."""

    field: str
    kind: ReferenceKind
    id: str
