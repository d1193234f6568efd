"""HTTP status of each domain error; the error body and its handlers are servicekit's."""

from __future__ import annotations

from kervan_servicekit.errors import CodedError
from store_registry.domain import errors as domain

STATUS_OF: dict[type[CodedError], int] = {
    domain.StoreNotFound: 404,
    domain.ReferenceNotFound: 404,
    domain.UnknownReference: 422,
    domain.UnsupportedByPlatform: 422,
    domain.InvalidStoreUrl: 422,
    domain.VersionMismatch: 412,
    domain.PreconditionRequired: 428,
    domain.ReferenceInUse: 409,
    domain.InvalidCursor: 400,
}
