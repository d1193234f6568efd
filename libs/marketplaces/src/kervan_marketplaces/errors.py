"""Typed errors raised by marketplace adapters.

Every error carries a stable `code` (snake_case or the platform's own dotted code) so callers can
branch without parsing messages. Messages never contain credentials, tokens or request headers:
they are built only from the platform id, the HTTP status and the platform's own error code/text.
"""

from __future__ import annotations

_MAX_DETAIL = 300


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


class MarketplaceError(Exception):
    """Base of every adapter error: `code` is stable, `platform` and `status` are informative."""

    default_code = "marketplace_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        platform: str | None = None,
        status: int | None = None,
        detail: str | None = None,
    ) -> None:
        self.code = code or self.default_code
        self.platform = platform
        self.status = status
        self.detail = _clip(detail)
        parts = [message]
        if platform:
            parts.append(f"platform={platform}")
        if status is not None:
            parts.append(f"status={status}")
        parts.append(f"code={self.code}")
        if self.detail:
            parts.append(f"detail={self.detail}")
        super().__init__(" ".join(parts))


class AuthRejected(MarketplaceError):  # noqa: N818 - names fixed by the issue
    """The platform refused the credentials (401/403 or its in-body equivalent). Never retried."""

    default_code = "auth_rejected"


class RateLimited(MarketplaceError):  # noqa: N818 - names fixed by the issue
    """The platform answered 429 (or its throttling equivalent); `retry_after` is in seconds."""

    default_code = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        platform: str | None = None,
        status: int | None = 429,
        detail: str | None = None,
    ) -> None:
        super().__init__(message, code=code, platform=platform, status=status, detail=detail)
        self.retry_after = retry_after


class Transient(MarketplaceError):  # noqa: N818 - names fixed by the issue
    """A failure worth retrying later: 5xx, timeouts, connection errors."""

    default_code = "transient"


class RequestRejected(MarketplaceError):  # noqa: N818 - names fixed by the issue
    """The platform refused the request as a whole (4xx other than auth/throttling). Not retried."""

    default_code = "request_rejected"


class PermanentItemFailure(MarketplaceError):  # noqa: N818 - names fixed by the issue
    """One item of a batch failed for a reason that retrying the same item will not fix."""

    default_code = "item_rejected"

    def __init__(
        self,
        message: str,
        *,
        sku: str,
        code: str | None = None,
        platform: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message, code=code, platform=platform, detail=detail)
        self.sku = sku


class UnsafeBaseUrl(ValueError):  # noqa: N818 - names fixed by the issue
    """A base URL (override or store URL) failed validation; `code` names the rule it broke."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(f"{message} (code={code})")


class UnsupportedOperation(MarketplaceError):  # noqa: N818 - names fixed by the issue
    """The platform has no API for what was asked (e.g. product info on a price-only channel)."""

    default_code = "unsupported"
