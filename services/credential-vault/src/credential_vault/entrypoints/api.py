"""The HTTP API: credentials per store, checks, OAuth consent."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from credential_vault.app.services import CredentialService
from credential_vault.entrypoints.auth import Authenticator, Permission, Principal
from credential_vault.entrypoints.errors import ApiError, error_response, install_error_handlers
from credential_vault.entrypoints.schemas import (
    ApiStatusOut,
    ConsentStartOut,
    CredentialMetadataOut,
    CredentialsIn,
    ErrorOut,
)
from kervan_contracts.identifiers import IDENTIFIER_PATTERN, Platform

StoreId = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, max_length=64)]
_bearer = HTTPBearer(auto_error=False)
_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 413, 422, 502, 503)
}


def _service(request: Request) -> CredentialService:
    service: CredentialService = request.app.state.service
    return service


def _principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    authenticator: Authenticator = request.app.state.authenticator
    principal = authenticator.authenticate(credentials.credentials) if credentials else None
    if principal is None:
        raise ApiError(
            401,
            "unauthenticated",
            "a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def require(permission: Permission) -> object:
    """Dependency: the caller must hold `permission`."""

    def check(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if not principal.allows(permission):
            raise ApiError(403, "forbidden", "the token's role does not allow this")
        return principal

    return Depends(check)


Service = Annotated[CredentialService, Depends(_service)]
router = APIRouter(prefix="/v1", responses=_ERRORS)


@router.put("/stores/{store_id}/credentials", response_model=CredentialMetadataOut)
async def put_credentials(
    store_id: StoreId,
    body: CredentialsIn,
    service: Service,
    principal: Annotated[Principal, require(Permission.WRITE)],
) -> CredentialMetadataOut:
    """Store (replace) a store's credentials in Vault; admin only."""
    metadata = await service.put_credentials(store_id, body.platform, body.fields, principal.name)
    return CredentialMetadataOut.of(metadata)


@router.get("/stores/{store_id}/credentials", response_model=CredentialMetadataOut)
async def get_credentials(
    store_id: StoreId,
    service: Service,
    caller: Annotated[Principal, require(Permission.READ)],
) -> CredentialMetadataOut:
    """Metadata of a store's credentials; never a value."""
    return CredentialMetadataOut.of(await service.get_metadata(store_id))


@router.delete("/stores/{store_id}/credentials", status_code=204)
async def delete_credentials(
    store_id: StoreId,
    service: Service,
    principal: Annotated[Principal, require(Permission.WRITE)],
) -> Response:
    """Destroy a store's credentials (every version); admin only."""
    await service.delete_credentials(store_id, principal.name)
    return Response(status_code=204)


@router.post("/stores/{store_id}/credentials/test", response_model=ApiStatusOut)
async def test_credentials(
    store_id: StoreId,
    service: Service,
    caller: Annotated[Principal, require(Permission.TEST)],
) -> ApiStatusOut:
    """Check the credentials with the platform now (sandbox in test mode).

    Also the re-check request of order-ingest and catalog-sync after a 401/403 (role operator).
    """
    return ApiStatusOut.of(await service.test_credentials(store_id))


@router.get("/stores/{store_id}/api-status", response_model=ApiStatusOut)
async def get_api_status(
    store_id: StoreId,
    service: Service,
    caller: Annotated[Principal, require(Permission.READ)],
) -> ApiStatusOut:
    """Latest check result (`unknown` when never checked)."""
    return ApiStatusOut.of(await service.get_status(store_id))


@router.get("/oauth/{platform}/start", response_model=ConsentStartOut)
async def oauth_start(
    platform: Platform,
    store_id: Annotated[str, Query(pattern=IDENTIFIER_PATTERN, max_length=64)],
    service: Service,
    caller: Annotated[Principal, require(Permission.WRITE)],
) -> ConsentStartOut:
    """A consent URL with a signed single-use state (amazon_tr, ideasoft); admin only."""
    url = await service.oauth_start(platform, store_id)
    return ConsentStartOut(
        authorization_url=url, expires_in=int(service.oauth_state_ttl.total_seconds())
    )


@router.get("/oauth/{platform}/callback", response_model=CredentialMetadataOut)
async def oauth_callback(
    *,
    platform: Platform,
    service: Service,
    state: Annotated[str, Query(pattern=r"^[A-Za-z0-9_.-]{1,256}$")],
    code: Annotated[str | None, Query(min_length=1, max_length=2048)] = None,
    spapi_oauth_code: Annotated[str | None, Query(min_length=1, max_length=2048)] = None,
    selling_partner_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9]{1,64}$")] = None,
) -> CredentialMetadataOut:
    """Where the platform sends the seller back; the signed state authenticates the call."""
    auth_code = spapi_oauth_code if platform is Platform.AMAZON_TR else code
    if not auth_code:
        raise ApiError(400, "bad_request", "the authorisation code is missing")
    extra = {"selling_partner_id": selling_partner_id} if selling_partner_id else {}
    metadata = await service.oauth_callback(platform, state, auth_code, extra)
    return CredentialMetadataOut.of(metadata)


def create_api(service: CredentialService, authenticator: Authenticator, max_body: int) -> FastAPI:
    """The FastAPI app (no lifespan: bootstrap adds it)."""
    app = FastAPI(
        title="credential-vault",
        version="1",
        description="Marketplace credentials in Vault: metadata, checks and OAuth consent. "
        "Secret values go in, never out.",
    )
    app.state.service = service
    app.state.authenticator = authenticator
    install_error_handlers(app)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):  # type: ignore[no-untyped-def]
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body):
            return error_response(413, "body_too_large", "the request body is too large")
        return await call_next(request)

    app.include_router(router)
    return app
