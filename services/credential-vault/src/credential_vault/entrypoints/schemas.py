"""Wire models of the HTTP API (no model here can carry a secret value outward)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from credential_vault.domain.model import CredentialMetadata, StatusRecord
from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.identifiers import Platform

FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{0,39}$")]
FieldValue = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class CredentialsIn(BaseModel):
    """PUT body: the store's platform and its credential fields."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    platform: Platform = Field(description="Must equal the store's platform.")
    fields: dict[FieldName, FieldValue] = Field(
        max_length=16,
        description="Field name → value, e.g. trendyol `seller_id`, `api_key`, `api_secret`.",
    )

    def __repr__(self) -> str:
        return f"CredentialsIn(platform={self.platform.value!r}, fields={sorted(self.fields)})"


class CredentialMetadataOut(BaseModel):
    """What is known about a store's credentials; never a value, not even partly."""

    store_id: str
    platform: Platform
    fields_set: list[str] = Field(description="Names of the fields stored.")
    vault_version: int = Field(description="KV v2 version now current.")
    fingerprint: str = Field(
        description="HMAC-SHA256 of the credentials under the service key (32 hex chars): "
        "equal for equal credentials, not reversible."
    )
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, metadata: CredentialMetadata) -> CredentialMetadataOut:
        """From the domain value."""
        return cls(
            store_id=metadata.store_id,
            platform=metadata.platform,
            fields_set=list(metadata.fields_set),
            vault_version=metadata.vault_version,
            fingerprint=metadata.fingerprint,
            updated_at=metadata.updated_at,
            updated_by=metadata.updated_by,
        )


class ApiStatusOut(BaseModel):
    """Result of the latest credential check."""

    store_id: str
    platform: Platform
    status: ApiStatus
    reason_code: str | None
    message: str | None
    checked_at: datetime
    test_mode: bool

    @classmethod
    def of(cls, record: StatusRecord) -> ApiStatusOut:
        """From the domain value."""
        return cls(
            store_id=record.store_id,
            platform=record.platform,
            status=record.status,
            reason_code=record.reason_code,
            message=record.message,
            checked_at=record.checked_at,
            test_mode=record.test_mode,
        )


class ConsentStartOut(BaseModel):
    """Where to send the seller's browser."""

    authorization_url: str
    expires_in: int = Field(description="Seconds the state stays valid.")
