"""Use cases: one function per command, one transaction each (Vault calls inside, see below).

Vault is written inside the database transaction, after the store row is locked: if Vault
fails, the transaction rolls back and nothing is half-written; if the commit fails after a
successful Vault write, Vault holds a newer version with no metadata or event, which the next
PUT (or the periodic re-check) reconciles. Readers always read the current Vault version.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from credential_vault.app.ports import (
    ConsentProvider,
    CredentialChecker,
    SecretStore,
    Transaction,
    UnitOfWork,
)
from credential_vault.domain.errors import (
    CredentialsNotSet,
    InvalidOAuthState,
    PlatformMismatch,
    SecretStoreUnavailable,
    StoreNotFound,
    UnsupportedPlatform,
)
from credential_vault.domain.model import CredentialMetadata, StatusRecord, StoreView, fingerprint
from credential_vault.domain.platforms import FIELDS, event_field, validate_fields
from kervan_contracts import topics
from kervan_contracts.credentials.v1 import ApiStatus, ApiStatusChanged, CredentialsChanged
from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import StoreSnapshot

logger = logging.getLogger("credential_vault.services")

CONSUMER = "credential-vault"
OAUTH_PLATFORMS = frozenset({Platform.AMAZON_TR, Platform.IDEASOFT})

# Seller-facing text per reason code: fixed strings, so no platform text (untrusted, and
# possibly echoing a credential) ever reaches an event.
REASON_MESSAGES: dict[str, str] = {
    "auth_rejected": "The platform rejected the credentials.",
    "forbidden": "The credentials lack a permission the integration needs.",
    "request_rejected": "The platform refused the check request.",
    "platform_unreachable": "The platform could not be reached; the check will be retried.",
    "rate_limited": "The platform asked to slow down; the check will be retried.",
    "no_sandbox": "The platform has no sandbox for test mode.",
    "not_checked": "The credentials have not been checked yet.",
    "credentials_missing": "No credentials are stored for this store.",
    "store_deleted": "The store was deleted.",
}


def utc_now() -> datetime:
    """Current UTC time."""
    return datetime.now(UTC)


@dataclass
class CredentialService:
    """The service layer; every collaborator is injected (fakes in unit tests)."""

    uow: UnitOfWork
    secret_store: SecretStore
    checker: CredentialChecker
    fingerprint_key: bytes
    consent: ConsentProvider | None = None
    oauth_redirect_uri: str = ""
    oauth_state_ttl: timedelta = timedelta(minutes=10)
    clock: Callable[[], datetime] = utc_now
    on_status: Callable[[StatusRecord], None] | None = None
    """Told of every status a check in this process committed (e.g. the metrics gauge)."""
    _state_key: bytes = field(init=False)

    def __post_init__(self) -> None:
        # A key of its own for OAuth state signatures, derived so one setting suffices.
        self._state_key = hmac.new(self.fingerprint_key, b"oauth-state", hashlib.sha256).digest()

    # ---- credentials ---------------------------------------------------------------------

    async def put_credentials(
        self, store_id: str, platform: Platform, fields: Mapping[str, str], actor: str
    ) -> CredentialMetadata:
        """Validate and store a store's credentials; publishes CredentialsChanged."""
        async with self.uow.transaction() as tx:
            store = await _existing_store(tx, store_id, lock=True)
            if store.platform is not platform:
                raise PlatformMismatch(
                    "the store belongs to another platform",
                    {"store_platform": store.platform.value, "given_platform": platform.value},
                )
            clean = validate_fields(platform, fields)
            return await self._write(tx, store, clean, actor)

    async def _write(
        self, tx: Transaction, store: StoreView, clean: Mapping[str, str], actor: str
    ) -> CredentialMetadata:
        version = await self.secret_store.write(store.store_id, clean)
        metadata = CredentialMetadata(
            store_id=store.store_id,
            platform=store.platform,
            fields_set=tuple(sorted(clean)),
            vault_version=version,
            fingerprint=fingerprint(self.fingerprint_key, store.store_id, clean),
            updated_at=self.clock(),
            updated_by=actor,
        )
        await tx.save_metadata(metadata)
        await tx.publish(
            CredentialsChanged(
                store_id=store.store_id,
                platform=store.platform,
                version=version,
                fields_set=[event_field(name) for name in clean],
                changed_at=metadata.updated_at,
            ),
            correlation_id=None,
            causation_id=None,
        )
        logger.info(
            "credentials stored",
            extra={"store_id": store.store_id, "vault_version": version, "actor": actor},
        )
        return metadata

    async def get_metadata(self, store_id: str) -> CredentialMetadata:
        """Metadata of a store's credentials (never the values)."""
        async with self.uow.transaction() as tx:
            await _existing_store(tx, store_id)
            metadata = await tx.get_metadata(store_id)
        if metadata is None:
            raise CredentialsNotSet("no credentials are stored for this store")
        return metadata

    async def delete_credentials(self, store_id: str, actor: str) -> None:
        """Destroy a store's credentials (every version, numbering goes on); status: unknown."""
        async with self.uow.transaction() as tx:
            store = await _existing_store(tx, store_id, lock=True)
            metadata = await tx.get_metadata(store_id)
            if metadata is None:
                raise CredentialsNotSet("no credentials are stored for this store")
            await self._forget(
                tx,
                store=store,
                metadata=metadata,
                reason="credentials_missing",
                correlation_id=None,
                causation_id=None,
            )
        logger.info("credentials deleted", extra={"store_id": store_id, "actor": actor})

    async def _forget(
        self,
        tx: Transaction,
        *,
        store: StoreView,
        metadata: CredentialMetadata | None,
        reason: str,
        correlation_id: str | None,
        causation_id: UUID | None,
    ) -> None:
        if reason == "store_deleted":
            await self.secret_store.destroy(store.store_id)  # store ids are never reused
        else:
            # The store lives on: its next credentials must get a higher version than the
            # deletion announced, or consumers ("higher version wins") would ignore them.
            await self.secret_store.destroy_versions(store.store_id)
        if metadata is not None:
            await tx.delete_metadata(store.store_id)
            await tx.publish(
                CredentialsChanged(
                    store_id=store.store_id,
                    platform=store.platform,
                    version=metadata.vault_version,
                    changed_at=self.clock(),
                    deleted=True,
                ),
                correlation_id=correlation_id,
                causation_id=causation_id,
            )
        status = self._status(store, ApiStatus.UNKNOWN, reason)
        if reason == "store_deleted":
            await tx.delete_status(store.store_id)
        else:
            await tx.save_status(status)
        await tx.publish(
            _status_event(status), correlation_id=correlation_id, causation_id=causation_id
        )
        if reason == "store_deleted":
            # The store is gone for good: let compaction forget its status and credentials.
            await tx.tombstone(topics.API_STATUS, store.store_id)
            await tx.tombstone(topics.CREDENTIALS, store.store_id)

    def _status(self, store: StoreView, status: ApiStatus, reason: str | None) -> StatusRecord:
        return StatusRecord(
            store_id=store.store_id,
            platform=store.platform,
            status=status,
            reason_code=reason,
            message=REASON_MESSAGES.get(reason) if reason else None,
            checked_at=self.clock(),
            test_mode=store.test_mode,
        )

    # ---- checks --------------------------------------------------------------------------

    async def test_credentials(
        self,
        store_id: str,
        *,
        correlation_id: str | None = None,
        causation_id: UUID | None = None,
    ) -> StatusRecord:
        """Check the stored credentials with the platform; publishes ApiStatusChanged."""
        async with self.uow.transaction() as tx:
            store = await _existing_store(tx, store_id)
        stored = await self.secret_store.read(store_id)
        if stored is None:
            raise CredentialsNotSet("no credentials are stored for this store")
        # The platform call runs outside any transaction: it may take seconds.
        result = await self.checker.check(store, stored.fields)
        async with self.uow.transaction() as tx:
            current = await tx.get_store(store_id, lock=True)
            if current is None or current.deleted:
                raise StoreNotFound("the store was deleted during the check")
            verdict = ApiStatus.VALID if result.valid else ApiStatus.INVALID
            if not result.valid and result.reason_code in {"platform_unreachable", "rate_limited"}:
                verdict = ApiStatus.UNKNOWN  # says nothing about the credentials themselves
            record = self._status(
                store, verdict, None if result.valid else result.reason_code or "auth_rejected"
            )
            await tx.save_status(record)
            await tx.publish(
                _status_event(record), correlation_id=correlation_id, causation_id=causation_id
            )
        if self.on_status is not None:
            self.on_status(record)
        logger.info(
            "credentials checked",
            extra={
                "store_id": store_id,
                "status": record.status.value,
                "reason": record.reason_code,
            },
        )
        return record

    async def recheck_all(self) -> int:
        """Re-check every store with credentials; returns how many were checked.

        One failing store (Vault hiccup, deleted meanwhile) does not stop the round.
        """
        async with self.uow.transaction() as tx:
            store_ids = await tx.stores_with_credentials()
        checked = 0
        for store_id in store_ids:
            try:
                await self.test_credentials(store_id)
            except (CredentialsNotSet, StoreNotFound, SecretStoreUnavailable) as exc:
                logger.warning(
                    "periodic re-check skipped a store",
                    extra={"store_id": store_id, "error_code": exc.code},
                )
                continue
            checked += 1
        return checked

    async def list_statuses(self) -> list[StatusRecord]:
        """Latest API status of every live store (what the status gauge mirrors)."""
        async with self.uow.transaction() as tx:
            return await tx.list_statuses()

    async def get_status(self, store_id: str) -> StatusRecord:
        """Latest API status (unknown when never checked)."""
        async with self.uow.transaction() as tx:
            store = await _existing_store(tx, store_id)
            status = await tx.get_status(store_id)
        return status or self._status(store, ApiStatus.UNKNOWN, "not_checked")

    # ---- kervan.stores.v1 ----------------------------------------------------------------

    async def apply_store_event(
        self,
        snapshot: StoreSnapshot,
        *,
        deleted: bool,
        event_id: UUID,
        correlation_id: str | None,
    ) -> bool:
        """Project a store event (idempotent, by version). Returns True when a re-test is due.

        New store → status `unknown`; deleted store → secrets destroyed, status forgotten.
        """
        platform = Platform(snapshot.platform)
        view = StoreView(
            snapshot.store_id, platform, snapshot.test_mode, snapshot.version, deleted=deleted
        )
        async with self.uow.transaction() as tx:
            if not await tx.claim_event(CONSUMER, event_id):
                return False
            known = await tx.get_store(snapshot.store_id, lock=True)
            if (
                known is not None
                and known.version >= snapshot.version
                and not (deleted and not known.deleted)
            ):
                return False  # stale replay or duplicate
            await tx.save_store(view)
            if deleted:
                metadata = await tx.get_metadata(snapshot.store_id)
                await self._forget(
                    tx,
                    store=view,
                    metadata=metadata,
                    reason="store_deleted",
                    correlation_id=correlation_id,
                    causation_id=event_id,
                )
                return False
            if known is None:
                status = self._status(view, ApiStatus.UNKNOWN, "not_checked")
                await tx.save_status(status)
                await tx.publish(
                    _status_event(status), correlation_id=correlation_id, causation_id=event_id
                )
                return False
            return (
                known.test_mode != view.test_mode
                and await tx.get_metadata(snapshot.store_id) is not None
            )

    # ---- OAuth consent -------------------------------------------------------------------

    async def oauth_start(self, platform: Platform, store_id: str) -> str:
        """A consent URL carrying a signed, single-use state bound to the store."""
        consent = self._consent(platform)
        async with self.uow.transaction() as tx:
            store = await _existing_store(tx, store_id)
            if store.platform is not platform:
                raise PlatformMismatch("the store belongs to another platform")
            fields = await self._consent_fields(store)
            state_id = secrets.token_urlsafe(24)
            await tx.add_oauth_state(
                state_id, store_id, platform, self.clock() + self.oauth_state_ttl
            )
        state = self._sign(state_id, platform)
        return consent.start_url(store, fields, state, self._redirect_uri(platform))

    async def oauth_callback(
        self, platform: Platform, state: str, code: str, extra: Mapping[str, str]
    ) -> CredentialMetadata:
        """Consume the state, exchange the code, store the tokens; forged/replayed → refused."""
        consent = self._consent(platform)
        state_id = self._verify(state, platform)
        async with self.uow.transaction() as tx:
            store_id = await tx.consume_oauth_state(state_id, platform, self.clock())
        if store_id is None:
            raise InvalidOAuthState("the state is unknown, expired or already used")
        async with self.uow.transaction() as tx:
            store = await _existing_store(tx, store_id)
        fields = await self._consent_fields(store)
        tokens = await consent.exchange(store, fields, code, self._redirect_uri(platform))
        merged = {**fields, **tokens}
        if platform is Platform.AMAZON_TR and extra.get("selling_partner_id"):
            merged["selling_partner_id"] = extra["selling_partner_id"]
        async with self.uow.transaction() as tx:
            locked = await _existing_store(tx, store_id, lock=True)
            clean = validate_fields(platform, merged)
            return await self._write(tx, locked, clean, f"oauth:{platform.value}")

    def _redirect_uri(self, platform: Platform) -> str:
        return self.oauth_redirect_uri.replace("{platform}", platform.value)

    def _consent(self, platform: Platform) -> ConsentProvider:
        if platform not in OAUTH_PLATFORMS or self.consent is None:
            raise UnsupportedPlatform(
                "OAuth consent exists only for amazon_tr and ideasoft",
                {"platform": platform.value},
            )
        return self.consent

    async def _consent_fields(self, store: StoreView) -> dict[str, str]:
        stored = await self.secret_store.read(store.store_id)
        fields = dict(stored.fields) if stored else {}
        if store.platform is Platform.IDEASOFT:
            missing = [n for n in FIELDS[Platform.IDEASOFT].required if n not in fields]
            if missing:
                raise CredentialsNotSet(
                    "store the IdeaSoft client fields before the consent",
                    {"missing_fields": missing},
                )
        return fields

    def _sign(self, state_id: str, platform: Platform) -> str:
        mac = hmac.new(self._state_key, f"{platform.value}:{state_id}".encode(), hashlib.sha256)
        return f"{state_id}.{base64.urlsafe_b64encode(mac.digest()).decode().rstrip('=')}"

    def _verify(self, state: str, platform: Platform) -> str:
        state_id, _, _signature = state.partition(".")
        # Bytes: compare_digest refuses non-ASCII str, and a state is attacker input.
        expected = self._sign(state_id, platform).encode()
        if not state_id or not hmac.compare_digest(expected, state.encode()):
            raise InvalidOAuthState("the state is not one this service issued")
        return state_id


async def _existing_store(tx: Transaction, store_id: str, *, lock: bool = False) -> StoreView:
    store = await tx.get_store(store_id, lock=lock)
    if store is None or store.deleted:
        raise StoreNotFound("the store is unknown", {"store_id": store_id})
    return store


def _status_event(status: StatusRecord) -> ApiStatusChanged:
    return ApiStatusChanged(
        store_id=status.store_id,
        platform=status.platform,
        status=status.status,
        reason_code=status.reason_code,
        message=status.message,
        checked_at=status.checked_at,
        test_mode=status.test_mode,
    )
