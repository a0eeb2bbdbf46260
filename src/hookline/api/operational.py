"""/api/v1/operational-webhook/endpoint: where hookline reports on itself.

Operational endpoints are ordinary endpoint rows under the reserved application
``OPERATIONAL_APP_ID`` (which has no application row and no other route reaches), so
the engine fans its own events (``endpoint.disabled``, ``message.attempt.exhausted``,
...) out to them by their ``eventTypes`` filter and delivers them signed like any message.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from hookline.addresses import shown_url
from hookline.api.context import Ctx, DescendingPaging, list_out, to_datetime
from hookline.api.endpoint_urls import checked_url, kept_url
from hookline.api.endpoints import (
    EpRef,
    checked_headers,
    checked_secret,
    headers_out,
    new_endpoint,
    rotate_secret,
    update_endpoint,
    verifying_key,
)
from hookline.api.schemas import (
    EndpointHeadersIn,
    EndpointHeadersOut,
    EndpointSecretOut,
    EndpointSecretRotateIn,
    EndpointUpsertIn,
)
from hookline.api.schemas_ops import (
    ListOperationalEndpointOut,
    OperationalEndpointIn,
    OperationalEndpointOut,
    OperationalEndpointUpsertIn,
)
from hookline.api.strict_json import StrictJsonRoute
from hookline.errors import NotFound
from hookline.models import OPERATIONAL_APP_ID, Endpoint

router = APIRouter(
    prefix="/api/v1/operational-webhook/endpoint",
    tags=["Webhook Endpoint"],
    route_class=StrictJsonRoute,
)


def operational_out(ep: Endpoint) -> OperationalEndpointOut:
    return OperationalEndpointOut(
        id=ep.id,
        uid=ep.uid,
        url=shown_url(ep.url),
        description=ep.description,
        disabled=ep.disabled,
        event_types=ep.event_types,
        throttle_rate=ep.rate_limit,
        metadata=ep.metadata,
        created_at=to_datetime(ep.created_at),
        updated_at=to_datetime(ep.updated_at),
    )


def _new(
    ctx: Ctx, body: OperationalEndpointUpsertIn, secret: str, headers: dict[str, str]
) -> Endpoint:
    """Operational endpoints are ordinary endpoints with fewer fields."""
    fields = EndpointUpsertIn.model_validate(body.model_dump(exclude={"secret", "headers"}))
    return new_endpoint(OPERATIONAL_APP_ID, fields, secret, headers, ctx.address_policy)


async def _find(ctx: Ctx, ref: str) -> Endpoint:
    return await ctx.store.get_endpoint(OPERATIONAL_APP_ID, ref)


@router.get("", response_model=ListOperationalEndpointOut)
async def list_operational_endpoints(
    ctx: Ctx, page: DescendingPaging
) -> ListOperationalEndpointOut:
    result = await ctx.store.list_endpoints(OPERATIONAL_APP_ID, page)
    return list_out(ListOperationalEndpointOut, result, operational_out)


@router.post("", status_code=201, response_model=OperationalEndpointOut)
async def create_operational_endpoint(
    ctx: Ctx, body: OperationalEndpointIn
) -> OperationalEndpointOut:
    secret = checked_secret(body.secret, "secret") if body.secret else ctx.new_secret()
    created = await ctx.store.create_endpoint(_new(ctx, body, secret, body.headers or {}))
    return operational_out(created)


@router.get("/{endpoint_id}", response_model=OperationalEndpointOut)
async def get_operational_endpoint(ctx: Ctx, endpoint_id: EpRef) -> OperationalEndpointOut:
    return operational_out(await _find(ctx, endpoint_id))


@router.put(
    "/{endpoint_id}",
    response_model=OperationalEndpointOut,
    responses={
        201: {"model": OperationalEndpointOut, "description": "Created: the id named nothing yet"}
    },
)
async def upsert_operational_endpoint(
    ctx: Ctx, endpoint_id: EpRef, body: OperationalEndpointUpsertIn, response: Response
) -> OperationalEndpointOut:
    """Svix's upsert: replace the endpoint, or create it (201) under a uid-like path."""
    try:
        ep = await _find(ctx, endpoint_id)
    except NotFound:
        created = _new(ctx, body, ctx.new_secret(), {})
        if created.uid is None and not endpoint_id.startswith("ep_"):
            created.uid = endpoint_id
        response.status_code = 201
        return operational_out(await ctx.store.create_endpoint(created))
    url = checked_url(body.url, ctx.address_policy)

    def change(current: Endpoint) -> None:
        current.url = kept_url(url, current.url)
        current.description, current.disabled = body.description, body.disabled
        current.uid = body.uid if body.uid is not None else current.uid
        current.event_types, current.rate_limit = body.event_types, body.throttle_rate
        current.metadata = body.metadata or {}

    return operational_out(await update_endpoint(ctx, ep, change))


@router.delete("/{endpoint_id}", status_code=204)
async def delete_operational_endpoint(ctx: Ctx, endpoint_id: EpRef) -> Response:
    ep = await _find(ctx, endpoint_id)
    await ctx.store.delete_endpoint(OPERATIONAL_APP_ID, ep.id)
    return Response(status_code=204)


@router.get("/{endpoint_id}/secret", response_model=EndpointSecretOut)
async def get_operational_secret(ctx: Ctx, endpoint_id: EpRef) -> EndpointSecretOut:
    return EndpointSecretOut(key=verifying_key((await _find(ctx, endpoint_id)).secret))


@router.post("/{endpoint_id}/secret/rotate", status_code=204)
async def rotate_operational_secret(
    ctx: Ctx, endpoint_id: EpRef, body: EndpointSecretRotateIn
) -> Response:
    """204 as Svix's spec says (its SDK reads no body here, unlike the endpoint rotate)."""
    await rotate_secret(ctx, await _find(ctx, endpoint_id), body)
    return Response(status_code=204)


@router.get("/{endpoint_id}/headers", response_model=EndpointHeadersOut)
async def get_operational_headers(ctx: Ctx, endpoint_id: EpRef) -> EndpointHeadersOut:
    return headers_out((await _find(ctx, endpoint_id)).headers)


@router.put("/{endpoint_id}/headers", status_code=204)
async def set_operational_headers(
    ctx: Ctx, endpoint_id: EpRef, body: EndpointHeadersIn
) -> Response:
    ep = await _find(ctx, endpoint_id)
    headers = checked_headers(dict(body.headers))

    def change(current: Endpoint) -> None:
        current.headers = dict(headers)

    await update_endpoint(ctx, ep, change)
    return Response(status_code=204)
