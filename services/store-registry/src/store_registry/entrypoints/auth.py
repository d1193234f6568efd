"""Bearer tokens → caller and role. Only SHA-256 hashes of tokens are ever held."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import SecretStr

from store_registry.domain.access import Permission, Role
from store_registry.settings import TokenGrant


def hash_token(token: str) -> str:
    """Hex SHA-256 of a token, as configured in `STORE_REGISTRY_TOKENS`."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    name: str
    role: Role

    def allows(self, permission: Permission) -> bool:
        """True when the role grants `permission`."""
        return self.role.allows(permission)


class Authenticator:
    """Recognises configured tokens by their hash."""

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
                    name="admin",
                    role=Role.ADMIN,
                    sha256=hash_token(admin_token.get_secret_value()),
                )
            )
        return cls(all_grants)

    def authenticate(self, token: str) -> Principal | None:
        """The principal of `token`, or None."""
        digest = hashlib.sha256(token.encode()).digest()
        found: Principal | None = None
        # Compare against every grant in constant time, so timing says nothing about which.
        for expected, principal in self._grants:
            if hmac.compare_digest(digest, expected):
                found = principal
        return found
