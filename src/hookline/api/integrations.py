"""/api/v1/app/{app_id}/integration: Svix's integrations, each a named key scoped to one
application (an ``AccessToken`` row of kind ``integration``).

The key (``integsk_…``) is returned when the integration is created (as ``key``, beside
Svix's ``IntegrationOut``) and by ``key/rotate``; only its hash is stored, so Svix's
deprecated ``GET …/key`` cannot be served. A rotation ends the old key at once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import Field, StringConstraints

from hookline import ids
from hookline.access import censored, new_token, token_hash
from hookline.api.applications import AppRef
from hookline.api.auth import INTEGRATION_KEY_PREFIX
from hookline.api.context import Ctx, Paging, list_out, now_ms, to_datetime
from hookline.api.schemas import ID_PATTERN, ListOut, Schema
from hookline.api.strict_json import StrictJsonRoute
from hookline.models import NEVER_MS, AccessKind, AccessToken

router = APIRouter(
    prefix="/api/v1/app/{app_id}/integration", tags=["Integration"], route_class=StrictJsonRoute
)

IntegRef = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
FeatureFlag = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=ID_PATTERN)]
FeatureFlags = Annotated[list[FeatureFlag], Field(min_length=1, max_length=25)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class IntegrationIn(Schema):
    name: Name
    feature_flags: FeatureFlags | None = None


class IntegrationOut(Schema):
    id: str
    name: str
    # left out when empty: Svix's schema wants at least one flag when the field is there
    feature_flags: list[str] = Field(default_factory=list, exclude_if=lambda flags: not flags)
    created_at: datetime
    updated_at: datetime


class IntegrationCreatedOut(IntegrationOut):
    key: str  # shown once


class IntegrationKeyOut(Schema):
    key: str


class ListIntegrationOut(ListOut):
    data: list[IntegrationOut]


def integration_out(row: AccessToken) -> IntegrationOut:
    return IntegrationOut(
        id=row.id,
        name=row.name or "",
        feature_flags=row.feature_flags or [],
        created_at=to_datetime(row.created_at),
        updated_at=to_datetime(row.updated_at or row.created_at),
    )


def _flags(given: list[str] | None) -> list[str] | None:
    return None if given is None else list(dict.fromkeys(given))  # a set, in given order


@router.get("", response_model=ListIntegrationOut, operation_id="v1.integration.list")
async def list_integrations(ctx: Ctx, app_id: AppRef, page: Paging) -> ListIntegrationOut:
    app = await ctx.store.get_application(app_id)
    result = await ctx.store.list_keys(AccessKind.INTEGRATION, app.id, page)
    return list_out(ListIntegrationOut, result, integration_out)


@router.post(
    "",
    status_code=201,
    response_model=IntegrationCreatedOut,
    operation_id="v1.integration.create",
)
async def create_integration(
    ctx: Ctx, app_id: AppRef, body: IntegrationIn
) -> IntegrationCreatedOut:
    app = await ctx.store.get_application(app_id)
    now = now_ms()
    key = new_token(INTEGRATION_KEY_PREFIX.rstrip("_"))
    row = AccessToken(
        id=ids.new_id("integ", now),
        kind=AccessKind.INTEGRATION,
        token_hash=token_hash(key),
        app_id=app.id,
        capabilities=[],
        read_only=False,
        created_at=now,
        expires_at=NEVER_MS,
        name=body.name,
        hint=censored(key),
        feature_flags=_flags(body.feature_flags),
        updated_at=now,
    )
    await ctx.store.create_access_tokens([row])
    return IntegrationCreatedOut(**integration_out(row).model_dump(), key=key)


@router.get("/{integ_id}", response_model=IntegrationOut, operation_id="v1.integration.get")
async def get_integration(ctx: Ctx, app_id: AppRef, integ_id: IntegRef) -> IntegrationOut:
    return integration_out(await _find(ctx, app_id, integ_id))


@router.put("/{integ_id}", response_model=IntegrationOut, operation_id="v1.integration.update")
async def update_integration(
    ctx: Ctx, app_id: AppRef, integ_id: IntegRef, body: IntegrationIn
) -> IntegrationOut:
    row = await _find(ctx, app_id, integ_id)
    row.name, row.feature_flags = body.name, _flags(body.feature_flags)
    row.updated_at = now_ms()
    return integration_out(await ctx.store.update_key(row))


@router.delete("/{integ_id}", status_code=204, operation_id="v1.integration.delete")
async def delete_integration(ctx: Ctx, app_id: AppRef, integ_id: IntegRef) -> Response:
    row = await _find(ctx, app_id, integ_id)
    await ctx.store.delete_key(AccessKind.INTEGRATION, row.id)
    return Response(status_code=204)


@router.post(
    "/{integ_id}/key/rotate",
    response_model=IntegrationKeyOut,
    operation_id="v1.integration.rotate-key",
)
async def rotate_integration_key(ctx: Ctx, app_id: AppRef, integ_id: IntegRef) -> IntegrationKeyOut:
    row = await _find(ctx, app_id, integ_id)
    key = new_token(INTEGRATION_KEY_PREFIX.rstrip("_"))
    row.token_hash, row.hint, row.updated_at = token_hash(key), censored(key), now_ms()
    await ctx.store.update_key(row)
    return IntegrationKeyOut(key=key)


async def _find(ctx: Ctx, app_ref: str, integ_id: str) -> AccessToken:
    app = await ctx.store.get_application(app_ref)
    return await ctx.store.get_key(AccessKind.INTEGRATION, integ_id, app.id)
