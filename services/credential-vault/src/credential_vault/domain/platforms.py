"""Which credential fields each platform takes, and how they are checked.

Names follow kervan_marketplaces' adapters. Events carry the names through the closed
`CredentialField` vocabulary of the contracts; three adapter names have no exact member and are
mapped onto the nearest one (`service_key` → `api_key`, `api_user` → `username`,
`api_password` → `password`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from credential_vault.domain.errors import InvalidCredentials
from kervan_contracts.credentials.v1 import CredentialField
from kervan_contracts.identifiers import Platform

MAX_FIELD_LENGTH = 4096
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True, slots=True)
class PlatformFields:
    """Fields a store of one platform must and may have."""

    required: tuple[str, ...]
    consent: tuple[str, ...] = ()
    """Fields normally obtained through OAuth consent; accepted on PUT too."""

    @property
    def allowed(self) -> frozenset[str]:
        """Every field name accepted for the platform."""
        return frozenset(self.required) | frozenset(self.consent)


FIELDS: dict[Platform, PlatformFields] = {
    Platform.TRENDYOL: PlatformFields(("seller_id", "api_key", "api_secret")),
    Platform.HEPSIBURADA: PlatformFields(("merchant_id", "service_key")),
    Platform.N11: PlatformFields(("app_key", "app_secret")),
    Platform.AMAZON_TR: PlatformFields(("selling_partner_id", "refresh_token")),
    Platform.IDEASOFT: PlatformFields(
        ("store_domain", "client_id", "client_secret"), consent=("access_token", "refresh_token")
    ),
    Platform.TSOFT: PlatformFields(("store_domain", "api_user", "api_password")),
}

# Non-secret identifiers: the adapter's `seller_id` argument comes from one of them.
SELLER_ID_FIELD: dict[Platform, str] = {
    Platform.TRENDYOL: "seller_id",
    Platform.HEPSIBURADA: "merchant_id",
    Platform.N11: "app_key",
    Platform.AMAZON_TR: "selling_partner_id",
    Platform.IDEASOFT: "store_domain",
    Platform.TSOFT: "store_domain",
}

_EVENT_NAME = {
    "service_key": CredentialField.API_KEY,
    "api_user": CredentialField.USERNAME,
    "api_password": CredentialField.PASSWORD,
}


def event_field(name: str) -> CredentialField:
    """The contracts' name of an adapter credential field."""
    return _EVENT_NAME.get(name) or CredentialField(name)


def validate_fields(platform: Platform, fields: Mapping[str, str]) -> dict[str, str]:
    """Check a PUT body against the platform; returns the trimmed fields.

    Error details name fields, never values.
    """
    spec = FIELDS[platform]
    unknown = sorted(set(fields) - spec.allowed)
    trimmed = {name: value.strip() for name, value in fields.items()}
    missing = sorted(name for name in spec.required if not trimmed.get(name))
    too_long = sorted(name for name, value in trimmed.items() if len(value) > MAX_FIELD_LENGTH)
    problems: dict[str, list[str]] = {}
    if unknown:
        problems["unknown_fields"] = unknown
    if missing:
        problems["missing_fields"] = missing
    if too_long:
        problems["too_long_fields"] = too_long
    domain = trimmed.get("store_domain")
    if domain and not _DOMAIN.match(domain.lower()):
        problems["malformed_fields"] = ["store_domain"]
    if problems:
        raise InvalidCredentials(
            f"the credentials do not fit platform {platform.value}",
            {"platform": platform.value, **problems, "allowed_fields": sorted(spec.allowed)},
        )
    return {name: value for name, value in trimmed.items() if value}
