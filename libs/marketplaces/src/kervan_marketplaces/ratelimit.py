"""Token buckets per (store, endpoint), shared by every adapter instance of the same store.

Own implementation rather than aiolimiter because the adapters need three things it lacks:
an injectable clock (so the bucket maths is unit-tested without sleeping), draining the bucket
when the platform answers 429 (so a storm is followed by a cool-down instead of another burst),
and changing the rate at run time from Amazon's `x-amzn-RateLimit-Limit` header.

The bucket uses reservations: `reserve()` takes a token immediately, possibly going negative, and
returns how long the caller must wait. Concurrent callers therefore queue in arrival order and the
long-run rate never exceeds the configured one, whatever the interleaving.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """A sustained rate (`per_second`) and a burst size (bucket capacity, ≥ 1)."""

    per_second: float
    burst: int = 1

    def __post_init__(self) -> None:
        if not (self.per_second > 0 and math.isfinite(self.per_second)):
            raise ValueError("per_second must be a positive finite number")
        if self.burst < 1:
            raise ValueError("burst must be at least 1")

    @classmethod
    def per(cls, count: float, seconds: float, burst: int | None = None) -> Rate:
        """`count` requests every `seconds`, bursting up to `burst` (default `count`)."""
        return cls(
            per_second=count / seconds, burst=burst if burst is not None else max(1, int(count))
        )

    @classmethod
    def window(cls, count: int, seconds: float) -> Rate:
        """At most `count` requests in *any* interval of `seconds` (a fixed/sliding window limit).

        A bucket of burst b and rate r lets b + r*T through in T seconds, so b + r*seconds must
        not exceed `count`: a fifth of the budget is burst, the rest is spread evenly.
        """
        burst = max(1, count // 5)
        spread = max(count - burst, 1)
        return cls(per_second=spread / seconds, burst=burst)

    def scaled(self, factor: float) -> Rate:
        """The same shape at `factor` times the speed (tests and simulator runs)."""
        return Rate(per_second=self.per_second * factor, burst=self.burst)


class TokenBucket:
    """A token bucket with reservations and a 429 cool-down."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._clock = clock
        self._tokens = float(rate.burst)
        self._updated = clock()
        self._blocked_until = 0.0

    @property
    def rate(self) -> Rate:
        """The rate currently applied."""
        return self._rate

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self._rate.burst), self._tokens + elapsed * self._rate.per_second)
        self._updated = now

    def reserve(self) -> float:
        """Take one token now; return the seconds to wait before using it (0 if none)."""
        now = self._clock()
        self._refill(now)
        self._tokens -= 1.0
        wait = 0.0 if self._tokens >= 0 else -self._tokens / self._rate.per_second
        return max(wait, self._blocked_until - now)

    async def acquire(self) -> float:
        """Wait for a token; returns the time waited (for metrics)."""
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    def penalise(self, retry_after: float | None = None) -> None:
        """Throw away the burst after a 429, and block for `retry_after` seconds if given."""
        now = self._clock()
        self._refill(now)
        self._tokens = min(self._tokens, 0.0)
        if retry_after is not None and retry_after > 0:
            self._blocked_until = max(self._blocked_until, now + retry_after)

    def set_rate(self, rate: Rate) -> None:
        """Apply a new rate from now on (e.g. what `x-amzn-RateLimit-Limit` announced)."""
        now = self._clock()
        self._refill(now)
        self._rate = rate
        self._tokens = min(self._tokens, float(rate.burst))


class LimiterRegistry:
    """Process-wide buckets keyed by (store key, endpoint).

    Two adapter instances for the same store (e.g. one per poll) draw from the same bucket, so
    the documented per-seller limit holds for the process as a whole.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def bucket(self, store_key: str, endpoint: str, rate: Rate) -> TokenBucket:
        """The bucket for this store and endpoint, created with `rate` on first use."""
        key = (store_key, endpoint)
        found = self._buckets.get(key)
        if found is None:
            found = TokenBucket(rate, clock=self._clock)
            self._buckets[key] = found
        return found

    def __len__(self) -> int:
        return len(self._buckets)
