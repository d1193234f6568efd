"""Asking credential-vault to re-test a store's credentials after a 401/403."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from kervan_servicekit import get_logger

logger = get_logger("order_ingest.retest")


class HttpRetestRequester:
    """POSTs credential-vault's `/v1/stores/{store_id}/credentials/test` (bearer token).

    credential-vault then publishes ApiStatusChanged; a `valid` one checked after the pause
    resumes polling, an `invalid` one keeps the store out until the seller fixes the key.
    """

    def __init__(
        self, client: httpx.AsyncClient, url_template: str, token: SecretStr | None
    ) -> None:
        self._client = client
        self._url_template = url_template
        self._token = token

    async def request_retest(self, store_id: str, reason: str) -> None:
        """See RetestRequester."""
        headers = {}
        if self._token is not None and self._token.get_secret_value():
            headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        try:
            response = await self._client.post(
                self._url_template.format(store_id=store_id), headers=headers
            )
        except httpx.HTTPError as exc:
            logger.warning(
                "re-test request failed", store_id=store_id, reason=reason, error=type(exc).__name__
            )
            return
        logger.info(
            "re-test requested", store_id=store_id, reason=reason, status=response.status_code
        )


class LoggingRetestRequester:
    """Only logs (re-test requests disabled by configuration)."""

    async def request_retest(self, store_id: str, reason: str) -> None:
        """See RetestRequester."""
        logger.warning(
            "store paused; re-test requests are disabled", store_id=store_id, reason=reason
        )
