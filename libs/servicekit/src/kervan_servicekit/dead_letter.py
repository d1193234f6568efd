"""Retry-with-backoff, then dead-letter: a FastStream broker middleware for Kafka consumers.

A failing handler is retried in-process up to `RetryPolicy.max_attempts` times with exponential
backoff and jitter. Validation errors (undecodable JSON, pydantic errors, unknown event types,
`PermanentError`) skip the retries. Then the ORIGINAL record (value bytes and key unchanged,
original headers kept) is published to `<group>.dlq` with `x-dlq-*` headers and the offset is
committed, so the partition moves on. If that publish fails, the error escapes after a backoff
and the broker's `NACK_ON_ERROR` policy seeks back: the message is re-read, never lost, and
never re-read in a hot loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import fast_depends
import pydantic
from faststream import BaseMiddleware
from faststream.exceptions import AckMessage, HandlerException

from kervan_contracts.topics import dlq_topic
from kervan_servicekit.errors import is_permanent
from kervan_servicekit.logging import redact_value
from kervan_servicekit.metrics import ServiceMetrics
from kervan_servicekit.retry import RetryPolicy

if TYPE_CHECKING:
    from faststream._internal.context.repository import ContextRepo
    from faststream.kafka import KafkaBroker
    from faststream.message import StreamMessage

logger = logging.getLogger("kervan.servicekit.dead_letter")

DLQ_HEADER_PREFIX = "x-dlq-"
MAX_ERROR_MESSAGE_CHARS = 512


def dead_letter_topic(group: str) -> str:
    """The dead-letter topic of a consumer group: `<group>.dlq`."""
    return dlq_topic(group).name


def describe_error(error: BaseException, limit: int = MAX_ERROR_MESSAGE_CHARS) -> str:
    """A short, secret-free description of `error` for a DLQ header.

    Validation errors are summarised by location and message only: their default text
    embeds the offending input, which may be anything the producer sent.
    """
    original = error.original_error if isinstance(error, fast_depends.ValidationError) else error
    if isinstance(original, pydantic.ValidationError):
        parts = [
            f"{'.'.join(str(loc) for loc in item['loc']) or '<root>'}: {item['msg']}"
            for item in original.errors(include_input=False, include_url=False)
        ]
        text = f"{original.error_count()} validation error(s): " + "; ".join(parts)
    else:
        text = str(original) or type(original).__name__
    text = " ".join(str(redact_value(text)).split())  # one line, URL passwords masked
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_dead_letter_headers(
    *,
    original_headers: Sequence[tuple[str, bytes | None]],
    error: BaseException,
    attempts: int,
    topic: str,
    partition: int,
    offset: int,
    group: str,
    failed_at: datetime,
) -> dict[str, str]:
    """Headers of a dead-lettered record: the original ones plus `x-dlq-*` describing the failure.

    `x-dlq-*` headers of an earlier dead-lettering (a DLQ record replayed and failed again)
    are replaced, not duplicated.
    """
    headers: dict[str, str] = {}
    for name, value in original_headers:
        if name.startswith(DLQ_HEADER_PREFIX):
            continue
        headers[name] = (value or b"").decode("utf-8", errors="replace")
    headers.update(
        {
            "x-dlq-error-type": f"{type(error).__module__}.{type(error).__qualname__}",
            "x-dlq-error-message": describe_error(error),
            "x-dlq-attempts": str(attempts),
            "x-dlq-original-topic": topic,
            "x-dlq-original-partition": str(partition),
            "x-dlq-original-offset": str(offset),
            "x-dlq-failed-at": failed_at.astimezone(UTC).isoformat(),
            "x-dlq-consumer-group": group,
        }
    )
    return headers


class DeadLetterPublisher(Protocol):
    """Publishes one record to a dead-letter topic and waits for the broker's confirm."""

    async def __call__(
        self, *, topic: str, key: bytes | None, value: bytes, headers: dict[str, str]
    ) -> None: ...


def broker_dead_letter_publisher(broker: KafkaBroker) -> DeadLetterPublisher:
    """A `DeadLetterPublisher` using the service's broker (its idempotent, acks=all producer)."""

    async def publish(
        *, topic: str, key: bytes | None, value: bytes, headers: dict[str, str]
    ) -> None:
        # Bytes are sent as they are: the DLQ holds exactly what the producer wrote.
        await broker.publish(value, topic, key=key, headers=headers)

    return publish


class DeadLetterPublishError(RuntimeError):
    """The dead-letter publish failed; the message will be re-read (NACK_ON_ERROR)."""


@dataclass(frozen=True, slots=True)
class _Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes | None]]


