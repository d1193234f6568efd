"""Turning a platform's per-item outcome into the push ledger's next state (retry or give up)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from kervan_contracts.sync.v1 import PushOutcome

_PERMANENT_MARKERS = (
    "lock",
    "not_found",
    "notfound",
    "not found",
    "missing_barcode",
    "list_price_below_sale_price",
    "unsupported",
    "nothing_to_update",
    "invalid",
    "approved",
    "duplicatemerchantsku",
)
"""Reason fragments meaning "the same request will fail again" (locks on approved or catalogue
products, unknown products, values the platform refuses). Matched case-insensitively because
every platform spells its codes its own way."""


def is_permanent_reason(reason_code: str | None) -> bool:
    """True when retrying the same value cannot help."""
    if not reason_code:
        return False
    lowered = reason_code.lower()
    return any(marker in lowered for marker in _PERMANENT_MARKERS)


@dataclass(frozen=True, slots=True)
class RetryRule:
    """Backoff for failed items: `base * 2^(attempt-1)`, capped; give up after `max_attempts`."""

    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(minutes=30)
    max_attempts: int = 6

    def delay(self, attempts: int) -> timedelta:
        """Wait before the next attempt after `attempts` failed ones."""
        factor = 1 << max(0, min(attempts - 1, 30))
        return min(self.cap, self.base * factor)


@dataclass(frozen=True, slots=True)
class FailureVerdict:
    """Whether a failed item is retried, and when."""

    permanent: bool
    retry_at: datetime | None
    reason_code: str


def judge_failure(
    reason_code: str | None, attempts: int, now: datetime, rule: RetryRule
) -> FailureVerdict:
    """Decide what to do after the `attempts`-th failure of the same value."""
    code = reason_code or "failed"
    if is_permanent_reason(code):
        return FailureVerdict(True, None, code)
    if attempts >= rule.max_attempts:
        return FailureVerdict(True, None, code)
    return FailureVerdict(False, now + rule.delay(attempts), code)


def outcome_of(state: str) -> PushOutcome:
    """The contract's outcome for an adapter's outcome state."""
    return PushOutcome(state)
