"""Who may do what: three roles, each a set of permissions."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    """What an API call needs."""

    READ = "read"
    WRITE_SETTINGS = "write_settings"
    MANAGE_STORES = "manage_stores"
    MANAGE_REFERENCES = "manage_references"


class Role(StrEnum):
    """Roles a bearer token carries."""

    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"

    def allows(self, permission: Permission) -> bool:
        """True when the role grants `permission`."""
        return permission in _GRANTS[self]


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset({Permission.READ, Permission.WRITE_SETTINGS}),
    Role.VIEWER: frozenset({Permission.READ}),
}
