"""JSON logging: structlog over the standard library, so library logs come out as JSON too.

One line per event, ISO-8601 UTC timestamps, the service name, and whatever is bound in the
current context (correlation_id, event_id, ... bound per message by the broker middleware).
A redaction processor masks values under secret-looking keys and passwords inside URLs.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "***"

_SENSITIVE_KEY = re.compile(
    r"(secret|passw(or)?d|passwd|token|api[_-]?key|authorization|credential|private[_-]?key"
    r"|cookie|dsn)",
    re.IGNORECASE,
)
# `scheme://user:password@host` -> `scheme://user:***@host`
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(?P<tail>@)", re.I)


def is_sensitive_key(key: str) -> bool:
    """True when a mapping key names something that must never be logged."""
    return bool(_SENSITIVE_KEY.search(key))


def redact_value(value: Any) -> Any:
    """Mask secrets inside a value: nested mappings/sequences by key, URLs by password."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED if isinstance(key, str) and is_sensitive_key(key) else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact_value(item) for item in value)
    if isinstance(value, str):
        return _URL_PASSWORD.sub(rf"\g<head>{REDACTED}\g<tail>", value)
    return value


def redact_processor(
    _logger: WrappedLogger, _method: str, event_dict: EventDict
) -> EventDict | Mapping[str, Any]:
    """structlog processor applying :func:`redact_value` to every key of the event."""
    for key in list(event_dict):
        if is_sensitive_key(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact_value(event_dict[key])
    return event_dict


def _service_adder(service: str) -> Processor:
    def add_service(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    return add_service


def _drop_color_message(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # uvicorn duplicates its message with ANSI colours under this key.
    event_dict.pop("color_message", None)
    return event_dict


def shared_processors(service: str) -> list[Processor]:
    """Processors applied both to structlog and to foreign (stdlib) log records."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        _service_adder(service),
        _drop_color_message,
        redact_processor,
    ]


def configure_logging(service: str, level: str = "INFO", *, stream: TextIO | None = None) -> None:
    """Route structlog and the standard library through one JSON renderer on `stream`.

    Idempotent: calling it again replaces the root handler instead of adding another one.
    """
    processors = shared_processors(service)
    structlog.configure(
        processors=[
            *processors,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            # a second pass: exception text may carry URLs with passwords
            redact_processor,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    handler.set_name("kervan-json")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "kervan-json":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries that install their own handlers would print twice or in their own format.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "aiokafka"):
        library_logger = logging.getLogger(name)
        library_logger.handlers.clear()
        library_logger.propagate = True


class _BoundLogContext:
    """`bound_log_context`'s block: binds on entry, restores the previous values on exit.

    structlog's `bound_contextvars` reads the whole context (`copy_context`, every variable)
    on each entry to save what it overwrites; the tokens of `bind_contextvars` restore the
    same values without that (a few per cent of a service's CPU per request under load).
    """

    __slots__ = ("_tokens", "_values")

    def __init__(self, values: dict[str, object]) -> None:
        self._values = values
        self._tokens: Mapping[str, contextvars.Token[Any]] = {}

    def __enter__(self) -> None:
        self._tokens = structlog.contextvars.bind_contextvars(**self._values)

    def __exit__(self, *_exc: object) -> None:
        structlog.contextvars.reset_contextvars(**self._tokens)


def bound_log_context(**values: object) -> AbstractContextManager[None]:
    """Bind values (correlation_id, event_id, ...) to every log line inside the block;
    on leaving it the values bound before are back (nested blocks, the same keys)."""
    return _BoundLogContext({key: value for key, value in values.items() if value is not None})


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger named `name` (goes through the JSON handler)."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
