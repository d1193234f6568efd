"""Ops API (port 8083): ingest state per store, poll now, stored orders."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from kervan_contracts.identifiers import IDENTIFIER_PATTERN
from order_ingest.app.ports import UnitOfWorkFactory
from order_ingest.app.queries import UnknownStoreError, ingest_status, list_orders
from order_ingest.app.services import PollResult

PollNow = Callable[[str], Awaitable[PollResult]]
StoreId = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, max_length=64)]


def _error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details}}, status_code=status
    )


def build_router(uow: UnitOfWorkFactory, poll_now: PollNow) -> APIRouter:
    """The `/v1` routes."""
    router = APIRouter(prefix="/v1")

    @router.get("/stores/{store_id}/ingest")
    async def get_ingest(store_id: StoreId) -> Any:
        """Last poll, watermark, last error, counts, pending deductions."""
        try:
            status = await ingest_status(store_id, uow)
        except UnknownStoreError:
            return _error(404, "store_not_found", "order-ingest does not know this store")
        return dataclasses.asdict(status)

    @router.post("/stores/{store_id}/ingest/run")
    async def run_ingest(store_id: StoreId) -> Any:
        """Poll this store now and return the outcome (ineligible stores answer `skipped`)."""
        try:
            await ingest_status(store_id, uow)
        except UnknownStoreError:
            return _error(404, "store_not_found", "order-ingest does not know this store")
        return dataclasses.asdict(await poll_now(store_id))

    @router.get("/orders")
    async def get_orders(
        store_id: Annotated[str, Query(pattern=IDENTIFIER_PATTERN, max_length=64)],
        since: Annotated[datetime | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Any:
        """Orders first seen at or after `since`, oldest first."""
        if since is not None and since.tzinfo is None:
            return _error(400, "bad_request", "since must carry a timezone")
        return {"orders": await list_orders(store_id, since, limit, uow)}

    return router


def install_error_handlers(app: FastAPI) -> None:
    """Validation errors in the house format instead of FastAPI's default."""

    async def invalid(_request: Request, exc: Exception) -> JSONResponse:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in errors]
        return _error(400, "bad_request", "the request is invalid", details)

    app.add_exception_handler(RequestValidationError, invalid)
