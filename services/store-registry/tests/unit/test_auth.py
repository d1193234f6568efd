"""Tokens are configured as hashes, roles map to permissions, the dev admin token is hashed."""

from __future__ import annotations

import json

import pytest
from store_registry.domain.access import PERMISSIONS, Permission
from store_registry.settings import StoreRegistrySettings

from kervan_servicekit.auth import Authenticator, Role, hash_token


def test_tokens_and_admin_token_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grants = [
        {"name": "erp", "role": "operator", "sha256": hash_token("erp-secret")},
        {"name": "screen", "role": "viewer", "sha256": hash_token("screen-secret")},
    ]
    monkeypatch.setenv("STORE_REGISTRY_TOKENS", json.dumps(grants))
    monkeypatch.setenv("KERVAN_ADMIN_TOKEN", "dev-admin")
    settings = StoreRegistrySettings()
    auth = Authenticator.from_settings(settings.tokens, settings.admin_token)
    erp = auth.authenticate("erp-secret")
    admin = auth.authenticate("dev-admin")
    assert erp is not None
    assert (erp.name, erp.role) == ("erp", Role.OPERATOR)
    assert admin is not None
    assert admin.role is Role.ADMIN
    assert auth.authenticate("erp-secret ") is None
    assert auth.authenticate(hash_token("erp-secret")) is None  # the hash is not a token
    assert "dev-admin" not in repr(settings)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.ADMIN, set(Permission)),
        (Role.OPERATOR, {Permission.READ, Permission.WRITE_SETTINGS}),
        (Role.VIEWER, {Permission.READ}),
    ],
)
def test_role_permissions(role: Role, allowed: set[Permission]) -> None:
    assert {p for p in Permission if PERMISSIONS.allows(role, p)} == allowed


def test_plain_tokens_are_not_accepted_as_configuration() -> None:
    with pytest.raises(ValueError, match="sha256"):
        StoreRegistrySettings(tokens=[{"name": "x", "role": "admin", "sha256": "plain-token"}])  # type: ignore[list-item]
