"""Who may do what: store-registry's permissions, and which of the three roles hold them."""

from __future__ import annotations

from enum import StrEnum

from kervan_servicekit.auth import Role, RolePermissions


class Permission(StrEnum):
    """What an API call needs."""

    READ = "read"
    WRITE_SETTINGS = "write_settings"
    MANAGE_STORES = "manage_stores"
    MANAGE_REFERENCES = "manage_references"


PERMISSIONS = RolePermissions(
    {
        Role.ADMIN: set(Permission),
        Role.OPERATOR: {Permission.READ, Permission.WRITE_SETTINGS},
        Role.VIEWER: {Permission.READ},
    }
)