class RetryDeadLetterMiddleware:
    """Broker middleware factory: retry with backoff, then publish to `<group>.dlq`.

    Register it last among the broker middlewares so it wraps the handler directly (metrics
    and log context then see one message, not one per attempt). Call `bind(...)` with a
    publisher before the broker starts (`build_broker` does).
    """

    def __init__(
        self,
        *,
        policy: RetryPolicy,
        metrics: ServiceMetrics,
        default_group: str,
        publish_timeout: float = 15.0,
        extra_permanent_errors: tuple[type[BaseException], ...] = (),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.policy = policy
        self.metrics = metrics
        self.default_group = default_group
        self.publish_timeout = publish_timeout
        self.extra_permanent_errors = extra_permanent_errors
        self.sleep = sleep
        self.now = now
        self._publisher: DeadLetterPublisher | None = None

    def bind(self, publisher: DeadLetterPublisher) -> None:
        """Set how dead letters are published (usually `broker_dead_letter_publisher`)."""
        self._publisher = publisher

    def __call__(self, msg: Any, /, *, context: ContextRepo) -> _RetryDeadLetterScope:
        return _RetryDeadLetterScope(msg, context=context, owner=self)

    async def dead_letter(
        self, record: _Record, error: BaseException, attempts: int, group: str
    ) -> None:
        """Publish `record` to the group's DLQ; raise `DeadLetterPublishError` after a backoff."""
        dlq = dead_letter_topic(group)
        headers = build_dead_letter_headers(
            original_headers=record.headers,
            error=error,
            attempts=attempts,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            group=group,
            failed_at=self.now(),
        )
        reason = "validation" if is_permanent(error, self.extra_permanent_errors) else "exhausted"
        if self._publisher is None:
            raise RuntimeError("RetryDeadLetterMiddleware.bind() was never called")
        try:
            # aiokafka can wait forever for a confirm while Kafka is unreachable (aiokafka#1101).
            async with asyncio.timeout(self.publish_timeout):
                await self._publisher(
                    topic=dlq, key=record.key, value=record.value, headers=headers
                )
        except Exception as publish_error:
            self.metrics.dead_letter_failures.labels(topic=record.topic, group=group).inc()
            delay = self.policy.delay(self.policy.max_attempts)
            logger.error(  # noqa: TRY400 (the traceback may quote the record)
                "dead-letter publish failed; message will be re-read",
                extra={
                    "dlq_topic": dlq,
                    "error_type": type(publish_error).__name__,
                    "retry_in_seconds": round(delay, 3),
                },
            )
            await self.sleep(delay)
            raise DeadLetterPublishError(f"could not publish to {dlq}") from publish_error
        self.metrics.dead_lettered.labels(topic=record.topic, group=group, reason=reason).inc()
        logger.warning(
            "message dead-lettered",
            extra={
                "dlq_topic": dlq,
                "reason": reason,
                "attempts": attempts,
                "error_type": headers["x-dlq-error-type"],
                "error_message": headers["x-dlq-error-message"],
            },
        )


class _RetryDeadLetterScope(BaseMiddleware[Any, Any]):
    """Per-message part of `RetryDeadLetterMiddleware`."""

    def __init__(
        self, msg: Any, /, *, context: ContextRepo, owner: RetryDeadLetterMiddleware
    ) -> None:
        super().__init__(msg, context=context)
        self.owner = owner

    def _group(self) -> str:
        subscriber = self.context.get_local("handler_")
        group = getattr(subscriber, "group_id", None)
        return group if isinstance(group, str) and group else self.owner.default_group

    async def consume_scope(
        self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        raw = msg.raw_message
        if isinstance(raw, tuple):
            # Batch subscribers get no per-record retry/DLQ; they handle failures themselves.
            return await call_next(msg)
        owner = self.owner
        group = self._group()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call_next(msg)
            except HandlerException:
                raise  # the handler chose ack/nack/reject itself
            except Exception as error:
                permanent = is_permanent(error, owner.extra_permanent_errors)
                if permanent or attempt >= owner.policy.max_attempts:
                    record = _Record(
                        topic=raw.topic,
                        partition=raw.partition,
                        offset=raw.offset,
                        key=raw.key,
                        value=raw.value if raw.value is not None else b"",
                        headers=list(raw.headers or ()),
                    )
                    await owner.dead_letter(record, error, attempt, group)
                    # AckMessage commits the offset and, unlike returning None, does not make
                    # FastStream publish a reply to the subscriber's publishers.
                    raise AckMessage() from error
                delay = owner.policy.delay(attempt)
                owner.metrics.consumer_retries.labels(topic=raw.topic, group=group).inc()
                logger.warning(
                    "handler failed; retrying",
                    extra={
                        "attempt": attempt,
                        "max_attempts": owner.policy.max_attempts,
                        "retry_in_seconds": round(delay, 3),
                        "error_type": type(error).__name__,
                    },
                )
                await owner.sleep(delay)
