"""Clocks: the simulator reads time only through one of these, so tests can move it by hand."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Source of the current time in seconds since the Unix epoch (UTC)."""

    def now(self) -> float:
        """Return the current time."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        """Return `time.time()`."""
        return time.time()


class ManualClock:
    """A clock that moves only when told to; async batches and token buckets follow it."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        # Default start: 2026-01-01T00:00:00Z, a fixed instant so ids and dates are reproducible.
        self._now = start

    def now(self) -> float:
        """Return the manually set time."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward and return the new time."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self._now += seconds
        return self._now

    def set(self, instant: float) -> None:
        """Jump to an absolute instant (never backwards)."""
        if instant < self._now:
            raise ValueError("a clock only moves forward")
        self._now = instant
