"""The ASGI app over the in-memory unit of work, with one token per role."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from store_registry.adapters.memory import MemoryUnitOfWorkFactory
from store_registry.app.services import Collaborators
from store_registry.entrypoints.api import ApiDependencies, create_app

from kervan_servicekit.auth import Authenticator, Role, TokenGrant, hash_token

TOKENS = {"admin": "admin-token-1", "operator": "operator-token-1", "viewer": "viewer-token-1"}
MAX_BODY = 4096


def auth_header(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture
def app(uow_factory: MemoryUnitOfWorkFactory, env: Collaborators) -> FastAPI:
    grants = [
        TokenGrant(name=f"{role}-user", role=Role(role), sha256=hash_token(token))
        for role, token in TOKENS.items()
    ]
    return create_app(
        ApiDependencies(
            uow=uow_factory,
            env=env,
            auth=Authenticator(grants),
            registry=CollectorRegistry(),
            max_body_bytes=MAX_BODY,
        )
    )


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
