"""Errors raised when reading or writing events; each has a stable `code`."""

from __future__ import annotations


class ContractError(Exception):
    """Base of contract errors."""

    code = "contract_error"


class UnknownEventTypeError(ContractError):
    """The event type (or its major version) is not in the registry."""

    code = "unknown_event_type"


class InvalidEventError(ContractError):
    """The bytes are not a valid envelope for their event type.

    Messages name fields and rules only, never input values: events can carry personal data.
    """

    code = "invalid_event"
