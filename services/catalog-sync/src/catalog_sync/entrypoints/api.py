"""HTTP API (port 8084): explain, preview, sync health, listing map (set or read)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from catalog_sync.app import queries
from catalog_sync.app.listings import import_listings
from catalog_sync.app.ports import MissingCredentialsError
from catalog_sync.app.pusher import PushContext, adapter_for
from catalog_sync.domain.catalog import ListingIdentity
from kervan_contracts.identifiers import Identifier, Sku


class PreviewRequest(BaseModel):
    """Which SKUs to preview (all the store could receive when omitted)."""

    skus: list[Sku] | None = Field(default=None, max_length=1000)
    limit: int = Field(default=500, ge=1, le=5000)


class ListingBody(BaseModel):
    """A SKU's identity on the store's platform."""

    barcode: str | None = Field(default=None, min_length=1, max_length=64)
    platform_sku: str | None = Field(default=None, min_length=1, max_length=128)
    product_id: str | None = Field(default=None, min_length=1, max_length=128)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": {}}}, status_code=status
    )


def install_error_handlers(app: FastAPI) -> None:
    """Domain errors → 4xx with the house error body."""

    async def unknown_store(_request: Request, exc: Exception) -> JSONResponse:
        return _error(404, queries.UnknownStoreError.code, f"no store {exc}")

    async def no_credentials(_request: Request, exc: Exception) -> JSONResponse:
        return _error(409, "missing_credentials", "the store has no credentials to read with")

    app.add_exception_handler(queries.UnknownStoreError, unknown_store)
    app.add_exception_handler(MissingCredentialsError, no_credentials)


def build_router(ctx: Callable[[], PushContext], wake: Callable[[], None]) -> APIRouter:
    """Routes over the push context (resolved per request: it exists once started)."""
    router = APIRouter(prefix="/v1")

    @router.get("/stores/{store_id}/skus/{sku}")
    async def explain(store_id: Identifier, sku: Sku) -> dict[str, Any]:
        """Why this store shows what it shows for this SKU."""
        return await queries.explain_sku(store_id, sku, ctx())

    @router.post("/stores/{store_id}/preview")
    async def preview(
        store_id: Identifier, body: Annotated[PreviewRequest | None, Body()] = None
    ) -> dict[str, Any]:
        """What would be pushed now, without sending it."""
        request = body or PreviewRequest()
        return await queries.preview(store_id, ctx(), request.skus, request.limit)

    @router.get("/stores/{store_id}/sync")
    async def sync(store_id: Identifier) -> dict[str, Any]:
        """The store's sync health."""
        return await queries.sync_health(store_id, ctx())

    @router.put("/stores/{store_id}/listings/{sku}")
    async def put_listing(store_id: Identifier, sku: Sku, body: ListingBody) -> dict[str, Any]:
        """Set how the platform knows this SKU; the SKU is queued for the store."""
        current = ctx()
        async with current.uow() as uow:
            if await uow.store(store_id) is None:
                raise queries.UnknownStoreError(store_id)
            identity = ListingIdentity(body.barcode, body.platform_sku, body.product_id)
            now = current.clock()
            await uow.save_listing(store_id, sku, identity, "api", now)
            await uow.mark_dirty(store_id, [sku], now)
            await uow.commit()
        wake()
        return {"store_id": store_id, "sku": sku, **body.model_dump()}

    @router.post("/stores/{store_id}/listings/import")
    async def import_store_listings(store_id: Identifier) -> dict[str, Any]:
        """Read the store's product list from the platform now and fill the listing map
        (values set through the API are kept); SKUs whose identity changed are queued."""
        current = ctx()
        async with current.uow() as uow:
            store, recorded = await uow.store_with_credentials(store_id)
        if store is None:
            raise queries.UnknownStoreError(store_id)
        built = await adapter_for(store, recorded, current)
        result = await import_listings(store, built.adapter, current)
        if result.changed:
            wake()
        return {
            "store_id": store_id,
            "outcome": result.outcome,
            "listings": result.listings,
            "changed": result.changed,
            "reason": result.reason,
        }

    return router
