"""CredentialsReader on a real OpenBao: KV v2 paths, versions and destroy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import hvac
import pytest
from pydantic import SecretStr

from kervan_servicekit.credentials import CredentialsReader
from kervan_servicekit.settings import VaultSettings
from kervan_testkit.infra import VaultEndpoint

pytestmark = pytest.mark.integration


@dataclass
class Vault:
    """Admin access to store s1's secret, and a reader of it without a max age."""

    kv: hvac.api.secrets_engines.KvV2
    path: str
    mount: str
    reader: CredentialsReader

    def write(self, api_key: str) -> None:
        self.kv.create_or_update_secret(
            path=self.path, secret={"api_key": api_key}, mount_point=self.mount
        )


@pytest.fixture
async def vault(vault_endpoint: VaultEndpoint, vault_path: str) -> AsyncIterator[Vault]:
    prefix = f"{vault_path}/marketplace-credentials"
    admin = hvac.Client(url=vault_endpoint.addr, token=vault_endpoint.token)
    mount = vault_endpoint.kv_mount
    settings = VaultSettings(
        addr=vault_endpoint.addr, token=SecretStr(vault_endpoint.token), kv_mount=mount
    )
    reader = CredentialsReader(settings, prefix=prefix, max_age_seconds=None)
    try:
        yield Vault(admin.secrets.kv.v2, f"{prefix}/s1", mount, reader)
    finally:
        await reader.aclose()


async def test_reads_current_version_and_sees_destroy(vault: Vault) -> None:
    vault.write("v1")
    vault.write("v2")
    got = await vault.reader.get("s1")
    assert got is not None
    assert (got.version, got.value("api_key")) == (2, "v2")
    assert await vault.reader.get("never-written") is None
    vault.kv.delete_metadata_and_all_versions(path=vault.path, mount_point=vault.mount)
    vault.reader.invalidate("s1")
    assert await vault.reader.get("s1") is None


async def test_destroyed_versions_read_as_none_and_numbering_goes_on(vault: Vault) -> None:
    # What credential-vault does when a seller deletes a live store's credentials.
    vault.write("v1")
    vault.write("v2")
    vault.kv.destroy_secret_versions(path=vault.path, versions=[1, 2], mount_point=vault.mount)
    assert await vault.reader.get("s1") is None
    vault.write("v3")
    vault.reader.invalidate("s1")
    got = await vault.reader.get("s1")
    assert got is not None
    assert (got.version, got.value("api_key")) == (3, "v3")
