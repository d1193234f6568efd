"""The HTTP API: credentials per store, checks, OAuth consent."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response

from credential_vault.app.services import CredentialService
from credential_vault.domain.errors import DomainError
from credential_vault.entrypoints.auth import Permission, bearer
from credential_vault.entrypoints.errors import STATUS_OF
from credential_vault.entrypoints.schemas import (
    ApiStatusOut,
    ConsentStartOut,
    CredentialMetadataOut,
    CredentialsIn,
)
from kervan_contracts.identifiers import IDENTIFIER_PATTERN, Platform
from kervan_servicekit.auth import Authenticator, Principal
from kervan_servicekit.http import (
    ApiError,
    BodyLimitMiddleware,
    error_docs,
    install_error_handlers,
)

StoreId = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, max_length=64)]
_ERRORS = error_docs((400, 401, 403, 404, 413, 422, 502, 503))


def _service(request: Request) -> CredentialService:
    service: CredentialService = request.app.state.service
    return service


def require(permission: Permission) -> Any:
    """Dependency: the caller, who must hold `permission`."""
    return Depends(bearer.require(permission))


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
    install_error_handlers(app, STATUS_OF, domain_error=DomainError)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body)
    app.include_router(router)
    return app
