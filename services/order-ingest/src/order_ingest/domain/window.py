"""Incremental polling windows: where the next poll starts and how it is cut.

The watermark is the `until` of the last window whose orders are all committed. The next poll
reads from `watermark - overlap`, so orders that became visible late (the platform's visibility
lag, clock skew) are read again; the upsert by natural key makes re-reading harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class PollWindow:
    """One `[since, until)` query; its `until` becomes the watermark once it is committed."""

    since: datetime
    until: datetime


def plan_windows(
    *,
    now: datetime,
    watermark: datetime | None,
    overlap: timedelta,
    initial_lookback: timedelta,
    min_lag: timedelta,
    max_window: timedelta | None,
    max_history: timedelta | None,
) -> list[PollWindow]:
    """The windows of the next poll, oldest first (empty if there is nothing to read yet).

    Cut at `max_window` so that a long catch-up commits (and saves its watermark) window by
    window instead of all at the end.
    """
    until = now - min_lag
    since = until - initial_lookback if watermark is None else watermark - overlap
    if max_history is not None:
        # The platform cannot reach further back; a small margin keeps the query valid.
        since = max(since, now - max_history + timedelta(minutes=1))
    if since >= until:
        return []
    if max_window is None or max_window <= timedelta(0):
        return [PollWindow(since, until)]
    windows = []
    start = since
    while start < until:
        end = min(start + max_window, until)
        windows.append(PollWindow(start, end))
        start = end
    return windows
