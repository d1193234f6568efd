# ruff: noqa: S105  -- CredentialField values are field *names* such as "password", not secrets.
"""Credentials and API status, version 1.

No model here can hold secret material: credential fields are named from a closed vocabulary,
free text exists only in the API-status message (written by credential-vault from a reason
code, never from a secret), and unknown input fields are dropped on parse.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from kervan_contracts import topics
from kervan_contracts.envelope import UtcDatetime
from kervan_contracts.event import EventPayload
from kervan_contracts.identifiers import Identifier, Platform, ReasonCode


class ApiStatus(StrEnum):
    """Outcome of the last credential check against the platform."""

    VALID = "valid"
    INVALID = "invalid"
    UNKNOWN = "unknown"
    """Not checked yet, or the platform could not be reached."""


class CredentialField(StrEnum):
    """Names of credential fields a store can have (names only; values live in Vault)."""

    API_KEY = "api_key"
    API_SECRET = "api_secret"
    API_TOKEN = "api_token"
    SUPPLIER_ID = "supplier_id"
    SELLER_ID = "seller_id"
    MERCHANT_ID = "merchant_id"
    USERNAME = "username"
    PASSWORD = "password"
    APP_KEY = "app_key"
    APP_SECRET = "app_secret"
    CLIENT_ID = "client_id"
    CLIENT_SECRET = "client_secret"
    ACCESS_TOKEN = "access_token"
    REFRESH_TOKEN = "refresh_token"
    TOKEN_EXPIRES_AT = "token_expires_at"
    SELLING_PARTNER_ID = "selling_partner_id"
    MARKETPLACE_ID = "marketplace_id"
    STORE_DOMAIN = "store_domain"
    BASE_URL = "base_url"


class ApiStatusChanged(EventPayload):
    """Result of checking a store's credentials with its platform."""

    model_config = ConfigDict(title="ApiStatusChanged")
    event_type = "credentials.api_status.changed"
    event_version = 1
    topic = topics.API_STATUS

    store_id: Identifier = Field(description="Store whose credentials were checked.")
    platform: Platform = Field(description="Platform of the store.")
    status: ApiStatus = Field(description="`valid`, `invalid` or `unknown`.")
    reason_code: ReasonCode | None = Field(
        default=None,
        description=(
            "Why, when not valid: e.g. `auth_rejected`, `forbidden`, `platform_unreachable`."
        ),
    )
    message: str | None = Field(
        default=None,
        max_length=500,
        description="Short explanation for the seller; never contains credential values.",
    )
    checked_at: UtcDatetime = Field(
        description="When the check ran (UTC); consumers keep the latest per store."
    )
    test_mode: bool = Field(description="True when the check ran against the sandbox.")

    def partition_key(self) -> str:
        """`{store_id}`."""
        return self.store_id


class CredentialsChanged(EventPayload):
    """A store's credentials were saved, rotated or deleted in Vault (metadata only)."""

    model_config = ConfigDict(title="CredentialsChanged")
    event_type = "credentials.credentials.changed"
    event_version = 1
    topic = topics.CREDENTIALS

    store_id: Identifier = Field(description="Store whose credentials changed.")
    platform: Platform = Field(description="Platform of the store.")
    version: int = Field(
        ge=0,
        description=(
            "Vault KV version now current (0 when deleted before any write); consumers "
            "re-read credentials when it grows and ignore older or equal versions."
        ),
    )
    fields_set: list[CredentialField] = Field(
        default_factory=list,
        description="Names of the credential fields present now. Names only, never values.",
    )
    changed_at: UtcDatetime = Field(description="When the change happened (UTC).")
    deleted: bool = Field(
        default=False, description="True when the credentials were removed from Vault."
    )

    @field_validator("fields_set")
    @classmethod
    def _sorted_unique(cls, value: list[CredentialField]) -> list[CredentialField]:
        # A canonical order keeps equal states byte-identical (handy for compaction and tests).
        return sorted(set(value))

    @model_validator(mode="after")
    def _deleted_has_no_fields(self) -> Self:
        if self.deleted and self.fields_set:
            raise ValueError("deleted credentials have no fields set")
        return self

    def partition_key(self) -> str:
        """`{store_id}`."""
        return self.store_id
