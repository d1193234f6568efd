"""Error bases: refusals with a stable code (`CodedError`), and the exceptions that tell the
retry→DLQ middleware a message can never succeed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import fast_depends
import pydantic

from kervan_contracts.errors import InvalidEventError, UnknownEventTypeError


class CodedError(Exception):
    """Base of the errors a service raises on purpose: a stable `code` and safe `details`.

    A service's domain errors subclass it (setting `code` per class); messages and details
    are shown to the caller, so they never carry secrets.
    """

    code = "domain_error"

    def __init__(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})


class PermanentError(Exception):
    """Raise from a handler when retrying cannot help; the message goes to the DLQ at once."""


# Errors meaning "this record is malformed": retrying re-reads the same bytes and fails again.
VALIDATION_ERRORS: tuple[type[BaseException], ...] = (
    json.JSONDecodeError,
    UnicodeDecodeError,
    pydantic.ValidationError,
    fast_depends.ValidationError,
    UnknownEventTypeError,
    InvalidEventError,
    PermanentError,
)


def is_permanent(error: BaseException, extra: tuple[type[BaseException], ...] = ()) -> bool:
    """True when `error` (or the error it wraps) should skip retries and go to the DLQ."""
    permanent = VALIDATION_ERRORS + extra
    if isinstance(error, permanent):
        return True
    # An explicit `raise X from validation_error` keeps the classification; an error merely
    # raised while handling one (`__context__`) does not, it may well be transient.
    return error.__cause__ is not None and isinstance(error.__cause__, permanent)
