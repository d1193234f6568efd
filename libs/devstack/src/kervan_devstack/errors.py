"""Errors raised by the devstack."""


class DevstackError(RuntimeError):
    """A server could not be provided; the message is one line meant for a human."""
