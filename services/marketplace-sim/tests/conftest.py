"""Fixtures: an in-process simulator on a manual clock, and a client that checks fidelity.

Every JSON response from a platform path is validated against the platform's contract
(official Amazon models, Kervan's OpenAPI fragments for the others) by the client's response
hook, so each test also checks the shapes it touches.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from marketplace_sim.app import create_app
from marketplace_sim.clock import ManualClock
from marketplace_sim.settings import SimSettings
from marketplace_sim.testing import SimDriver, check_fidelity


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings() -> SimSettings:
    return SimSettings(batch_delay_seconds=5.0)


@pytest.fixture
async def client(clock: ManualClock, settings: SimSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(clock=clock, settings=settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://sim",
        event_hooks={"response": [check_fidelity]},
    ) as http:
        yield http


@pytest.fixture
def sim(client: httpx.AsyncClient) -> SimDriver:
    return SimDriver(client)
