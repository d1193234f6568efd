"""The API status column: the latest credential check result per store (a projection)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kervan_contracts.credentials.v1 import ApiStatus


@dataclass(frozen=True, slots=True)
class ApiStatusView:
    """Latest known credential check of a store; `unknown` with no check time when none."""

    status: ApiStatus
    reason_code: str | None
    message: str | None
    checked_at: datetime | None
    test_mode: bool | None

    @staticmethod
    def unknown() -> ApiStatusView:
        """Nothing heard from credential-vault yet (one shared instance: it is immutable)."""
        return _UNKNOWN

    def is_newer_than(self, other: ApiStatusView | None) -> bool:
        """Latest check wins; an equal or older check is a duplicate or a stale replay."""
        if other is None or other.checked_at is None:
            return True
        return self.checked_at is not None and self.checked_at > other.checked_at


_UNKNOWN = ApiStatusView(ApiStatus.UNKNOWN, None, None, None, None)
