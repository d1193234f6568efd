"""Domain errors: each has a stable `code`; the HTTP layer maps the class to a status."""

from __future__ import annotations

from kervan_servicekit.errors import CodedError


class DomainError(CodedError):
    """Base of every rule the domain refuses; `details` is safe to show to the caller."""


class StoreNotFound(DomainError):  # noqa: N818 - reads as the fact it reports
    """No store has this id."""

    code = "store_not_found"


class ReferenceNotFound(DomainError):  # noqa: N818
    """A reference list item does not exist (looked up directly)."""

    code = "reference_not_found"


class UnknownReference(DomainError):  # noqa: N818
    """Settings point at reference items that do not exist."""

    code = "unknown_reference"


class UnsupportedByPlatform(DomainError):  # noqa: N818
    """The store's platform cannot do what the settings ask."""

    code = "unsupported_by_platform"


class InvalidStoreUrl(DomainError):  # noqa: N818
    """The store URL is not a public https address."""

    code = "invalid_store_url"


class VersionMismatch(DomainError):  # noqa: N818
    """The caller's `If-Match` names a version that is no longer current."""

    code = "version_mismatch"


class PreconditionRequired(DomainError):  # noqa: N818
    """A write came without `If-Match`."""

    code = "precondition_required"


class ReferenceInUse(DomainError):  # noqa: N818
    """A reference item cannot be deleted while stores point at it."""

    code = "reference_in_use"


class InvalidCursor(DomainError):  # noqa: N818
    """A pagination cursor that this service did not issue (or no longer understands)."""

    code = "invalid_cursor"
