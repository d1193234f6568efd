"""The REST API under `/v1` (FastAPI). Handlers are thin: HTTP in → command → use case → HTTP."""

# No `from __future__ import annotations`: FastAPI reads the Annotated dependencies at runtime.
import re
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.responses import Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.identifiers import IDENTIFIER_PATTERN, Platform
from kervan_contracts.stores.v1 import StoreStatus
from kervan_servicekit.auth import Authenticator, BearerAuth
from kervan_servicekit.health import HealthEndpoints
from kervan_servicekit.http import ApiError, BodyLimitMiddleware, error_docs, install_error_handlers
from store_registry import __version__
from store_registry.app import queries, services
from store_registry.app.commands import (
    Caller,
    ChangeOrderSettings,
    ChangeProductSettings,
    CreateStore,
    DeleteReference,
    DeleteStore,
    PutReference,
    SetStoreStatus,
    UpdateStore,
)
from store_registry.app.ports import StoreView, UnitOfWorkFactory
from store_registry.app.read_model import StoreReadModel
from store_registry.app.services import Collaborators
from store_registry.domain.access import PERMISSIONS, Permission
from store_registry.domain.errors import DomainError, PreconditionRequired
from store_registry.domain.references import ReferenceKind
from store_registry.entrypoints.errors import STATUS_OF
from store_registry.entrypoints.fast_reads import ReadYourWritesMiddleware, read_routes
from store_registry.entrypoints.fast_writes import SettingsTab, write_routes
from store_registry.entrypoints.middleware import RequestContextMiddleware
from store_registry.entrypoints.schemas import (
    AuditEntryOut,
    AuditPage,
    OrderSettingsBody,
    ProductSettingsBody,
    ReferenceBody,
    ReferenceOut,
    ReferencePage,
    StoreCreate,
    StoreOut,
    StorePage,
    StorePatch,
)

MAX_PAGE_SIZE = 100
"""Cap of `limit` on every listing."""
DEFAULT_PAGE_SIZE = 50

REFERENCE_PATHS: dict[ReferenceKind, tuple[str, str]] = {
    ReferenceKind.WAREHOUSE: ("warehouses", "warehouse"),
    ReferenceKind.PRICE_LIST: ("price-lists", "price list"),
    ReferenceKind.CARGO_COMPANY: ("cargo-companies", "cargo company"),
    ReferenceKind.CATEGORY: ("categories", "category"),
    ReferenceKind.BRAND: ("brands", "brand"),
}

_ETAG = re.compile(r'^\s*(?:W/)?"(?P<version>[1-9][0-9]{0,9})"\s*$')


@dataclass
class ApiDependencies:
    """What the HTTP layer needs (built by bootstrap, or by tests with fakes)."""

    uow: UnitOfWorkFactory
    env: Collaborators
    auth: Authenticator
    registry: CollectorRegistry
    max_body_bytes: int = 64 * 1024
    health: HealthEndpoints | None = None
    lifespan: Callable[[Any], AbstractAsyncContextManager[None]] | None = None
    metric_prefix: str = "kervan_store_registry"
    read_model: StoreReadModel | None = None
    """When set, GET of a store and the listing are answered from it (`fast_reads`)."""
    fast_writes: bool = True
    """PUT of a settings tab past FastAPI's routing (`fast_writes`); off: the route only."""


_READ_ERRORS = error_docs(
    {
        400: "Malformed request (e.g. a cursor this service did not issue).",
        401: "No or unknown bearer token.",
        403: "The token's role does not allow this.",
        404: "No such resource.",
        413: "Request body too large.",
        422: "The request does not validate.",
    }
)
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_READ_ERRORS,
    **error_docs(
        {
            409: "Conflicts with the current state (e.g. a reference item still in use).",
            412: "`If-Match` names a version that is no longer current.",
            428: "`If-Match` is required on this write.",
        }
    ),
}
_ETAG_HEADER = {
    "ETag": {"description": 'The store version, e.g. `"3"`.', "schema": {"type": "string"}}
}
_WITH_ETAG: dict[int | str, dict[str, Any]] = {200: {"headers": _ETAG_HEADER}}


_QUERY_NAMES: dict[int, frozenset[str]] = {}


