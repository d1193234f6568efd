"""Domain errors: each has a stable `code`; the HTTP layer maps them to a status."""

from __future__ import annotations

from kervan_servicekit.errors import CodedError


class DomainError(CodedError):
    """Base of every refusal the service makes on purpose. Messages never carry secrets."""


class StoreNotFound(DomainError):  # noqa: N818 - domain names read better without "Error"
    """The store is unknown (not in the projection of kervan.stores.v1) or deleted."""

    code = "store_not_found"


class PlatformMismatch(DomainError):  # noqa: N818 - domain names read better without "Error"
    """The request names a platform other than the store's."""

    code = "platform_mismatch"


class InvalidCredentials(DomainError):  # noqa: N818 - domain names read better without "Error"
    """Fields missing, unknown or malformed for the store's platform."""

    code = "invalid_credentials"


class CredentialsNotSet(DomainError):  # noqa: N818 - domain names read better without "Error"
    """The store has no credentials stored."""

    code = "credentials_not_set"


class UnsupportedPlatform(DomainError):  # noqa: N818 - domain names read better without "Error"
    """The operation does not exist for this platform (e.g. OAuth for Trendyol)."""

    code = "unsupported_platform"


class InvalidOAuthState(DomainError):  # noqa: N818 - domain names read better without "Error"
    """The OAuth `state` is forged, expired or already used."""

    code = "invalid_oauth_state"


class OAuthExchangeFailed(DomainError):  # noqa: N818 - domain names read better without "Error"
    """The platform refused to exchange the authorisation code."""

    code = "oauth_exchange_failed"


class SecretStoreUnavailable(DomainError):  # noqa: N818 - domain names read better without "Error"
    """Vault could not be reached or refused the service; nothing was changed."""

    code = "secret_store_unavailable"
