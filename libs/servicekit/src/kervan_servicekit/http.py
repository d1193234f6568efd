"""The REST conventions of every Kervan HTTP API (FastAPI).

Every refusal, whatever raised it, is the one body `{"error": {"code", "message", "details"}}`:
domain errors (mapped to a status by the service), `ApiError` (auth, body size, anything the
HTTP layer refuses), request validation, framework 404/405, and crashes (a 500 that says
nothing of the cause). `BodyLimitMiddleware` refuses oversized bodies before anything reads
them. Install both with `install_error_handlers(app, ...)` and
`app.add_middleware(BodyLimitMiddleware, max_bytes=...)`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kervan_servicekit.errors import CodedError

logger = logging.getLogger("kervan.servicekit.http")

RETRY_AFTER_SECONDS = 5
"""`Retry-After` of a 503 raised by the domain (a dependency such as Vault is down)."""

HTTP_ERROR_CODES: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
}
"""Codes of framework-raised HTTP errors; any other status reads `http_<status>`."""


class ErrorDetail(BaseModel):
    """What went wrong: a stable code, a message for humans, and structured details."""

    code: str = Field(description="Stable, machine-readable code.")
    message: str = Field(description="Explanation for a human.")
    details: dict[str, Any] = Field(description="Structured context (may be empty).")


class ErrorBody(BaseModel):
    """Every error response."""

    error: ErrorDetail


class ApiError(Exception):
    """An HTTP-level refusal (auth, body size, query rules) raised outside the domain."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.headers = dict(headers) if headers else None


def error_payload(code: str, message: str, details: Mapping[str, Any] | None = None) -> bytes:
    """The error body as JSON bytes (for ASGI code that answers without FastAPI)."""
    body = {"error": {"code": code, "message": message, "details": dict(details or {})}}
    return json.dumps(body).encode()


def error_response(
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The one error body as a response."""
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": dict(details or {})}},
        status_code=status,
        headers=dict(headers) if headers else None,
    )


def error_docs(statuses: Mapping[int, str] | Iterable[int]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting `ErrorBody` for each status.

    Pass a mapping to give each status its own description; a plain list of statuses gets
    the standard reason phrase.
    """
    described = (
        dict(statuses)
        if isinstance(statuses, Mapping)
        else {status: HTTPStatus(status).phrase for status in statuses}
    )
    return {status: {"model": ErrorBody, "description": text} for status, text in described.items()}


def _validation_details(exc: RequestValidationError) -> dict[str, Any]:
    # Locations and rule messages only: echoing the input back could reflect a secret.
    return {
        "errors": [
            {
                "loc": [str(part) for part in error.get("loc", ())],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
            for error in exc.errors()
        ]
    }


def status_of(exc: CodedError, statuses: Mapping[type[CodedError], int]) -> int:
    """The HTTP status of a coded error: its class's, else its nearest base's, else 400."""
    by_class = cast("Mapping[type, int]", statuses)
    return next((by_class[k] for k in type(exc).__mro__ if k in by_class), 400)


def install_error_handlers(
    app: FastAPI,
    statuses: Mapping[type[CodedError], int],
    *,
    domain_error: type[CodedError] = CodedError,
) -> None:
    """Map coded errors, `ApiError`, validation errors, HTTP errors and crashes onto the body.

    `statuses` maps a service's error classes to HTTP statuses (unmapped ones are 400s).
    A 503 from the domain also says `Retry-After`.
    """

    @app.exception_handler(domain_error)
    async def on_coded_error(_request: Request, exc: CodedError) -> JSONResponse:
        status = status_of(exc, statuses)
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
        return error_response(status, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(ApiError)
    async def on_api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(
            422, "validation_error", "the request is not valid", _validation_details(exc)
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_ERROR_CODES.get(exc.status_code, f"http_{exc.status_code}")
        try:
            phrase = HTTPStatus(exc.status_code).phrase
        except ValueError:
            phrase = "error"
        message = exc.detail if isinstance(exc.detail, str) else phrase
        return error_response(exc.status_code, code, message, headers=exc.headers)

    @app.exception_handler(Exception)
    async def on_crash(_request: Request, exc: Exception) -> JSONResponse:
        # The type only, no traceback: an exception's text or locals could carry a secret.
        logger.error("unhandled error", extra={"error_type": type(exc).__name__})
        return error_response(500, "internal_error", "the server failed; the error is logged")


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = error_payload(code, message)
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
    """Refuses bodies above `max_bytes` with 413, by Content-Length or while streaming.

    A malformed Content-Length is a 400. A chunked body is read up to the limit before the
    app sees it (then replayed), so the 413 is clean and nothing downstream buffers more.
    """

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
                await self.app(scope, replaying_receive([], incoming, receive), send)
                return
            chunk = incoming.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_error(send, 413, "body_too_large", message)
                return
            chunks.append(chunk)
            if not incoming.get("more_body", False):
                break
        await self.app(scope, replaying_receive(chunks, None, receive), send)


def replaying_receive(chunks: list[bytes], pending: Message | None, receive: Receive) -> Receive:
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
