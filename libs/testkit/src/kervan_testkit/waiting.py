"""Waiting for an asynchronous effect with a deadline, instead of sleeping a guessed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

POLL_INTERVAL_SECONDS = 0.05


async def wait_until(
    condition: Callable[[], Awaitable[bool]],
    *,
    timeout: float = 20.0,  # noqa: ASYNC109 - a deadline for polling, not a cancellation scope
    what: str = "condition",
) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(POLL_INTERVAL_SECONDS)
