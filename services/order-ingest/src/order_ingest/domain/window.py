"""Incremental polling windows: what each poll reads, and which cursor each window moves.

Two cursors per store, both saved only in the transaction that commits a window's last batch:

- `watermark` (fresh cursor): the `until` of the last window read. Each poll reads from it
  (minus a small `fresh_overlap`) up to `now - min_lag`, so a new order is seen by the next poll.
- `settled_watermark` (sweep cursor): everything modified before it was read at least once
  *after* it had settled, i.e. once it was older than `overlap` (the platform's visibility lag
  plus the clock skew between Kervan and the platform). Each poll also reads
  `[settled_watermark, now - overlap)`: the slice that settled since the last poll.

So every moment of marketplace time is read once while fresh and once more when settled: an
order that became visible late (stamped before a window that was already read) is caught by
the sweep at the latest `overlap` (+ one interval) after its timestamp, and never missed. The
previous design re-read the whole overlap at every poll: at a 2 s interval and a 300 s overlap
that is 150 reads of every order instead of 2. A store whose state predates the sweep cursor
starts its sweep at `watermark - overlap`, exactly where it would have re-read from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class PollWindow:
    """One `[since, until)` query; once committed, `until` becomes the watermark and, for a
    sweep window (`settles`), also the settled watermark."""

    since: datetime
    until: datetime
    settles: bool = False


def plan_windows(
    *,
    now: datetime,
    watermark: datetime | None,
    settled_watermark: datetime | None = None,
    overlap: timedelta,
    fresh_overlap: timedelta = timedelta(0),
    sweep_every: timedelta = timedelta(0),
    initial_lookback: timedelta,
    min_lag: timedelta,
    max_window: timedelta | None,
    max_history: timedelta | None,
) -> list[PollWindow]:
    """The windows of the next poll, oldest first (empty if there is nothing to read yet).

    Sweep windows `[settled_watermark, now - overlap)` first, then the fresh window up to
    `now - min_lag`. The sweep waits until at least `sweep_every` has settled (one query and
    one transaction less on most polls at short intervals; late orders wait that much longer).
    Cut at `max_window` so that a long catch-up commits (and saves its cursors) window by
    window instead of all at the end.
    """
    until = now - min_lag
    settle_line = min(now - overlap, until)
    if settled_watermark is not None:
        sweep_from = settled_watermark
    elif watermark is not None:
        sweep_from = watermark - overlap
    else:
        sweep_from = until - initial_lookback
    if max_history is not None:
        # The platform cannot reach further back; a small margin keeps the query valid.
        sweep_from = max(sweep_from, now - max_history + timedelta(minutes=1))
    # Between the settle line and the fresh start lies time already read while fresh; the
    # sweep reads it again once it settles. (A sweep cursor ahead of the settle line, after
    # the clock went back, waits until the line passes it again.)
    fresh_from = settle_line
    if watermark is not None:
        fresh_from = max(fresh_from, watermark - fresh_overlap)
    windows = []
    # Without a sweep cursor yet, sweep now: the start derived from the watermark moves with it.
    if settled_watermark is None or settle_line - sweep_from >= sweep_every:
        windows += _cut(sweep_from, settle_line, max_window, settles=True)
    windows += _cut(fresh_from, until, max_window, settles=False)
    return windows


def _cut(
    since: datetime, until: datetime, max_window: timedelta | None, *, settles: bool
) -> list[PollWindow]:
    if since >= until:
        return []
    if max_window is None or max_window <= timedelta(0):
        return [PollWindow(since, until, settles)]
    windows = []
    start = since
    while start < until:
        end = min(start + max_window, until)
        windows.append(PollWindow(start, end, settles))
        start = end
    return windows
