"""Token buckets keyed by (account, endpoint), driven by the simulator clock."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A documented limit: `burst` requests at once, refilled at `rate` per second."""

    rate: float
    burst: int

    @classmethod
    def per_window(cls, requests: int, seconds: float) -> RateLimit:
        """`requests` per `seconds` window as a bucket that refills evenly."""
        return cls(rate=requests / seconds, burst=requests)


@dataclass(slots=True)
class BucketDecision:
    """Outcome of one take: allowed or not, what is left, when a token is back."""

    allowed: bool
    remaining: int
    retry_after: float


class TokenBuckets:
    """All buckets of one simulator; a missing bucket starts full."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def take(self, key: tuple[str, str], limit: RateLimit, now: float) -> BucketDecision:
        """Take one token if there is one."""
        tokens, stamp = self._buckets.get(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - stamp) * limit.rate)
        if tokens >= 1.0:
            tokens -= 1.0
            self._buckets[key] = (tokens, now)
            return BucketDecision(True, int(tokens), 0.0)
        self._buckets[key] = (tokens, now)
        wait = (1.0 - tokens) / limit.rate if limit.rate > 0 else math.inf
        return BucketDecision(False, 0, wait)

    def peek(self, key: tuple[str, str], limit: RateLimit, now: float) -> int:
        """Whole tokens left in a bucket without taking one."""
        tokens, stamp = self._buckets.get(key, (float(limit.burst), now))
        return int(min(float(limit.burst), tokens + (now - stamp) * limit.rate))

    def clear(self) -> None:
        """Forget every bucket (used by reset)."""
        self._buckets.clear()
