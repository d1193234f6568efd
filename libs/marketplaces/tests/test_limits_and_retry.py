"""Token bucket and retry maths, with a fake clock (no sleeping)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from kervan_marketplaces import (
    AuthRejected,
    LimiterRegistry,
    Rate,
    RateLimited,
    RequestRejected,
    RetryPolicy,
    TokenBucket,
    Transient,
)
from kervan_marketplaces.retry import backoff_decision, call_with_retry, parse_retry_after
from kervan_marketplaces.timeutil import (
    ISTANBUL,
    epoch_ms,
    floor_to,
    from_shifted_epoch_ms,
    windows,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_steady_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(Rate.per(50, 10), clock=clock)
    waits = [bucket.reserve() for _ in range(50)]
    assert waits == [0.0] * 50
    # The 51st..55th queue behind each other at 5/s.
    assert [round(bucket.reserve(), 6) for _ in range(5)] == [0.2, 0.4, 0.6, 0.8, 1.0]


def test_refill_is_capped_at_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(Rate(per_second=1.0, burst=3), clock=clock)
    for _ in range(3):
        bucket.reserve()
    clock.now += 3600
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve() == pytest.approx(1.0)


def test_long_run_rate_never_exceeds_limit() -> None:
    """Any schedule produced by reservations respects `burst + rate * t` in every interval."""
    clock = FakeClock()
    bucket = TokenBucket(Rate.window(50, 10), clock=clock)
    start = clock.now
    sends = []
    for i in range(500):
        clock.now = start + i * 0.01  # callers arrive far faster than allowed
        sends.append(clock.now + bucket.reserve())
    sends.sort()
    for i, t0 in enumerate(sends):
        in_window = sum(1 for t in sends[i:] if t < t0 + 10.0)
        assert in_window <= 50  # "50 per 10 s" holds in every window, not just on average
    # ...while still using most of the budget: 500 requests take at most ~125 s.
    assert sends[-1] - start <= 125


def test_plain_token_bucket_would_break_a_window_limit() -> None:
    """Why window limits use Rate.window: burst N + rate N/T lets 2N through in T."""
    clock = FakeClock()
    naive = TokenBucket(Rate.per(50, 10), clock=clock)
    sends = [clock.now + naive.reserve() for _ in range(100)]
    assert sum(1 for t in sends if t < clock.now + 10.0) > 50


def test_penalise_drops_burst_and_honours_retry_after() -> None:
    clock = FakeClock()
    bucket = TokenBucket(Rate(per_second=10.0, burst=10), clock=clock)
    bucket.penalise(retry_after=2.0)
    assert bucket.reserve() == pytest.approx(2.0)
    clock.now += 2.0
    # After the block, no burst is left: one token per 100 ms.
    assert bucket.reserve() == pytest.approx(0.0, abs=1e-9) or bucket.reserve() <= 0.1


def test_set_rate_applies_new_speed() -> None:
    clock = FakeClock()
    bucket = TokenBucket(Rate(per_second=1.0, burst=1), clock=clock)
    bucket.reserve()
    bucket.set_rate(Rate(per_second=0.5, burst=1))
    assert bucket.reserve() == pytest.approx(2.0)


def test_registry_shares_buckets_per_store_and_endpoint() -> None:
    registry = LimiterRegistry(clock=FakeClock())
    a = registry.bucket("trendyol:s1", "orders", Rate.per(50, 10))
    assert registry.bucket("trendyol:s1", "orders", Rate.per(50, 10)) is a
    assert registry.bucket("trendyol:s2", "orders", Rate.per(50, 10)) is not a
    assert registry.bucket("trendyol:s1", "batch", Rate.per(50, 10)) is not a


def test_rate_validation() -> None:
    with pytest.raises(ValueError):
        Rate(per_second=0)
    with pytest.raises(ValueError):
        Rate(per_second=1, burst=0)


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:10 GMT", now) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("nan") is None


def test_backoff_decision() -> None:
    policy = RetryPolicy(max_retry_after=5.0, retry_after_jitter=0.5)
    fixed = lambda lo, hi: hi  # noqa: E731 - jitter at its maximum
    assert backoff_decision(RateLimited("x", retry_after=2.0), policy, fixed) == 2.5
    assert backoff_decision(RateLimited("x", retry_after=600.0), policy, fixed) == 5.5
    assert backoff_decision(RateLimited("x"), policy, fixed) is True
    assert backoff_decision(Transient("x"), policy, fixed) is True
    assert backoff_decision(AuthRejected("x"), policy, fixed) is False
    assert backoff_decision(RequestRejected("x"), policy, fixed) is False
    assert backoff_decision(ValueError("x"), policy, fixed) is False


async def test_retry_is_bounded_and_skips_auth_errors() -> None:
    policy = RetryPolicy(attempts=3, wait_initial=0.0, wait_max=0.0, wait_jitter=0.0)
    calls = 0

    async def flaky() -> int:
        nonlocal calls
        calls += 1
        raise Transient("down")

    with pytest.raises(Transient):
        await call_with_retry(policy, flaky)
    assert calls == 3

    calls = 0

    async def rejected() -> int:
        nonlocal calls
        calls += 1
        raise AuthRejected("no")

    with pytest.raises(AuthRejected):
        await call_with_retry(policy, rejected)
    assert calls == 1


async def test_retry_returns_first_success() -> None:
    policy = RetryPolicy(attempts=5, wait_initial=0.0, wait_max=0.0, wait_jitter=0.0)
    results: Iterator[Exception | int] = iter(
        [Transient("a"), RateLimited("b", retry_after=0.0), 42]
    )

    async def op() -> int:
        value = next(results)
        if isinstance(value, Exception):
            raise value
        return value

    assert await call_with_retry(policy, op) == 42


def test_windows_cover_range_without_gaps() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    until = since + timedelta(days=31)
    parts = list(windows(since, until, timedelta(days=14)))
    assert parts[0][0] == since
    assert parts[-1][1] == until
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
    assert all(end - start <= timedelta(days=14) for start, end in parts)
    assert len(parts) == 3


def test_floor_to_a_second_or_a_millisecond() -> None:
    at = datetime(2026, 3, 1, 12, 0, 5, 123_456, tzinfo=ISTANBUL)
    assert floor_to(at, timedelta(seconds=1)) == at.replace(microsecond=0)
    assert floor_to(at, timedelta(milliseconds=1)) == at.replace(microsecond=123_000)
    assert floor_to(at, timedelta(milliseconds=1)).tzinfo is UTC
    whole = datetime(2026, 3, 1, 9, 0, 5, 123_000, tzinfo=UTC)
    assert floor_to(whole, timedelta(milliseconds=1)) == whole


def test_shifted_epoch_conversion() -> None:
    instant = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    shifted = epoch_ms(instant) + 3 * 3600 * 1000  # what Trendyol's orderDate carries
    assert from_shifted_epoch_ms(shifted) == instant
