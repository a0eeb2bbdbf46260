"""/ingest/api/v1/source/{source}/endpoint: a source's endpoints.

They are the endpoints of the source's application, so every handler here finds the
source and hands over to the endpoint API's own handler: one set of checks (URLs, the
SSRF policy, secrets, headers) and one optimistic update path. The full endpoint API
under ``/api/v1/app/{appId}/endpoint`` works on them too, with every hookline extension.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from hookline.api import endpoints
from hookline.api.context import Ctx, DescendingPaging
from hookline.api.endpoints import EpRef
from hookline.api.ingest_schemas import TransformationPatchIn
from hookline.api.ingest_sources import PREFIX, NotSupported, SourceRef
from hookline.api.schemas import (
    EndpointHeadersIn,
    EndpointHeadersOut,
    EndpointIn,
    EndpointOut,
    EndpointSecretOut,
    EndpointSecretRotateIn,
    EndpointUpsertIn,
    ListEndpointOut,
)
from hookline.api.strict_json import StrictJsonRoute

router = APIRouter(
    prefix=PREFIX + "/{source_id}/endpoint",
    tags=["Ingest Endpoint"],
    route_class=StrictJsonRoute,
)
_NO_TRANSFORMATIONS = "hookline runs no transformations; use an endpoint filter or an action"


async def app_of(ctx: Ctx, source_id: str) -> str:
    return (await ctx.store.get_source(source_id)).app_id


@router.get("", response_model=ListEndpointOut)
async def list_endpoints(ctx: Ctx, source_id: SourceRef, page: DescendingPaging) -> ListEndpointOut:
    return await endpoints.list_endpoints(ctx, await app_of(ctx, source_id), page)


@router.post("", status_code=201, response_model=EndpointOut)
async def create_endpoint(ctx: Ctx, source_id: SourceRef, body: EndpointIn) -> EndpointOut:
    return await endpoints.create_endpoint(ctx, await app_of(ctx, source_id), body)


@router.get("/{endpoint_id}", response_model=EndpointOut)
async def get_endpoint(ctx: Ctx, source_id: SourceRef, endpoint_id: EpRef) -> EndpointOut:
    return await endpoints.get_endpoint(ctx, await app_of(ctx, source_id), endpoint_id)


@router.put(
    "/{endpoint_id}",
    response_model=EndpointOut,
    responses={201: {"model": EndpointOut, "description": "Created: the id named nothing yet"}},
)
async def upsert_endpoint(
    ctx: Ctx, source_id: SourceRef, endpoint_id: EpRef, body: EndpointUpsertIn, response: Response
) -> EndpointOut:
    app_id = await app_of(ctx, source_id)
    return await endpoints.upsert_endpoint(ctx, app_id, endpoint_id, body, response)


@router.delete("/{endpoint_id}", status_code=204)
async def delete_endpoint(ctx: Ctx, source_id: SourceRef, endpoint_id: EpRef) -> Response:
    return await endpoints.delete_endpoint(ctx, await app_of(ctx, source_id), endpoint_id)


@router.get("/{endpoint_id}/secret", response_model=EndpointSecretOut)
async def get_endpoint_secret(
    ctx: Ctx, source_id: SourceRef, endpoint_id: EpRef
) -> EndpointSecretOut:
    return await endpoints.get_endpoint_secret(ctx, await app_of(ctx, source_id), endpoint_id)


@router.post("/{endpoint_id}/secret/rotate", status_code=204)
async def rotate_endpoint_secret(
    ctx: Ctx, source_id: SourceRef, endpoint_id: EpRef, body: EndpointSecretRotateIn
) -> Response:
    """As Svix's Ingest API: 204; the new key is read with ``GET …/secret``."""
    app_id = await app_of(ctx, source_id)
    await endpoints.rotate_endpoint_secret(ctx, app_id, endpoint_id, body)
    return Response(status_code=204)


@router.get("/{endpoint_id}/headers", response_model=EndpointHeadersOut)
async def get_endpoint_headers(
    ctx: Ctx, source_id: SourceRef, endpoint_id: EpRef
) -> EndpointHeadersOut:
    return await endpoints.get_endpoint_headers(ctx, await app_of(ctx, source_id), endpoint_id)


@router.put("/{endpoint_id}/headers", status_code=204)
async def set_endpoint_headers(
    ctx: Ctx, source_id: SourceRef, endpoint_id: EpRef, body: EndpointHeadersIn
) -> Response:
    app_id = await app_of(ctx, source_id)
    return await endpoints.set_endpoint_headers(ctx, app_id, endpoint_id, body)


@router.get("/{endpoint_id}/transformation", include_in_schema=False)
async def get_transformation(ctx: Ctx, source_id: SourceRef, endpoint_id: EpRef) -> None:
    await endpoints.get_endpoint(ctx, await app_of(ctx, source_id), endpoint_id)
    raise NotSupported(_NO_TRANSFORMATIONS)


@router.patch("/{endpoint_id}/transformation", include_in_schema=False)
async def patch_transformation(
    ctx: Ctx, source_id: SourceRef, endpoint_id: EpRef, body: TransformationPatchIn
) -> None:
    await endpoints.get_endpoint(ctx, await app_of(ctx, source_id), endpoint_id)
    raise NotSupported(_NO_TRANSFORMATIONS)
