"""Schemathesis over the committed OpenAPI, against the real service on loopback: no 5xx."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from credential_vault.bootstrap import build_app
from credential_vault.settings import CredentialVaultSettings
from marketplace_sim.app import create_app as create_sim_app
from marketplace_sim.settings import SimSettings

from kervan_contracts.registry import envelope_headers, make_envelope, serialize_envelope
from kervan_contracts.stores.v1 import StoreCreated
from kervan_marketplaces import AdapterFactory
from kervan_servicekit.contract_testing import fuzz_openapi, serve_in_thread

from ..conftest import (  # noqa: TID252 - shared helpers
    SIM,
    marketplace_settings,
    random_credentials,
)
from .conftest import ADMIN

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.json"
EXAMPLES_PER_OPERATION = 12


@pytest.fixture
def base_url(settings: CredentialVaultSettings) -> Iterator[str]:
    """The full service under uvicorn on 127.0.0.1 (own thread and loop), sim in process."""
    sim = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_sim_app(settings=SimSettings())), base_url=SIM
    )
    app = build_app(settings, marketplaces=AdapterFactory(marketplace_settings(), client=sim))
    app.state.sim = sim
    with serve_in_thread(app, name="credential-vault") as url:
        yield url


async def test_the_api_honours_its_committed_openapi(
    base_url: str,
    settings: CredentialVaultSettings,
    snapshot: Callable[..., Any],
    unique_name: Callable[[str], str],
    kafka_bootstrap: str,
) -> None:

    store_id = unique_name("fuzz")
    envelope = make_envelope(StoreCreated(store=snapshot(store_id, "n11")), producer="test")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.stores_topic,
            serialize_envelope(envelope),
            key=store_id.encode(),
            headers=[(k, v.encode()) for k, v in envelope_headers(envelope).items()],
        )
    finally:
        await producer.stop()
    async with httpx.AsyncClient(base_url=base_url, headers=ADMIN) as http:
        deadline = time.monotonic() + 20
        while (await http.get(f"/v1/stores/{store_id}/api-status")).status_code != 200:
            assert time.monotonic() < deadline, "store not projected"
            await asyncio.sleep(0.05)
        body = {"platform": "n11", "fields": random_credentials("n11")}
        assert (await http.put(f"/v1/stores/{store_id}/credentials", json=body)).status_code == 200
    result = await asyncio.to_thread(
        fuzz_openapi,
        OPENAPI,
        base_url,
        headers=ADMIN,
        path_parameters={"store_id": store_id},
        examples_per_operation=EXAMPLES_PER_OPERATION,
    )
    assert not result.server_errors, result.statuses
    assert result.successes, result.statuses
