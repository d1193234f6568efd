"""HTTP status of each domain error; the error body and its handlers are servicekit's."""

from __future__ import annotations

from credential_vault.domain import errors as domain
from kervan_servicekit.errors import CodedError

STATUS_OF: dict[type[CodedError], int] = {
    domain.StoreNotFound: 404,
    domain.CredentialsNotSet: 404,
    domain.PlatformMismatch: 422,
    domain.InvalidCredentials: 422,
    domain.UnsupportedPlatform: 404,
    domain.InvalidOAuthState: 400,
    domain.OAuthExchangeFailed: 502,
    domain.SecretStoreUnavailable: 503,  # servicekit adds Retry-After
}
