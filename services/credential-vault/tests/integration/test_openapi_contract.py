"""Schemathesis over the committed OpenAPI, against the real service on loopback: no 5xx."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from aiokafka import AIOKafkaProducer
from credential_vault.bootstrap import build_app
from credential_vault.settings import CredentialVaultSettings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marketplace_sim.app import create_app as create_sim_app
from marketplace_sim.settings import SimSettings
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from kervan_contracts.registry import envelope_headers, make_envelope, serialize_envelope
from kervan_contracts.stores.v1 import StoreCreated
from kervan_marketplaces import AdapterFactory

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
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("credential-vault did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _error_body_check(ctx: Any, response: Any, case: Any) -> bool | None:
    """Any 4xx/5xx carries exactly `{"error": {"code", "message", "details"}}`."""
    if response.status_code < 400:
        return None
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return None


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
    await asyncio.to_thread(_fuzz, base_url, store_id)


def _fuzz(base_url: str, store_id: str) -> None:
    schema = schemathesis.openapi.from_path(OPENAPI)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    statuses: dict[int, int] = {}
    for operation in operations:
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE, headers=ADMIN),
            operation.as_strategy(GenerationMode.NEGATIVE, headers=ADMIN),
        ]
        if "{store_id}" in operation.path:
            strategies.append(
                operation.as_strategy(
                    GenerationMode.POSITIVE, headers=ADMIN, path_parameters={"store_id": store_id}
                )
            )

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(*strategies))
        def run(case: Any) -> None:
            response = case.call_and_validate(
                base_url=base_url,
                additional_checks=[_error_body_check],
                # Schema-valid input may still break a rule (unknown store, platform fields).
                excluded_checks=[positive_data_acceptance],
            )
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        run()
    assert not any(code >= 500 for code in statuses), statuses
    assert any(200 <= code < 300 for code in statuses), statuses
