"""Who may do what: credential-vault's permissions per role (tokens and roles: servicekit)."""

from __future__ import annotations

from enum import StrEnum

from kervan_servicekit.auth import BearerAuth, Role, RolePermissions


class Permission(StrEnum):
    """What an API call needs."""

    READ = "read"
    TEST = "test"
    """Run a credential check (order-ingest / catalog-sync ask after a 401/403)."""
    WRITE = "write"


PERMISSIONS = RolePermissions(
    {
        Role.ADMIN: set(Permission),
        Role.OPERATOR: {Permission.READ, Permission.TEST},
        Role.VIEWER: {Permission.READ},
    }
)
bearer = BearerAuth(PERMISSIONS)
"""The operations' auth dependencies (`bearer.require(Permission.X)`)."""
