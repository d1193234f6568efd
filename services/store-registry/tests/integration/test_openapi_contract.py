"""Schemathesis over the committed OpenAPI, against the real service on loopback.

Every operation is fuzzed with valid (positive) and invalid (negative) input, both with random
ids and with the id of a real store, and every response is checked: never a 5xx, always as
documented (status, headers, body schema), and every error is the one error body.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance
from store_registry.bootstrap import build_app
from store_registry.settings import StoreRegistrySettings

from .conftest import ADMIN

pytestmark = [
    pytest.mark.integration,
    # schemathesis itself draws from `random` inside strategies; not ours to fix
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.json"
EXAMPLES_PER_OPERATION = 12


@pytest.fixture
def base_url(service_settings: StoreRegistrySettings) -> Iterator[str]:
    """The full service under uvicorn on 127.0.0.1 (own thread and event loop)."""
    app = build_app(service_settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("store-registry did not start")
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
    assert isinstance(body["error"]["code"], str)
    assert isinstance(body["error"]["details"], dict)
    return None


def test_the_api_honours_its_committed_openapi(base_url: str) -> None:
    schema = schemathesis.openapi.from_path(OPENAPI)
    with httpx.Client(base_url=base_url, headers=ADMIN) as http:
        store = http.post("/v1/stores", json={"title": "Fuzz", "platform": "trendyol"}).json()
        http.put("/v1/warehouses/w1", json={"name": "Main"})
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    # Deletes last, so the real store is exercised by everything else first.
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    assert len(operations) >= 30
    statuses: dict[int, int] = {}

    for operation in operations:
        fixed = {}
        if "{store_id}" in operation.path:
            fixed["store_id"] = store["id"]
        # The token is a fixed header, so negative cases never "break" it by leaving it out.
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE, headers=ADMIN),
            operation.as_strategy(GenerationMode.NEGATIVE, headers=ADMIN),
        ]
        if fixed:
            strategies.append(
                operation.as_strategy(GenerationMode.POSITIVE, headers=ADMIN, path_parameters=fixed)
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
                # Schema-valid input may still break a business rule (unknown reference, a
                # platform limit, a private store URL): those are 422s by design.
                excluded_checks=[positive_data_acceptance],
            )
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        run()

    assert not any(code >= 500 for code in statuses), statuses
    assert any(200 <= code < 300 for code in statuses), statuses  # not only refusals
