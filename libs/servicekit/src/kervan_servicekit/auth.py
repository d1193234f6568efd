"""Bearer tokens → caller and role, for the Kervan REST APIs. Only SHA-256 hashes are held.

Tokens are configured as `TokenGrant`s (name, role, hex SHA-256 of the token), plus an optional
plain development admin token that is hashed at start. Each service names its own permissions
and says which of the three roles hold them (`RolePermissions`); `BearerAuth.require(p)` is the
FastAPI dependency of an operation: 401 (with `WWW-Authenticate: Bearer`) without a known token,
403 when the role lacks `p`, else the `Principal`.
"""

# No `from __future__ import annotations`: FastAPI reads the dependency annotations at runtime.
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Generic, TypeVar

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from kervan_servicekit.http import ApiError

ADMIN_ACTOR = "admin"
"""Actor name of the development admin token."""


class Role(StrEnum):
    """Roles a bearer token carries."""

    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


class TokenGrant(BaseModel):
    """One API token: its SHA-256 (hex), a name recorded as the actor, and its role."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="Actor name.")
    role: Role = Field(description="admin, operator or viewer.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Hex SHA-256 of the token.")


def hash_token(token: str) -> str:
    """Hex SHA-256 of a token, as configured in a `TokenGrant`."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    name: str
    role: Role


class Authenticator:
    """Recognises configured tokens by their hash."""

    def __init__(self, grants: Iterable[TokenGrant]) -> None:
        self._grants = [(bytes.fromhex(g.sha256), Principal(g.name, g.role)) for g in grants]

    @classmethod
    def from_settings(
        cls, grants: Iterable[TokenGrant], admin_token: SecretStr | None
    ) -> "Authenticator":
        """Configured grants plus the development admin token (actor `admin`), if set."""
        all_grants = list(grants)
        if admin_token is not None and admin_token.get_secret_value():
            all_grants.append(
                TokenGrant(
                    name=ADMIN_ACTOR,
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


PermissionT = TypeVar("PermissionT", bound=StrEnum)


class RolePermissions(Generic[PermissionT]):
    """Which permissions (a service's own `StrEnum`) each role holds."""

    def __init__(self, grants: Mapping[Role, Iterable[PermissionT]]) -> None:
        missing = set(Role) - set(grants)
        if missing:
            raise ValueError(f"every role needs an entry; missing: {sorted(missing)}")
        self._grants = {role: frozenset(permissions) for role, permissions in grants.items()}

    def allows(self, role: Role, permission: PermissionT) -> bool:
        """True when `role` holds `permission`."""
        return permission in self._grants[role]


def _app_authenticator(request: Request) -> Authenticator:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator


class BearerAuth(Generic[PermissionT]):
    """FastAPI dependencies that authenticate the bearer token and check a permission.

    The `Authenticator` is looked up per request (by default `app.state.authenticator`), so
    tests and bootstrap can build the app with whichever tokens they need.
    """

    def __init__(
        self,
        permissions: RolePermissions[PermissionT],
        *,
        authenticator: Callable[[Request], Authenticator] = _app_authenticator,
        description: str = "API token (roles: admin, operator, viewer)",
    ) -> None:
        self.permissions = permissions
        self._authenticator = authenticator
        self._scheme = HTTPBearer(auto_error=False, description=description)

    def require(self, permission: PermissionT) -> Callable[..., Awaitable[Principal]]:
        """Dependency: the caller, who must hold `permission` (401/403 otherwise)."""
        scheme = self._scheme
        authenticator_of = self._authenticator
        permissions = self.permissions

        async def authorise(
            request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Security(scheme)],
        ) -> Principal:
            challenge = {"WWW-Authenticate": "Bearer"}
            if credentials is None:
                raise ApiError(
                    401, "unauthenticated", "a bearer token is required", None, challenge
                )
            principal = authenticator_of(request).authenticate(credentials.credentials)
            if principal is None:
                raise ApiError(
                    401, "unauthenticated", "the bearer token is not valid", None, challenge
                )
            if not permissions.allows(principal.role, permission):
                raise ApiError(
                    403,
                    "forbidden",
                    f"role {principal.role.value} may not do this",
                    {"role": principal.role.value, "needs": permission.value},
                )
            return principal

        return authorise
