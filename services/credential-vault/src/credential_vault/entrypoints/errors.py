"""Every error as `{"error": {"code", "message", "details"}}`, whatever raised it."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from credential_vault.domain import errors as domain

logger = logging.getLogger("credential_vault.api")

STATUS_OF: dict[type[domain.DomainError], int] = {
    domain.StoreNotFound: 404,
    domain.CredentialsNotSet: 404,
    domain.PlatformMismatch: 422,
    domain.InvalidCredentials: 422,
    domain.UnsupportedPlatform: 404,
    domain.InvalidOAuthState: 400,
    domain.OAuthExchangeFailed: 502,
    domain.SecretStoreUnavailable: 503,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    """An HTTP-level refusal (auth, body size) raised outside the domain."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The one error body."""
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details or {}}},
        status_code=status,
        headers=headers,
    )


def _validation_details(exc: RequestValidationError) -> dict[str, Any]:
    # Locations and rule messages only: echoing input back could reflect a secret.
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


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors, validation errors, HTTP errors and crashes onto the error body."""

    @app.exception_handler(domain.DomainError)
    async def on_domain_error(_request: Request, exc: domain.DomainError) -> JSONResponse:
        status = STATUS_OF.get(type(exc), 400)
        headers = {"Retry-After": "5"} if status == 503 else None
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
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        try:
            phrase = HTTPStatus(exc.status_code).phrase
        except ValueError:
            phrase = "error"
        message = exc.detail if isinstance(exc.detail, str) else phrase
        return error_response(
            exc.status_code, code, message, headers=dict(exc.headers) if exc.headers else None
        )

    @app.exception_handler(Exception)
    async def on_crash(_request: Request, exc: Exception) -> JSONResponse:
        # Type only: an exception text could carry a secret.
        logger.error("unhandled error", extra={"error_type": type(exc).__name__})
        return error_response(500, "internal_error", "the server failed; the error is logged")
