"""DLQ headers and error classification (pure)."""

import json
from datetime import UTC, datetime, timedelta, timezone

import pydantic
import pytest

from kervan_contracts.asyncapi import DLQ_HEADERS
from kervan_contracts.errors import UnknownEventTypeError
from kervan_servicekit.dead_letter import (
    MAX_ERROR_MESSAGE_CHARS,
    build_dead_letter_headers,
    dead_letter_topic,
    describe_error,
)
from kervan_servicekit.errors import PermanentError, is_permanent


class _Payload(pydantic.BaseModel):
    store_id: int
    api_key: str


def _validation_error() -> pydantic.ValidationError:
    try:
        _Payload.model_validate({"store_id": "not-a-number", "api_key": 42})
    except pydantic.ValidationError as error:
        return error
    raise AssertionError("expected a validation error")


def test_headers_keep_the_original_ones_and_describe_the_failure() -> None:
    failed_at = datetime(2026, 3, 1, 15, 30, tzinfo=timezone(timedelta(hours=3)))
    headers = build_dead_letter_headers(
        original_headers=[("event_type", b"orders.order.received"), ("event_id", b"e-1")],
        error=RuntimeError("boom"),
        attempts=5,
        topic="kervan.orders.v1",
        partition=3,
        offset=41,
        group="catalog-sync",
        failed_at=failed_at,
    )
    assert headers == {
        "event_type": "orders.order.received",
        "event_id": "e-1",
        "x-dlq-error-type": "builtins.RuntimeError",
        "x-dlq-error-message": "boom",
        "x-dlq-attempts": "5",
        "x-dlq-original-topic": "kervan.orders.v1",
        "x-dlq-original-partition": "3",
        "x-dlq-original-offset": "41",
        "x-dlq-failed-at": "2026-03-01T12:30:00+00:00",
        "x-dlq-consumer-group": "catalog-sync",
    }


def test_a_replayed_dead_letter_gets_fresh_dlq_headers_not_duplicates() -> None:
    headers = build_dead_letter_headers(
        original_headers=[("x-dlq-attempts", b"5"), ("x-dlq-error-message", b"old"), ("k", None)],
        error=ValueError("new"),
        attempts=1,
        topic="t",
        partition=0,
        offset=0,
        group="g",
        failed_at=datetime.now(UTC),
    )
    assert headers["x-dlq-attempts"] == "1"
    assert headers["x-dlq-error-message"] == "new"
    assert headers["k"] == ""


def test_validation_errors_are_described_without_the_input_values() -> None:
    text = describe_error(_validation_error())
    assert text.startswith("2 validation error(s): ")
    assert "store_id" in text
    assert "api_key" in text
    assert "not-a-number" not in text
    assert "42" not in text


def test_error_messages_are_one_line_truncated_and_mask_url_passwords() -> None:
    text = describe_error(RuntimeError("cannot reach postgresql://kervan:hunter2@db:5432/x\nline2"))
    assert "hunter2" not in text
    assert "postgresql://kervan:***@db:5432/x line2" in text
    long_text = describe_error(RuntimeError("x" * 5000))
    assert len(long_text) == MAX_ERROR_MESSAGE_CHARS
    assert long_text.endswith("…")


def test_dead_letter_topic_is_group_dot_dlq() -> None:
    assert dead_letter_topic("catalog-sync") == "catalog-sync.dlq"


@pytest.mark.parametrize(
    "error",
    [
        json.JSONDecodeError("Expecting value", "", 0),
        _validation_error(),
        UnknownEventTypeError("nope.nope.nope v1"),
        PermanentError("will never work"),
    ],
)
def test_validation_errors_are_permanent(error: Exception) -> None:
    assert is_permanent(error)


def test_transient_errors_are_retried() -> None:
    assert not is_permanent(RuntimeError("db down"))
    assert not is_permanent(ConnectionError())
    assert is_permanent(RuntimeError("x"), extra=(RuntimeError,))


def _wrap(explicit: bool) -> Exception:
    try:
        try:
            raise _validation_error()
        except pydantic.ValidationError as error:
            if explicit:
                raise LookupError("wrapped") from error
            raise ConnectionError("db went away while logging")  # noqa: B904
    except (LookupError, ConnectionError) as outer:
        return outer


def test_explicit_cause_counts_but_mere_context_does_not() -> None:
    assert is_permanent(_wrap(explicit=True))
    assert not is_permanent(_wrap(explicit=False))


def test_the_asyncapi_documents_describe_exactly_the_dlq_headers_added() -> None:
    headers = build_dead_letter_headers(
        original_headers=[("event_id", b"e-1")],
        error=RuntimeError("boom"),
        attempts=1,
        topic="kervan.stores.v1",
        partition=0,
        offset=0,
        group="order-ingest",
        failed_at=datetime(2026, 3, 1, tzinfo=UTC),
    )

    assert set(headers) - {"event_id"} == set(DLQ_HEADERS)
