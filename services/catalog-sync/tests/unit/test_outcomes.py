"""Which item failures are retried, with what backoff, and when Kervan gives up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from catalog_sync.domain.outcomes import RetryRule, judge_failure

from .builders import NOW

RULE = RetryRule(base=timedelta(seconds=10), cap=timedelta(seconds=60), max_attempts=4)


@pytest.mark.parametrize(
    "code", ["price_locked", "MinLock", "ProductNotFound", "missing_barcode", "InvalidPrice"]
)
def test_permanent_reasons_are_not_retried(code: str) -> None:
    verdict = judge_failure(code, 1, NOW, RULE)
    assert verdict.permanent
    assert verdict.retry_at is None
    assert verdict.reason_code == code


def test_transient_failures_back_off_exponentially_then_give_up() -> None:
    delays = [judge_failure("timeout", n, NOW, RULE).retry_at for n in (1, 2, 3)]
    assert delays == [NOW + timedelta(seconds=s) for s in (10, 20, 40)]
    assert judge_failure("timeout", 4, NOW, RULE).permanent
    assert RULE.delay(10) == timedelta(seconds=60)