def _query_names(route: APIRoute) -> frozenset[str]:
    names = _QUERY_NAMES.get(id(route))
    if names is None:
        found: set[str] = set()
        pending: list[Dependant] = [route.dependant]
        while pending:
            dependant = pending.pop()
            found.update(param.alias for param in dependant.query_params)
            pending.extend(dependant.dependencies)
        names = _QUERY_NAMES[id(route)] = frozenset(found)
    return names


def reject_unknown_query(request: Request) -> None:
    """A misspelt filter must not silently list everything: unknown query names are a 422."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    unknown = sorted(set(request.query_params) - _query_names(route))
    if unknown:
        raise ApiError(
            422,
            "validation_error",
            "the request is not valid",
            {
                "errors": [
                    {
                        "loc": ["query", name],
                        "msg": "unknown query parameter",
                        "type": "extra_forbidden",
                    }
                    for name in unknown
                ]
            },
        )


def _deps_of(request: Request) -> ApiDependencies:
    deps: ApiDependencies = request.app.state.deps
    return deps


_SCHEME_DESCRIPTION = "API token (roles: admin, operator, viewer)"
_scheme = HTTPBearer(auto_error=False, description=_SCHEME_DESCRIPTION)
_bearer = BearerAuth(
    PERMISSIONS,
    authenticator=lambda request: _deps_of(request).auth,
    description=_SCHEME_DESCRIPTION,
)


@dataclass(frozen=True, slots=True)
class Context:
    """What an operation gets from its one dependency: the caller and the service's parts."""

    caller: Caller
    deps: ApiDependencies


def _context(permission: Permission) -> Callable[..., Awaitable[Context]]:
    authorise = _bearer.require(permission)

    # One dependency per operation, doing the query check, authentication and lookups in
    # one go: FastAPI's dependency resolution costs about as much per dependency as a
    # database round trip, and every request pays it.
    async def context(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_scheme)],
    ) -> Context:
        reject_unknown_query(request)
        principal = await authorise(request, credentials)
        caller = Caller(principal.name, getattr(request.state, "correlation_id", None))
        return Context(caller, _deps_of(request))

    return context


Reader = Annotated[Context, Depends(_context(Permission.READ))]
SettingsWriter = Annotated[Context, Depends(_context(Permission.WRITE_SETTINGS))]
StoreAdmin = Annotated[Context, Depends(_context(Permission.MANAGE_STORES))]
ReferenceAdmin = Annotated[Context, Depends(_context(Permission.MANAGE_REFERENCES))]

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size (capped at 100).")]
Cursor = Annotated[
    str | None,
    Query(
        max_length=512,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="`next_cursor` of the previous page.",
    ),
]
StoreId = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, max_length=64)]
ItemId = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, max_length=64)]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description='ETag of the version read, e.g. `"3"`, or `*`.'),
]


def expected_version(if_match: str | None) -> int | None:
    """`If-Match` → the version a write expects (None for `*`); 428 when absent.

    Anything that is not one of our ETags cannot match, so it yields 0 (never a version) and
    the write fails with 412, as RFC 9110 says for a non-matching `If-Match`.
    """
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(
            "send If-Match with the ETag you read (or * to overwrite any version)"
        )
    if if_match.strip() == "*":
        return None
    match = _ETAG.match(if_match)
    return int(match["version"]) if match else 0


