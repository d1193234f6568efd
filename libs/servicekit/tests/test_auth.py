"""Bearer tokens held as hashes, three roles, per-service permissions; 401 and 403 bodies."""

# No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import SecretStr, ValidationError

from kervan_servicekit.auth import (
    Authenticator,
    BearerAuth,
    Principal,
    Role,
    RolePermissions,
    TokenGrant,
    hash_token,
)
from kervan_servicekit.http import install_error_handlers


class _Permission(StrEnum):
    READ = "read"
    WRITE = "write"


PERMISSIONS = RolePermissions(
    {
        Role.ADMIN: set(_Permission),
        Role.OPERATOR: {_Permission.READ, _Permission.WRITE},
        Role.VIEWER: {_Permission.READ},
    }
)
GRANTS = [
    TokenGrant(name="erp", role=Role.OPERATOR, sha256=hash_token("erp-token")),
    TokenGrant(name="screen", role=Role.VIEWER, sha256=hash_token("screen-token")),
]


def test_hash_token_is_hex_sha256() -> None:
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_tokens_are_recognised_by_hash_only() -> None:
    auth = Authenticator.from_settings(GRANTS, SecretStr("dev-admin"))
    assert auth.authenticate("erp-token") == Principal("erp", Role.OPERATOR)
    assert auth.authenticate("screen-token") == Principal("screen", Role.VIEWER)
    assert auth.authenticate("dev-admin") == Principal("admin", Role.ADMIN)
    assert auth.authenticate("erp-token ") is None
    assert auth.authenticate(hash_token("erp-token")) is None  # the hash is not a token
    assert auth.authenticate("") is None


@pytest.mark.parametrize("admin_token", [None, SecretStr("")])
def test_no_admin_token_means_no_admin(admin_token: SecretStr | None) -> None:
    auth = Authenticator.from_settings(GRANTS, admin_token)
    assert auth.authenticate("") is None
    assert auth.authenticate("erp-token") == Principal("erp", Role.OPERATOR)


def test_grants_take_hashes_not_plain_tokens() -> None:
    with pytest.raises(ValidationError, match="sha256"):
        TokenGrant(name="x", role=Role.ADMIN, sha256="plain-token")
    with pytest.raises(ValidationError, match="name"):
        TokenGrant(name="Not Valid", role=Role.ADMIN, sha256=hash_token("t"))


def test_role_permissions_cover_every_role() -> None:
    assert {p for p in _Permission if PERMISSIONS.allows(Role.VIEWER, p)} == {_Permission.READ}
    assert PERMISSIONS.allows(Role.OPERATOR, _Permission.WRITE)
    with pytest.raises(ValueError, match="viewer"):
        RolePermissions({Role.ADMIN: set(_Permission), Role.OPERATOR: set()})


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    bearer = BearerAuth(PERMISSIONS)
    app = FastAPI()
    app.state.authenticator = Authenticator.from_settings(GRANTS, SecretStr("dev-admin"))
    install_error_handlers(app, {})

    @app.get("/read")
    async def read(who: Annotated[Principal, Depends(bearer.require(_Permission.READ))]) -> str:
        return who.name

    @app.post("/write")
    async def write(who: Annotated[Principal, Depends(bearer.require(_Permission.WRITE))]) -> str:
        return who.name

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        yield http


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_missing_or_unknown_token_is_401_with_a_challenge(
    client: httpx.AsyncClient,
) -> None:
    for headers in ({}, _bearer("nope"), {"Authorization": "Basic ZXJwOmVycA=="}):
        response = await client.get("/read", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "unauthenticated"
    missing = (await client.get("/read")).json()["error"]["message"]
    unknown = (await client.get("/read", headers=_bearer("nope"))).json()["error"]["message"]
    assert (missing, unknown) == ("a bearer token is required", "the bearer token is not valid")


async def test_a_role_without_the_permission_is_403(client: httpx.AsyncClient) -> None:
    response = await client.post("/write", headers=_bearer("screen-token"))
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "forbidden",
        "message": "role viewer may not do this",
        "details": {"role": "viewer", "needs": "write"},
    }


async def test_allowed_callers_get_through_as_themselves(client: httpx.AsyncClient) -> None:
    assert (await client.get("/read", headers=_bearer("screen-token"))).json() == "screen"
    assert (await client.post("/write", headers=_bearer("erp-token"))).json() == "erp"
    assert (await client.post("/write", headers=_bearer("dev-admin"))).json() == "admin"


async def test_the_scheme_is_documented() -> None:
    bearer = BearerAuth(PERMISSIONS, description="tokens")
    app = FastAPI()

    @app.get("/read")
    async def read(who: Annotated[Principal, Depends(bearer.require(_Permission.READ))]) -> str:
        return who.name

    document = app.openapi()
    assert document["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "tokens",
    }
    assert document["paths"]["/read"]["get"]["security"] == [{"HTTPBearer": []}]
