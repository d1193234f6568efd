"""An in-memory Vault for unit tests of servicekit's `CredentialsReader` and its users.

`FakeVault` answers the KV v2 read endpoint `/v1/<mount>/data/marketplace-credentials/<store>`
over `httpx.MockTransport`: each store's secret has a current version (and data), a deleted or
missing secret is a 404, `down` refuses the connection, `status` forces an error status (a 403
or a 503), `gate` holds reads until set, the token is checked and every read is recorded.
`reader(vault)` builds a `CredentialsReader` over it.

kervan-servicekit's own tests use this module, so it imports servicekit only inside `reader`
(testkit does not depend on servicekit).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from kervan_servicekit.credentials import CredentialsReader

VAULT_TOKEN = "vault-token-never-shown"  # noqa: S105 (a fake's token)
VAULT_ADDR = "http://vault.test:8200"
PREFIX = "marketplace-credentials"


@dataclass
class FakeVault:
    """KV v2 `<mount>/data/marketplace-credentials/<store>`: versions, 404, down or an error."""

    secrets: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    """Store id: (current version, its data)."""
    deleted: set[str] = field(default_factory=set)
    reads: list[str] = field(default_factory=list)
    """Store ids read, in order (reads refused while `down` are not recorded)."""
    down: bool = False
    status: int | None = None
    gate: asyncio.Event | None = None
    token: str = VAULT_TOKEN
    mount: str = "kervan"

    def write(self, store_id: str, **fields: str) -> int:
        """A new version of the store's secret (undeleting it); returns its number."""
        version = self.secrets[store_id][0] + 1 if store_id in self.secrets else 1
        self.secrets[store_id] = (version, fields)
        self.deleted.discard(store_id)
        return version

    def delete(self, store_id: str) -> int:
        """Delete the secret (KV v2 keeps the version number); returns that version."""
        self.deleted.add(store_id)
        return self.secrets[store_id][0]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["X-Vault-Token"] == self.token
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        store_id = request.url.path.rsplit("/", 1)[-1]
        assert request.url.path == f"/v1/{self.mount}/data/{PREFIX}/{store_id}"
        self.reads.append(store_id)
        if self.gate is not None:
            await self.gate.wait()
        if self.status is not None:
            return httpx.Response(self.status, json={"errors": ["permission denied"]})
        if store_id not in self.secrets or store_id in self.deleted:
            return httpx.Response(404, json={"errors": []})
        version, data = self.secrets[store_id]
        return httpx.Response(200, json={"data": {"data": data, "metadata": {"version": version}}})

    def client(self) -> httpx.AsyncClient:
        """An HTTP client whose every request this fake answers."""
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


def reader(vault: FakeVault, **options: Any) -> CredentialsReader:
    """servicekit's real `CredentialsReader` reading `vault` (options: max_age_seconds, clock)."""
    from pydantic import SecretStr  # noqa: PLC0415

    from kervan_servicekit.credentials import CredentialsReader  # noqa: PLC0415
    from kervan_servicekit.settings import VaultSettings  # noqa: PLC0415

    settings = VaultSettings(addr=VAULT_ADDR, token=SecretStr(vault.token), kv_mount=vault.mount)
    return CredentialsReader(settings, client=vault.client(), **options)
