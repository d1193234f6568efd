"""Exceptions that tell the retry→DLQ middleware a message can never succeed."""

from __future__ import annotations

import json

import fast_depends
import pydantic

from kervan_contracts.errors import InvalidEventError, UnknownEventTypeError


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
