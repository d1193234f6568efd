"""Exponential backoff with jitter, as a pure schedule (the sleeping is done by callers)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from kervan_servicekit.settings import RetrySettings


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a failing handler is retried and how long to wait in between.

    The nominal delay after failed attempt `n` (1-based) is
    `min(max_delay, base_delay * multiplier ** (n - 1))`; jitter adds a random
    `[0, jitter x nominal)` on top, so the nominal delay is also the minimum.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.jitter < 0:
            raise ValueError("delays and jitter must not be negative")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")

    @classmethod
    def from_settings(cls, settings: RetrySettings) -> RetryPolicy:
        """Build the policy from the service's `RetrySettings`."""
        return cls(
            max_attempts=settings.max_attempts,
            base_delay=settings.base_delay_seconds,
            max_delay=settings.max_delay_seconds,
            multiplier=settings.multiplier,
            jitter=settings.jitter,
        )

    def minimum_delay(self, failed_attempt: int) -> float:
        """The delay (without jitter) after attempt number `failed_attempt` failed."""
        if failed_attempt < 1:
            raise ValueError("attempts are numbered from 1")
        # Cap the exponent too, so a huge attempt number cannot overflow a float.
        exponent = min(failed_attempt - 1, 64)
        return float(min(self.max_delay, self.base_delay * self.multiplier**exponent))

    def delay(self, failed_attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The delay after attempt `failed_attempt` failed, jitter included."""
        nominal = self.minimum_delay(failed_attempt)
        return nominal + nominal * self.jitter * rand()

    def minimum_total_delay(self) -> float:
        """Least time spent waiting before a message is dead-lettered after exhaustion."""
        return sum(self.minimum_delay(n) for n in range(1, self.max_attempts))