def _json(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Models are built from trusted domain values: serialise without re-validating them.
    return Response(
        model.model_dump_json(), status_code=status, media_type="application/json", headers=headers
    )


def _etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


def _store_response(view: StoreView, status: int = 200) -> Response:
    return _json(StoreOut.of(view), status, _etag(view.state.version))


stores = APIRouter(prefix="/v1", tags=["stores"])


@stores.post(
    "/stores",
    status_code=201,
    response_model=StoreOut,
    responses={**_WRITE_ERRORS, 201: {"headers": _ETAG_HEADER}},
    summary="Add a store",
)
async def create_store(body: StoreCreate, ctx: StoreAdmin) -> Response:
    """Add a store; settings start at defaults the platform accepts."""
    command = CreateStore(
        ctx.caller, body.title, body.platform, body.status, body.test_mode, body.store_url
    )
    view = await services.create_store(command, ctx.deps.uow(), ctx.deps.env)
    response = _store_response(view, 201)
    response.headers["Location"] = f"/v1/stores/{view.state.id}"
    return response


@stores.get(
    "/stores",
    response_model=StorePage,
    responses=_READ_ERRORS,
    summary="List stores (filters, cursor pagination)",
)
async def list_stores(
    *,
    ctx: Reader,
    platform: Platform | None = None,
    status: StoreStatus | None = None,
    api_status: ApiStatus | None = None,
    text: Annotated[
        str | None,
        Query(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$", description="Part of the title."),
    ] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    """Stores oldest first, with their API status."""
    page = await queries.list_stores(
        ctx.deps.uow(),
        limit=limit,
        cursor=cursor,
        platform=platform,
        status=status,
        api_status=api_status,
        text=text,
    )
    body = StorePage.model_construct(
        items=[StoreOut.of(v) for v in page.items], next_cursor=page.next_cursor
    )
    return _json(body)


@stores.get(
    "/stores/{store_id}",
    response_model=StoreOut,
    responses={**_READ_ERRORS, **_WITH_ETAG},
    summary="Get a store",
)
async def get_store(store_id: StoreId, ctx: Reader) -> Response:
    """One store; the ETag is its version."""
    return _store_response(await queries.get_store(ctx.deps.uow(read_only=True), store_id))


@stores.patch(
    "/stores/{store_id}",
    response_model=StoreOut,
    responses={**_WRITE_ERRORS, **_WITH_ETAG},
    summary="Change title, test mode or store URL",
)
async def patch_store(
    store_id: StoreId, body: StorePatch, ctx: StoreAdmin, if_match: IfMatch = None
) -> Response:
    """Partial update; emits StoreUpdated when something changed."""
    command = UpdateStore(
        ctx.caller,
        store_id,
        expected_version(if_match),
        title=body.title,
        test_mode=body.test_mode,
        store_url=body.store_url,
        store_url_given="store_url" in body.model_fields_set,
    )
    return _store_response(await services.update_store(command, ctx.deps.uow(), ctx.deps.env))


@stores.delete(
    "/stores/{store_id}",
    status_code=204,
    response_class=Response,
    responses=_WRITE_ERRORS,
    summary="Delete a store",
)
async def delete_store(store_id: StoreId, ctx: StoreAdmin, if_match: IfMatch = None) -> Response:
    """Delete; StoreDeleted then a tombstone go to the stores topic."""
    command = DeleteStore(ctx.caller, store_id, expected_version(if_match))
    await services.delete_store(command, ctx.deps.uow(), ctx.deps.env)
    return Response(status_code=204)


@stores.post(
    "/stores/{store_id}/activate",
    response_model=StoreOut,
    responses={**_WRITE_ERRORS, **_WITH_ETAG},
    summary="Make the store active",
)
async def activate_store(store_id: StoreId, ctx: StoreAdmin, if_match: IfMatch = None) -> Response:
    """Active: orders and products are integrated again."""
    command = SetStoreStatus(ctx.caller, store_id, expected_version(if_match), StoreStatus.ACTIVE)
    return _store_response(await services.set_store_status(command, ctx.deps.uow(), ctx.deps.env))


@stores.post(
    "/stores/{store_id}/deactivate",
    response_model=StoreOut,
    responses={**_WRITE_ERRORS, **_WITH_ETAG},
    summary="Make the store passive",
)
async def deactivate_store(
    store_id: StoreId, ctx: StoreAdmin, if_match: IfMatch = None
) -> Response:
    """Passive: neither orders nor products are integrated."""
    command = SetStoreStatus(ctx.caller, store_id, expected_version(if_match), StoreStatus.PASSIVE)
    return _store_response(await services.set_store_status(command, ctx.deps.uow(), ctx.deps.env))


@stores.get(
    "/stores/{store_id}/audit",
    response_model=AuditPage,
    responses=_READ_ERRORS,
    summary="Who changed what and when (newest first)",
)
async def store_audit(
    store_id: StoreId,
    ctx: Reader,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    """Audit entries with field-level diffs; kept after the store is deleted."""
    page = await queries.store_audit(
        ctx.deps.uow(read_only=True), store_id, limit=limit, cursor=cursor
    )
    body = AuditPage.model_construct(
        items=[AuditEntryOut.of(e) for e in page.items], next_cursor=page.next_cursor
    )
    return _json(body)


settings = APIRouter(prefix="/v1/stores/{store_id}/settings", tags=["settings"])


@settings.get(
    "/products",
    response_model=ProductSettingsBody,
    responses={**_READ_ERRORS, **_WITH_ETAG},
    summary="Products tab",
)
async def get_product_settings(store_id: StoreId, ctx: Reader) -> Response:
    """The Products tab; the ETag is the store version."""
    view = await queries.get_store(ctx.deps.uow(read_only=True), store_id)
    return _json(ProductSettingsBody.of(view.state.products), headers=_etag(view.state.version))


@settings.put(
    "/products",
    response_model=ProductSettingsBody,
    responses={**_WRITE_ERRORS, **_WITH_ETAG},
    summary="Replace the Products tab",
)
async def put_product_settings(
    store_id: StoreId,
    body: ProductSettingsBody,
    ctx: SettingsWriter,
    if_match: IfMatch = None,
) -> Response:
    """422 when an item does not exist or the platform cannot do what is asked."""
    command = ChangeProductSettings(
        ctx.caller, store_id, expected_version(if_match), body.to_domain()
    )
    view = await services.change_product_settings(command, ctx.deps.uow(), ctx.deps.env)
    return _json(ProductSettingsBody.of(view.state.products), headers=_etag(view.state.version))


@settings.get(
    "/orders",
    response_model=OrderSettingsBody,
    responses={**_READ_ERRORS, **_WITH_ETAG},
    summary="Orders tab",
)
async def get_order_settings(store_id: StoreId, ctx: Reader) -> Response:
    """The Orders tab; the ETag is the store version."""
    view = await queries.get_store(ctx.deps.uow(read_only=True), store_id)
    return _json(OrderSettingsBody.of(view.state.orders), headers=_etag(view.state.version))


@settings.put(
    "/orders",
    response_model=OrderSettingsBody,
    responses={**_WRITE_ERRORS, **_WITH_ETAG},
    summary="Replace the Orders tab",
)
async def put_order_settings(
    store_id: StoreId,
    body: OrderSettingsBody,
    ctx: SettingsWriter,
    if_match: IfMatch = None,
) -> Response:
    """422 when a warehouse or cargo company does not exist."""
    command = ChangeOrderSettings(
        ctx.caller, store_id, expected_version(if_match), body.to_domain()
    )
    view = await services.change_order_settings(command, ctx.deps.uow(), ctx.deps.env)
    return _json(OrderSettingsBody.of(view.state.orders), headers=_etag(view.state.version))


def _reference_router(kind: ReferenceKind, path: str, label: str) -> APIRouter:
    """GET list, GET one, PUT (create or rename) and DELETE of one reference list."""
    router = APIRouter(prefix=f"/v1/{path}", tags=["reference lists"])
    name = kind.value

    @router.get(
        "",
        response_model=ReferencePage,
        responses=_READ_ERRORS,
        summary=f"List {label} items",
        operation_id=f"list_{name}_items",
    )
    async def list_items(
        ctx: Reader, limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None
    ) -> Response:
        page = await queries.list_references(
            ctx.deps.uow(read_only=True), kind, limit=limit, cursor=cursor
        )
        body = ReferencePage.model_construct(
            items=[ReferenceOut.of(i) for i in page.items], next_cursor=page.next_cursor
        )
        return _json(body)

    @router.get(
        "/{item_id}",
        response_model=ReferenceOut,
        responses=_READ_ERRORS,
        summary=f"Get a {label}",
        operation_id=f"get_{name}",
    )
    async def get_item(item_id: ItemId, ctx: Reader) -> Response:
        return _json(
            ReferenceOut.of(
                await queries.get_reference(ctx.deps.uow(read_only=True), kind, item_id)
            )
        )

    @router.put(
        "/{item_id}",
        response_model=ReferenceOut,
        responses={**_WRITE_ERRORS, 201: {"model": ReferenceOut, "description": "Created."}},
        summary=f"Create or rename a {label}",
        operation_id=f"put_{name}",
    )
    async def put_item(item_id: ItemId, body: ReferenceBody, ctx: ReferenceAdmin) -> Response:
        command = PutReference(ctx.caller, kind, item_id, body.name)
        created = await services.put_reference(command, ctx.deps.uow(), ctx.deps.env)
        item = await queries.get_reference(ctx.deps.uow(read_only=True), kind, item_id)
        return _json(ReferenceOut.of(item), 201 if created else 200)

    @router.delete(
        "/{item_id}",
        status_code=204,
        response_class=Response,
        responses=_WRITE_ERRORS,
        summary=f"Delete a {label} (409 while a store uses it)",
        operation_id=f"delete_{name}",
    )
    async def delete_item(item_id: ItemId, ctx: ReferenceAdmin) -> Response:
        await services.delete_reference(
            DeleteReference(ctx.caller, kind, item_id), ctx.deps.uow(), ctx.deps.env
        )
        return Response(status_code=204)

    return router


def _route_of(endpoint: Callable[..., Any], router: APIRouter = stores) -> APIRoute:
    return next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is endpoint)


def _settings_tab(
    endpoint: Callable[..., Any],
    body: Any,
    command: Callable[..., Any],
    use_case: Callable[..., Any],
    tab: Callable[[StoreView], Any],
) -> tuple[APIRoute, SettingsTab]:
    """A route's fast twin: its body model, its command, its use case, its rendering."""
    return (
        _route_of(endpoint, settings),
        SettingsTab(
            body=body,
            command=lambda caller, store_id, version, given: command(
                caller, store_id, version, given.to_domain()
            ),
            use_case=use_case,
            render=lambda view: body.of(tab(view)).model_dump_json().encode(),
        ),
    )


def _settings_tabs() -> list[tuple[APIRoute, SettingsTab]]:
    """What the fast PUT of each settings tab does: exactly what its route does."""
    return [
        _settings_tab(
            put_order_settings,
            OrderSettingsBody,
            ChangeOrderSettings,
            services.change_order_settings,
            lambda view: view.state.orders,
        ),
        _settings_tab(
            put_product_settings,
            ProductSettingsBody,
            ChangeProductSettings,
            services.change_product_settings,
            lambda view: view.state.products,
        ),
    ]


def render_store(view: StoreView) -> bytes:
    """A store's JSON as GET of the store renders it (what the read model keeps)."""
    return StoreOut.of(view).model_dump_json().encode()


def create_app(deps: ApiDependencies) -> FastAPI:
    """The ASGI app: API routes, error handlers, health and metrics, middleware."""
    app = FastAPI(
        title="Kervan store-registry",
        version=__version__,
        description=(
            "Stores, their settings, the reference lists settings point to, the API status "
            "column and the audit log. Every change is published to `kervan.stores.v1`. "
            "Writes to a store need `If-Match` (the ETag of the version read; 428 without, "
            '412 when stale). Errors are `{"error": {"code", "message", "details"}}`.'
        ),
        lifespan=deps.lifespan,
        docs_url="/docs",
        redoc_url=None,
        # FastAPI's built-in OpenTelemetry hooks: the service reports through Prometheus and
        # its logs, and configures no OpenTelemetry provider, yet the hooks asked on every
        # request whether one had appeared (environment lookups, ~2 % of a settings write).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.deps = deps
    install_error_handlers(app, STATUS_OF, domain_error=DomainError)
    # The routers' routes are added as they are (their paths carry the prefix, their
    # dependencies the query check): an included router is re-resolved on every request
    # (FastAPI walks every included router to see whether its routes changed), a measurable
    # share of a GET.
    routers = [stores, settings]
    routers += [
        _reference_router(kind, path, label) for kind, (path, label) in REFERENCE_PATHS.items()
    ]
    for router in routers:
        app.router.routes.extend(router.routes)
    if deps.health is not None:
        app.router.routes.extend(deps.health.starlette_routes())
    if deps.read_model is not None:
        fast = read_routes(
            deps.read_model,
            deps.auth,
            get_route=_route_of(get_store),
            list_route=_route_of(list_stores),
            max_page=MAX_PAGE_SIZE,
        )
        app.router.routes[:0] = fast
        app.add_middleware(ReadYourWritesMiddleware, model=deps.read_model)
    if deps.fast_writes:
        app.router.routes[:0] = write_routes(
            _settings_tabs(),
            auth=deps.auth,
            uow=deps.uow,
            env=deps.env,
            expected_version=expected_version,
        )
    app.add_middleware(RequestContextMiddleware, registry=deps.registry, prefix=deps.metric_prefix)
    app.add_middleware(BodyLimitMiddleware, max_bytes=deps.max_body_bytes)
    return app
