"""The one error body, whatever refuses the request, and the request body limit."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from kervan_servicekit.errors import CodedError
from kervan_servicekit.http import (
    ApiError,
    BodyLimitMiddleware,
    ErrorBody,
    error_docs,
    install_error_handlers,
)

MAX_BODY = 1024


class _DomainError(CodedError):
    pass


class _MissingError(_DomainError):
    code = "thing_missing"


class _MissingPartError(_MissingError):
    code = "part_missing"


class _UnavailableError(_DomainError):
    code = "store_unavailable"


class _UnmappedError(_DomainError):
    code = "unmapped"


class _Body(BaseModel):
    name: str


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(
        app, {_MissingError: 404, _UnavailableError: 503}, domain_error=_DomainError
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY)

    @app.get("/missing")
    async def missing() -> None:
        raise _MissingError("no such thing", {"id": "t1"})

    @app.get("/missing-part")
    async def missing_part() -> None:
        raise _MissingPartError("no such part")

    @app.get("/unavailable")
    async def unavailable() -> None:
        raise _UnavailableError("try later")

    @app.get("/unmapped")
    async def unmapped() -> None:
        raise _UnmappedError("refused")

    @app.get("/api-error")
    async def api_error() -> None:
        raise ApiError(401, "unauthenticated", "who?", None, {"WWW-Authenticate": "Bearer"})

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("password=hunter2 leaked into an error text")

    @app.post("/echo", responses=error_docs((413, 422)))
    async def echo(body: _Body) -> dict[str, str]:
        return {"name": body.name}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


def _error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    ErrorBody.model_validate(body)
    error: dict[str, object] = body["error"]
    return error


async def test_domain_errors_map_by_class_then_by_nearest_base(
    client: httpx.AsyncClient,
) -> None:
    error = _error(await client.get("/missing"), 404, "thing_missing")
    assert error["message"] == "no such thing"
    assert error["details"] == {"id": "t1"}
    _error(await client.get("/missing-part"), 404, "part_missing")
    _error(await client.get("/unmapped"), 400, "unmapped")


async def test_a_domain_503_says_when_to_retry(client: httpx.AsyncClient) -> None:
    response = await client.get("/unavailable")
    _error(response, 503, "store_unavailable")
    assert response.headers["retry-after"] == "5"
    assert "retry-after" not in (await client.get("/missing")).headers


async def test_api_errors_keep_their_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/api-error")
    _error(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_framework_errors_use_the_body(client: httpx.AsyncClient) -> None:
    _error(await client.get("/nowhere"), 404, "not_found")
    _error(await client.delete("/missing"), 405, "method_not_allowed")
    malformed = await client.post(
        "/echo", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    _error(malformed, 422, "validation_error")


async def test_validation_details_never_echo_the_input(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", json={"name": 12345678, "other": "s3cr3t-value"})
    error = _error(response, 422, "validation_error")
    assert "12345678" not in response.text
    assert "s3cr3t-value" not in response.text
    details = error["details"]
    assert isinstance(details, dict)
    assert [e["loc"] for e in details["errors"]] == [["body", "name"]]


async def test_a_crash_is_a_500_that_logs_the_type_only(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await client.get("/crash")
    error = _error(response, 500, "internal_error")
    assert "hunter2" not in response.text
    assert error["details"] == {}
    records = [r for r in caplog.records if r.name == "kervan.servicekit.http"]
    assert [getattr(r, "error_type", None) for r in records] == ["RuntimeError"]
    for record in records:
        assert record.exc_info is None
        assert "hunter2" not in record.getMessage()


async def test_body_limit_by_declared_length(client: httpx.AsyncClient) -> None:
    ok = await client.post("/echo", json={"name": "x" * (MAX_BODY - 20)})
    assert ok.status_code == 200
    big = await client.post("/echo", json={"name": "x" * MAX_BODY})
    error = _error(big, 413, "body_too_large")
    assert error["message"] == f"request body larger than {MAX_BODY} bytes"


async def test_body_limit_while_streaming(client: httpx.AsyncClient) -> None:
    async def chunks(total: int) -> AsyncIterator[bytes]:
        body = b'{"name": "' + b"x" * total + b'"}'
        for i in range(0, len(body), 100):
            yield body[i : i + 100]

    headers = {"Content-Type": "application/json"}
    refused = await client.post("/echo", content=chunks(MAX_BODY), headers=headers)
    _error(refused, 413, "body_too_large")
    accepted = await client.post("/echo", content=chunks(500), headers=headers)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"name": "x" * 500}


async def test_a_malformed_content_length_is_a_400() -> None:
    sent: list[dict[str, object]] = []

    async def never_called(*_args: object) -> None:
        raise AssertionError("the app must not see this request")

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    middleware = BodyLimitMiddleware(never_called, max_bytes=MAX_BODY)
    scope = {"type": "http", "method": "POST", "headers": [(b"content-length", b"12abc")]}
    await middleware(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 400
    assert b'"bad_request"' in sent[1]["body"]  # type: ignore[operator]


def test_error_docs_document_the_body_per_status() -> None:
    assert error_docs({409: "Conflict here."}) == {
        409: {"model": ErrorBody, "description": "Conflict here."}
    }
    assert error_docs((404, 503)) == {
        404: {"model": ErrorBody, "description": "Not Found"},
        503: {"model": ErrorBody, "description": "Service Unavailable"},
    }
    app = _app()
    responses = app.openapi()["paths"]["/echo"]["post"]["responses"]
    assert responses["413"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    detail = app.openapi()["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"code", "message", "details"}
