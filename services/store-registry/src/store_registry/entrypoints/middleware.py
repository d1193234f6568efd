"""ASGI middleware: request body limit, correlation id, request metrics."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kervan_servicekit.logging import bound_log_context

CORRELATION_HEADER = "x-correlation-id"
_SAFE_CORRELATION = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuses bodies above `max_bytes` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count what actually arrives."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body larger than {self.max_bytes} bytes"
        declared: int | None = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_error(send, 400, "bad_request", "invalid Content-Length")
                    return
        if declared is not None:
            # The server enforces that the body matches its declared length.
            if declared > self.max_bytes:
                await _send_error(send, 413, "body_too_large", message)
                return
            await self.app(scope, receive, send)
            return
        # No length declared (chunked): read up to the limit first, then replay it. The
        # framework turns errors raised while it reads into 400s, so counting inside its
        # receive would not give a clean 413.
        chunks: list[bytes] = []
        size = 0
        while True:
            incoming = await receive()
            if incoming["type"] != "http.request":
                await self.app(scope, _replay([], incoming, receive), send)
                return
            chunk = incoming.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_error(send, 413, "body_too_large", message)
                return
            chunks.append(chunk)
            if not incoming.get("more_body", False):
                break
        await self.app(scope, _replay(chunks, None, receive), send)


def _replay(chunks: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    """A receive that first yields the buffered body (or a pending message), then delegates."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            if pending is not None:
                return pending
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        return await receive()

    return replay


class RequestContextMiddleware:
    """Correlation id per request (taken from `X-Correlation-ID` when sane), and metrics."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry, prefix: str) -> None:
        self.app = app
        self.requests = Counter(
            f"{prefix}_http_requests_total",
            "HTTP requests served, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            f"{prefix}_http_request_duration_seconds",
            "HTTP request duration, by method and route template.",
            ["method", "route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Bind the correlation id to logs and the scope; time the request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = next(
            (
                v.decode("latin-1")
                for k, v in scope.get("headers", ())
                if k == CORRELATION_HEADER.encode()
            ),
            "",
        )
        correlation_id = supplied if _SAFE_CORRELATION.match(supplied) else str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((CORRELATION_HEADER.encode(), correlation_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            with bound_log_context(correlation_id=correlation_id):
                await self.app(scope, receive, send_with_id)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.duration.labels(method, template).observe(time.perf_counter() - started)
            self.requests.labels(method, template, str(status)).inc()
