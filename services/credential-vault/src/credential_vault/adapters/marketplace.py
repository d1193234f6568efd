"""Checks and OAuth consent through kervan_marketplaces' adapters."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from credential_vault.app.ports import CheckResult
from credential_vault.domain.errors import OAuthExchangeFailed
from credential_vault.domain.model import StoreView
from credential_vault.domain.platforms import SELLER_ID_FIELD
from kervan_contracts.identifiers import Platform
from kervan_marketplaces import AdapterFactory
from kervan_marketplaces.errors import (
    AuthRejected,
    MarketplaceError,
    RateLimited,
    RequestRejected,
    UnsafeBaseUrl,
)
from kervan_marketplaces.platforms.ideasoft import IdeaSoftAdapter

logger = logging.getLogger("credential_vault.marketplace")


class AdapterChecker:
    """`CredentialChecker` on the platform adapters (sandbox base URL in test mode)."""

    def __init__(self, factory: AdapterFactory) -> None:
        self._factory = factory

    def _adapter(self, store: StoreView, fields: Mapping[str, str]):  # type: ignore[no-untyped-def]
        return self._factory.create(
            store.platform,
            store_id=store.store_id,
            seller_id=fields.get(SELLER_ID_FIELD[store.platform], ""),
            credentials=dict(fields),
            test_mode=store.test_mode,
        )

    async def check(self, store: StoreView, fields: Mapping[str, str]) -> CheckResult:
        """The adapter's verdict; errors become reason codes, their texts are dropped."""
        try:
            verdict = await self._adapter(store, fields).test_credentials()
        except RateLimited:
            return CheckResult(valid=False, reason_code="rate_limited")
        except (UnsafeBaseUrl, ValueError) as exc:
            code = getattr(exc, "code", "request_rejected")
            return CheckResult(valid=False, reason_code=str(code))
        except MarketplaceError as exc:
            logger.warning(
                "credential check failed",
                extra={"store_id": store.store_id, "error_type": type(exc).__name__},
            )
            if exc.code == "no_sandbox":
                return CheckResult(valid=False, reason_code="no_sandbox")
            return CheckResult(valid=False, reason_code="platform_unreachable")
        if verdict.valid:
            return CheckResult(valid=True)
        return CheckResult(valid=False, reason_code=verdict.reason or "auth_rejected")


class AdapterConsent:
    """`ConsentProvider`: Amazon's website authorisation and IdeaSoft's code flow."""

    def __init__(self, factory: AdapterFactory) -> None:
        self._factory = factory

    def _ideasoft(self, store: StoreView, fields: Mapping[str, str]) -> IdeaSoftAdapter:
        adapter = self._factory.create(
            Platform.IDEASOFT,
            store_id=store.store_id,
            seller_id=fields.get("store_domain", ""),
            credentials=dict(fields),
            test_mode=store.test_mode,
        )
        assert isinstance(adapter, IdeaSoftAdapter)
        return adapter

    def start_url(
        self, store: StoreView, fields: Mapping[str, str], state: str, redirect_uri: str
    ) -> str:
        """Consent URL with `state`."""
        if store.platform is Platform.AMAZON_TR:
            return self._factory.amazon_authorization(test_mode=store.test_mode).consent_url(state)
        return self._ideasoft(store, fields).authorize_url(redirect_uri=redirect_uri, state=state)

    async def exchange(
        self, store: StoreView, fields: Mapping[str, str], code: str, redirect_uri: str
    ) -> dict[str, str]:
        """Code → tokens, as plain strings to store in Vault."""
        try:
            if store.platform is Platform.AMAZON_TR:
                auth = self._factory.amazon_authorization(test_mode=store.test_mode)
                return await auth.exchange_code(code)
            tokens = await self._ideasoft(store, fields).exchange_code(
                code=code, redirect_uri=redirect_uri
            )
        except (AuthRejected, RequestRejected, MarketplaceError) as exc:
            logger.warning(
                "oauth code exchange failed",
                extra={"store_id": store.store_id, "error_type": type(exc).__name__},
            )
            raise OAuthExchangeFailed("the platform refused the authorisation code") from None
        return {
            name: value.get_secret_value()
            for name, value in tokens.items()
            if value.get_secret_value()
        }
