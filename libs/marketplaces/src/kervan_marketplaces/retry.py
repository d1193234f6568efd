"""Bounded retries with jitter on 429/5xx, honouring `Retry-After` (built on stamina).

stamina gives the exponential backoff with jitter and the attempt/time bounds; this module adds
the decision of *what* is retried and for *how long*: auth and request rejections never, rate
limiting after the platform's `Retry-After` (capped, plus jitter so that many stores throttled at
the same moment do not return in lockstep), transient failures with the exponential backoff.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import stamina

from kervan_marketplaces.errors import RateLimited, Transient

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retry loop. Defaults suit a background poller, not an interactive call."""

    attempts: int = 5
    timeout: float = 120.0
    wait_initial: float = 0.5
    wait_max: float = 30.0
    wait_jitter: float = 1.0
    max_retry_after: float = 60.0
    retry_after_jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` (delta-seconds or HTTP-date) or `X-RateLimit-Reset`.

    Returns None when absent or unparseable; never negative.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def backoff_decision(
    error: Exception, policy: RetryPolicy, rng: Callable[[float, float], float] = random.uniform
) -> bool | float:
    """stamina backoff hook: False = give up, True = default backoff, float = wait this long."""
    if isinstance(error, RateLimited):
        if error.retry_after is None:
            return True
        return min(error.retry_after, policy.max_retry_after) + rng(0.0, policy.retry_after_jitter)
    return isinstance(error, Transient)


async def call_with_retry(policy: RetryPolicy, operation: Callable[[], Awaitable[T]]) -> T:
    """Run `operation`, retrying per `policy`; the last error propagates when the bounds are hit."""
    async for attempt in stamina.retry_context(
        on=lambda exc: backoff_decision(exc, policy),
        attempts=policy.attempts,
        timeout=policy.timeout,
        wait_initial=policy.wait_initial,
        wait_max=policy.wait_max,
        wait_jitter=policy.wait_jitter,
    ):
        with attempt:
            return await operation()
    raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover
