"""Bearer tokens → caller and role (as in store-registry). Only SHA-256 hashes are held."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import SecretStr

from credential_vault.settings import Role, TokenGrant


class Permission(StrEnum):
    """What an API call needs."""

    READ = "read"
    TEST = "test"
    """Run a credential check (order-ingest / catalog-sync ask after a 401/403)."""
    WRITE = "write"


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset({Permission.READ, Permission.TEST}),
    Role.VIEWER: frozenset({Permission.READ}),
}


def hash_token(token: str) -> str:
    """Hex SHA-256 of a token, as configured in `CREDENTIAL_VAULT_TOKENS`."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    name: str
    role: Role

    def allows(self, permission: Permission) -> bool:
        """True when the role grants `permission`."""
        return permission in _GRANTS[self.role]


class Authenticator:
    """Recognises configured tokens by their hash, in constant time over all grants."""

    def __init__(self, grants: Iterable[TokenGrant]) -> None:
        self._grants = [(bytes.fromhex(g.sha256), Principal(g.name, g.role)) for g in grants]

    @classmethod
    def from_settings(
        cls, grants: Iterable[TokenGrant], admin_token: SecretStr | None
    ) -> Authenticator:
        """Configured grants plus the development admin token, if set."""
        all_grants = list(grants)
        if admin_token is not None and admin_token.get_secret_value():
            all_grants.append(
                TokenGrant(
                    name="admin", role=Role.ADMIN, sha256=hash_token(admin_token.get_secret_value())
                )
            )
        return cls(all_grants)

    def authenticate(self, token: str) -> Principal | None:
        """The principal of `token`, or None."""
        digest = hashlib.sha256(token.encode()).digest()
        found: Principal | None = None
        for expected, principal in self._grants:
            if hmac.compare_digest(digest, expected):
                found = principal
        return found
