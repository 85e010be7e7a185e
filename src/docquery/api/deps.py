"""Dependencies of the routers, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from docquery.api.auth_gate import UNAUTHENTICATED_DETAIL, presented_key
from docquery.domain.principals import Principal
from docquery.errors import Unauthenticated
from docquery.ports import BlobStore, DocumentStore
from docquery.ports.search import SearchIndex
from docquery.wiring import Services

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_bearer = HTTPBearer(auto_error=False)


async def get_services(request: Request) -> Services:
    return cast(Services, request.state.services)


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_blob_store(services: ServicesDep) -> BlobStore:
    return services.blobs


async def get_document_store(services: ServicesDep) -> DocumentStore:
    return services.documents


async def get_search_index(services: ServicesDep) -> SearchIndex:
    return services.search_index


async def get_principal(
    request: Request,
    services: ServicesDep,
    # Read by the auth gate; declared here so the OpenAPI document names both schemes.
    _api_key: Annotated[str | None, Depends(_api_key_header)],
    _bearer_token: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, as the auth gate resolved it before the body was read; 401 otherwise."""
    resolved = getattr(request.state, "principal", None)
    if isinstance(resolved, Principal):
        return resolved
    principal = services.authenticator.authenticate(presented_key(request.headers))
    if principal is None:
        raise Unauthenticated(UNAUTHENTICATED_DETAIL)
    return principal


BlobStoreDep = Annotated[BlobStore, Depends(get_blob_store)]
DocumentStoreDep = Annotated[DocumentStore, Depends(get_document_store)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
SearchIndexDep = Annotated[SearchIndex, Depends(get_search_index)]
