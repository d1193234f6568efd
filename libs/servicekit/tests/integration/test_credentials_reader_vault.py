"""CredentialsReader on a real OpenBao: KV v2 paths, versions and destroy."""

from __future__ import annotations

import hvac
import pytest
from pydantic import SecretStr

from kervan_servicekit.credentials import CredentialsReader
from kervan_servicekit.settings import VaultSettings
from kervan_testkit.infra import VaultEndpoint

pytestmark = pytest.mark.integration


async def test_reads_current_version_and_sees_destroy(
    vault_endpoint: VaultEndpoint, vault_path: str
) -> None:
    prefix = f"{vault_path}/marketplace-credentials"
    admin = hvac.Client(url=vault_endpoint.addr, token=vault_endpoint.token)
    kv = admin.secrets.kv.v2
    mount = vault_endpoint.kv_mount
    kv.create_or_update_secret(path=f"{prefix}/s1", secret={"api_key": "v1"}, mount_point=mount)
    kv.create_or_update_secret(path=f"{prefix}/s1", secret={"api_key": "v2"}, mount_point=mount)
    settings = VaultSettings(
        addr=vault_endpoint.addr, token=SecretStr(vault_endpoint.token), kv_mount=mount
    )
    reader = CredentialsReader(settings, prefix=prefix, max_age_seconds=None)
    try:
        got = await reader.get("s1")
        assert got is not None
        assert (got.version, got.value("api_key")) == (2, "v2")
        assert await reader.get("never-written") is None
        kv.delete_metadata_and_all_versions(path=f"{prefix}/s1", mount_point=mount)
        reader.invalidate("s1")
        assert await reader.get("s1") is None
    finally:
        await reader.aclose()


async def test_destroyed_versions_read_as_none_and_numbering_goes_on(
    vault_endpoint: VaultEndpoint, vault_path: str
) -> None:
    # What credential-vault does when a seller deletes a live store's credentials.
    prefix = f"{vault_path}/marketplace-credentials"
    admin = hvac.Client(url=vault_endpoint.addr, token=vault_endpoint.token)
    kv = admin.secrets.kv.v2
    mount = vault_endpoint.kv_mount
    kv.create_or_update_secret(path=f"{prefix}/s1", secret={"api_key": "v1"}, mount_point=mount)
    kv.create_or_update_secret(path=f"{prefix}/s1", secret={"api_key": "v2"}, mount_point=mount)
    kv.destroy_secret_versions(path=f"{prefix}/s1", versions=[1, 2], mount_point=mount)
    settings = VaultSettings(
        addr=vault_endpoint.addr, token=SecretStr(vault_endpoint.token), kv_mount=mount
    )
    reader = CredentialsReader(settings, prefix=prefix, max_age_seconds=None)
    try:
        assert await reader.get("s1") is None
        kv.create_or_update_secret(path=f"{prefix}/s1", secret={"api_key": "v3"}, mount_point=mount)
        reader.invalidate("s1")
        got = await reader.get("s1")
        assert got is not None
        assert (got.version, got.value("api_key")) == (3, "v3")
    finally:
        await reader.aclose()
