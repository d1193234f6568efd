"""Time conversions for the platforms' date quirks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

ISTANBUL = timezone(timedelta(hours=3), "TRT")
"""Türkiye time: UTC+3 all year since 2016 (no DST), which is all the platforms use."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def require_aware(value: datetime, name: str) -> datetime:
    """Return `value` in UTC; refuse naive datetimes (they would be silently misread)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def epoch_ms(value: datetime) -> int:
    """A true epoch timestamp in milliseconds."""
    return int(require_aware(value, "value").timestamp() * 1000)


def from_epoch_ms(ms: int | float) -> datetime:
    """True epoch milliseconds → UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def from_shifted_epoch_ms(ms: int | float) -> datetime:
    """Trendyol/n11 "GMT+3" milliseconds → UTC.

    These platforms encode Türkiye wall-clock time as if it were UTC, so the number is 3 h ahead
    of the true epoch; subtracting the offset gives the real instant.
    """
    return datetime.fromtimestamp(ms / 1000, UTC) - timedelta(hours=3)


def parse_iso(value: str) -> datetime:
    """ISO-8601 (with `Z` or an offset) → UTC; a naive value is taken as Türkiye time."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ISTANBUL)
    return parsed.astimezone(UTC)


def parse_local(value: str, fmt: str) -> datetime:
    """A Türkiye wall-clock string in `fmt` → UTC."""
    return datetime.strptime(value, fmt).replace(tzinfo=ISTANBUL).astimezone(UTC)


def format_local(value: datetime, fmt: str) -> str:
    """A UTC instant as Türkiye wall-clock text in `fmt`."""
    return require_aware(value, "value").astimezone(ISTANBUL).strftime(fmt)


def ceil_to(value: datetime, unit: timedelta) -> datetime:
    """`value` rounded up to a whole `unit` (e.g. a minute) since the epoch.

    For platforms whose date filters have coarse resolution and an inclusive end: rounding the
    end up keeps the last seconds of a window in it; the next window starts at the rounded-down
    start, so windows may overlap by less than one unit but never leave a gap.
    """
    steps = -(-(require_aware(value, "value") - _EPOCH) // unit)
    return _EPOCH + steps * unit


def floor_to(value: datetime, unit: timedelta) -> datetime:
    """`value` rounded down to a whole `unit` (a second, a millisecond) since the epoch, UTC."""
    value = require_aware(value, "value")
    return value - (value - _EPOCH) % unit


def windows(
    since: datetime, until: datetime, width: timedelta
) -> Iterator[tuple[datetime, datetime]]:
    """Consecutive [start, end) windows of at most `width` covering [since, until)."""
    if width <= timedelta(0):
        raise ValueError("width must be positive")
    start = since
    while start < until:
        end = min(start + width, until)
        yield start, end
        start = end
