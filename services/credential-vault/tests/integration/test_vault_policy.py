"""credential-vault's shipped Vault policy allows every KV call its secret store makes (real
OpenBao, a token holding only that policy)."""

from __future__ import annotations

from pathlib import Path

import hvac
import pytest
from credential_vault.adapters.vault import VaultSecretStore

from kervan_testkit.infra import VaultEndpoint

pytestmark = pytest.mark.integration

POLICY = Path(__file__).resolve().parents[4] / "deploy" / "vault" / "credential-vault.hcl"


def store_under_policy(endpoint: VaultEndpoint, vault_path: str) -> VaultSecretStore:
    """A secret store whose token holds only the shipped policy, moved under this test's
    unique KV prefix (the policy names `marketplace-credentials/` directly under the mount)."""
    root = hvac.Client(url=endpoint.addr, token=endpoint.token)
    shipped = POLICY.read_text()
    text = shipped
    for kind in ("data", "metadata", "destroy"):
        text = text.replace(
            f"{endpoint.kv_mount}/{kind}/marketplace-credentials/",
            f"{endpoint.kv_mount}/{kind}/{vault_path}/marketplace-credentials/",
        )
    kv_paths = shipped.count(f'path "{endpoint.kv_mount}/')
    assert text.count(vault_path) == kv_paths, "every KV path of the policy is moved"
    name = f"credential-vault-{vault_path}"
    root.sys.create_or_update_policy(name=name, policy=text)
    token = root.auth.token.create(policies=[name], ttl="10m", no_default_policy=True)
    return VaultSecretStore(
        addr=endpoint.addr,
        token=token["auth"]["client_token"],
        mount=endpoint.kv_mount,
        prefix=f"{vault_path}/marketplace-credentials",
    )


async def test_the_policy_allows_write_read_and_both_deletions(
    vault_endpoint: VaultEndpoint, vault_path: str
) -> None:
    store = store_under_policy(vault_endpoint, vault_path)
    assert await store.write("s1", {"api_key": "k1"}) == 1
    assert await store.write("s1", {"api_key": "k2"}) == 2
    current = await store.read("s1")
    assert current is not None
    assert current.version == 2
    # A seller deletes the credentials: data destroyed, the numbering goes on.
    await store.destroy_versions("s1")
    assert await store.read("s1") is None
    assert await store.write("s1", {"api_key": "k3"}) == 3
    # The store is deleted: everything goes.
    await store.destroy("s1")
    assert await store.read("s1") is None
    assert await store.write("s1", {"api_key": "k4"}) == 1
    await store.destroy("s1")
