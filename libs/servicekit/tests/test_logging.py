"""JSON logs: one line per event, UTC timestamps, bound context, secrets masked."""

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import structlog

from kervan_servicekit.logging import (
    REDACTED,
    bound_log_context,
    configure_logging,
    get_logger,
    redact_value,
)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("order-ingest", "DEBUG", stream=stream)
    yield stream
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == "kervan-json":
            root.removeHandler(handler)
    structlog.reset_defaults()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_structlog_events_are_json_lines_with_service_and_utc_time(log_stream: io.StringIO) -> None:
    get_logger("test").info("order stored", store_id=7)
    (line,) = _lines(log_stream)
    assert line["event"] == "order stored"
    assert line["store_id"] == 7
    assert line["service"] == "order-ingest"
    assert line["level"] == "info"
    stamp = datetime.fromisoformat(str(line["timestamp"]))
    assert stamp.utcoffset() == timedelta(0)


def test_stdlib_library_logs_come_out_as_json_too(log_stream: io.StringIO) -> None:
    logging.getLogger("aiokafka.consumer").warning("heartbeat failed for %s", "group-x")
    (line,) = _lines(log_stream)
    assert line["event"] == "heartbeat failed for group-x"
    assert line["logger"] == "aiokafka.consumer"
    assert line["service"] == "order-ingest"


def test_context_is_bound_per_block_only(log_stream: io.StringIO) -> None:
    log = get_logger("test")
    with bound_log_context(correlation_id="c-1", event_id="e-1", partition=None):
        log.info("inside")
        logging.getLogger("lib").info("stdlib inside")
    log.info("outside")
    inside, stdlib_inside, outside = _lines(log_stream)
    assert inside["correlation_id"] == "c-1"
    assert inside["event_id"] == "e-1"
    assert "partition" not in inside
    assert stdlib_inside["correlation_id"] == "c-1"
    assert "correlation_id" not in outside


def test_a_nested_block_restores_the_outer_values(log_stream: io.StringIO) -> None:
    log = get_logger("test")
    with bound_log_context(correlation_id="outer", event_id="e-1"):
        with bound_log_context(correlation_id="inner"):
            log.info("nested")
        log.info("back")
    nested, back = _lines(log_stream)
    assert (nested["correlation_id"], nested["event_id"]) == ("inner", "e-1")
    assert (back["correlation_id"], back["event_id"]) == ("outer", "e-1")


def test_a_block_is_left_as_it_was_entered_when_its_body_raises(
    log_stream: io.StringIO,
) -> None:
    log = get_logger("test")
    with pytest.raises(RuntimeError), bound_log_context(correlation_id="c-1"):
        raise RuntimeError("boom")
    log.info("after")
    (after,) = _lines(log_stream)
    assert "correlation_id" not in after


def test_secrets_are_masked_in_fields_nested_values_extras_and_urls(
    log_stream: io.StringIO,
) -> None:
    log = get_logger("test")
    log.info(
        "calling marketplace",
        api_key="AK-123",
        request={"headers": {"Authorization": "Bearer abc"}, "params": {"page": 2}},
        dsn_hint="postgresql://kervan:s3cr3t@db/kervan",
    )
    logging.getLogger("lib").info("login", extra={"client_secret": "zzz", "user": "ali"})
    text = log_stream.getvalue()
    for secret in ("AK-123", "Bearer abc", "s3cr3t", "zzz"):
        assert secret not in text
    first, second = _lines(log_stream)
    assert first["api_key"] == REDACTED
    assert first["request"] == {"headers": {"Authorization": REDACTED}, "params": {"page": 2}}
    assert second["client_secret"] == REDACTED
    assert second["user"] == "ali"


def test_exception_text_is_redacted(log_stream: io.StringIO) -> None:
    error = ConnectionError("cannot connect to amqp://svc:pa55word@broker:5672")
    get_logger("test").error("connect failed", exc_info=error)
    text = log_stream.getvalue()
    assert "pa55word" not in text
    (line,) = _lines(log_stream)
    assert "amqp://svc:***@broker:5672" in str(line["exception"])


def test_redact_value_keeps_structure() -> None:
    value = {"items": [{"password": "x", "n": 1}], "token_count": 3, "name": "a"}
    assert redact_value(value) == {
        "items": [{"password": REDACTED, "n": 1}],
        "token_count": REDACTED,
        "name": "a",
    }
