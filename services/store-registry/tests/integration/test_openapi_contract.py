"""Schemathesis over the committed OpenAPI, against the real service on loopback.

Every operation is fuzzed with valid (positive) and invalid (negative) input, both with random
ids and with the id of a real store, and every response is checked: never a 5xx, always as
documented (status, headers, body schema), and every error is the one error body.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from store_registry.bootstrap import build_app
from store_registry.settings import StoreRegistrySettings

from kervan_servicekit.contract_testing import fuzz_openapi, serve_in_thread

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
    with serve_in_thread(build_app(service_settings), name="store-registry") as url:
        yield url


def test_the_api_honours_its_committed_openapi(base_url: str) -> None:
    with httpx.Client(base_url=base_url, headers=ADMIN) as http:
        store = http.post("/v1/stores", json={"title": "Fuzz", "platform": "trendyol"}).json()
        http.put("/v1/warehouses/w1", json={"name": "Main"})
    result = fuzz_openapi(
        OPENAPI,
        base_url,
        headers=ADMIN,
        path_parameters={"store_id": store["id"]},
        examples_per_operation=EXAMPLES_PER_OPERATION,
    )
    assert result.operations >= 30
    assert not result.server_errors, result.statuses
    assert result.successes, result.statuses  # not only refusals
