"""The HTTP API over the service layer with fake database and Vault, real adapters + sim."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from credential_vault.adapters.marketplace import AdapterChecker, AdapterConsent
from credential_vault.adapters.memory import MemorySecretStore, MemoryUnitOfWork
from credential_vault.app.services import CredentialService
from credential_vault.entrypoints.api import create_api
from pydantic import SecretStr

from kervan_marketplaces import AdapterFactory
from kervan_servicekit.auth import Authenticator, Role, TokenGrant, hash_token

ADMIN = {"Authorization": "Bearer admin-token"}
OPERATOR = {"Authorization": "Bearer operator-token"}
VIEWER = {"Authorization": "Bearer viewer-token"}
REDIRECT = "http://127.0.0.1:8082/v1/oauth/{platform}/callback"


@dataclass
class Api:
    """The API client and the fakes behind it."""

    client: httpx.AsyncClient
    service: CredentialService
    uow: MemoryUnitOfWork
    vault: MemorySecretStore
    add_store: Callable[..., Any]


@pytest.fixture
async def api(marketplaces: AdapterFactory, snapshot: Callable[..., Any]) -> AsyncIterator[Api]:
    uow, vault = MemoryUnitOfWork(), MemorySecretStore()
    service = CredentialService(
        uow=uow,
        secret_store=vault,
        checker=AdapterChecker(marketplaces),
        fingerprint_key=b"f" * 32,
        consent=AdapterConsent(marketplaces),
        oauth_redirect_uri=REDIRECT,
    )
    auth = Authenticator.from_settings(
        [
            TokenGrant(
                name="order-ingest", role=Role.OPERATOR, sha256=hash_token("operator-token")
            ),
            TokenGrant(name="viewer", role=Role.VIEWER, sha256=hash_token("viewer-token")),
        ],
        SecretStr("admin-token"),
    )
    app = create_api(service, auth, 16 * 1024)

    async def add_store(store_id: str, platform: str, **kw: Any) -> None:
        await service.apply_store_event(
            snapshot(store_id, platform, **kw),
            deleted=False,
            event_id=uuid.uuid4(),
            correlation_id=None,
        )

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://cv"
    ) as client:
        yield Api(client, service, uow, vault, add_store)
