"""ASGI middleware: correlation id and request metrics (the body limit is servicekit's)."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kervan_servicekit.logging import bound_log_context

CORRELATION_HEADER = "x-correlation-id"
_SAFE_CORRELATION = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


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
