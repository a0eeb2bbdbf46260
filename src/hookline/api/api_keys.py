"""/api/v1/auth/api-token: hookline's API keys, shaped like Svix's management API tokens;
and ``whoami``.

A key is an ``AccessToken`` row of kind ``api_key``: server-wide, or scoped to one
application (``appId``), with a name and an optional expiry. Only its SHA-256 hash and
a censored hint are stored, so the token is shown once, in the create response. A key
cannot be widened: its scope is fixed at creation. Expired or revoked keys answer 401.
Managing keys takes the admin token (``auth.TokenGate`` refuses every key here)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import Field, StringConstraints

from hookline import ids
from hookline.access import Scope, censored, new_token, token_hash
from hookline.api.auth import API_KEY_PREFIX
from hookline.api.context import Ctx, Paging, list_out, now_ms, to_datetime, to_ms
from hookline.api.errors import field_error
from hookline.api.schemas import ID_PATTERN, ListOut, Schema, Uid
from hookline.api.strict_json import StrictJsonRoute
from hookline.models import NEVER_MS, AccessKind, AccessToken

router = APIRouter(prefix="/api/v1/auth", tags=["Authentication"], route_class=StrictJsonRoute)

KeyRef = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
KeyName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
MAX_EXPIRE_DELAY_S = 259200  # Svix's ApiTokenExpireIn: at most three days of grace


class ApiTokenIn(Schema):
    name: KeyName
    app_id: Uid | None = None  # None: the whole server
    expires_at: datetime | None = None  # None: until revoked


class ApiTokenUpdate(Schema):
    name: KeyName


class ApiTokenPatch(Schema):
    name: KeyName | None = None


class ApiTokenExpireIn(Schema):
    expiry: Annotated[int, Field(ge=0, le=MAX_EXPIRE_DELAY_S)] | None = 0


class ApiTokenCensoredOut(Schema):
    id: str
    name: str | None
    censored_token: str
    created_at: datetime
    expires_at: datetime | None
    scopes: list[str] | None = None
    app_id: str | None
    last_used_at: datetime | None


class ApiTokenOut(ApiTokenCensoredOut):
    token: str


class ListApiTokenOut(ListOut):
    data: list[ApiTokenCensoredOut]


class WhoamiOut(Schema):
    env_id: str | None = None
    app_id: str | None
    permission_source: Literal["GlobalAuthToken", "RegionalAuthToken", "SvixJwt", "Unknown"]
    session_id: str | None = None


def key_out(key: AccessToken) -> ApiTokenCensoredOut:
    return ApiTokenCensoredOut(
        id=key.id,
        name=key.name,
        censored_token=key.hint or "",
        created_at=to_datetime(key.created_at),
        expires_at=None if key.expires_at >= NEVER_MS else to_datetime(key.expires_at),
        app_id=key.app_id,
        last_used_at=None if key.used_at is None else to_datetime(key.used_at),
    )


@router.get("/api-token", response_model=ListApiTokenOut)
async def list_api_tokens(ctx: Ctx, page: Paging) -> ListApiTokenOut:
    result = await ctx.store.list_keys(AccessKind.API_KEY, None, page)
    return list_out(ListApiTokenOut, result, key_out)


@router.post("/api-token", status_code=201, response_model=ApiTokenOut)
async def create_api_token(ctx: Ctx, body: ApiTokenIn) -> ApiTokenOut:
    """The token is in this response only; the store keeps its hash."""
    now = now_ms()
    expires = NEVER_MS if body.expires_at is None else to_ms(body.expires_at) or 0
    if expires <= now:
        raise field_error(["body", "expiresAt"], "must be in the future")
    app_id = None if body.app_id is None else (await ctx.store.get_application(body.app_id)).id
    token = new_token(API_KEY_PREFIX.rstrip("_"))
    key = AccessToken(
        id=ids.new_id("key", now),
        kind=AccessKind.API_KEY,
        token_hash=token_hash(token),
        app_id=app_id,
        capabilities=[],
        read_only=False,
        created_at=now,
        expires_at=expires,
        name=body.name,
        hint=censored(token),
        updated_at=now,
    )
    await ctx.store.create_access_tokens([key])
    return ApiTokenOut(**key_out(key).model_dump(), token=token)


@router.get("/api-token/{key_id}", response_model=ApiTokenCensoredOut)
async def get_api_token(ctx: Ctx, key_id: KeyRef) -> ApiTokenCensoredOut:
    return key_out(await ctx.store.get_key(AccessKind.API_KEY, key_id, None))


@router.put("/api-token/{key_id}", response_model=ApiTokenCensoredOut)
async def update_api_token(ctx: Ctx, key_id: KeyRef, body: ApiTokenUpdate) -> ApiTokenCensoredOut:
    return await _rename(ctx, key_id, body.name)


@router.patch("/api-token/{key_id}", response_model=ApiTokenCensoredOut)
async def patch_api_token(ctx: Ctx, key_id: KeyRef, body: ApiTokenPatch) -> ApiTokenCensoredOut:
    return await _rename(ctx, key_id, body.name)


async def _rename(ctx: Ctx, key_id: str, name: str | None) -> ApiTokenCensoredOut:
    key = await ctx.store.get_key(AccessKind.API_KEY, key_id, None)
    if name is not None:
        key.name, key.updated_at = name, now_ms()
        await ctx.store.update_key(key)
    return key_out(key)


@router.post("/api-token/{key_id}/expire", status_code=204)
async def expire_api_token(ctx: Ctx, key_id: KeyRef, body: ApiTokenExpireIn) -> Response:
    """Revokes the key ``expiry`` seconds from now (at once by default); it stays listed,
    expired, until maintenance purges it."""
    key = await ctx.store.get_key(AccessKind.API_KEY, key_id, None)
    now = now_ms()
    key.expires_at = min(key.expires_at, now + (body.expiry or 0) * 1000)
    key.updated_at = now
    await ctx.store.update_key(key)
    return Response(status_code=204)


@router.delete("/api-token/{key_id}", status_code=204)
async def delete_api_token(ctx: Ctx, key_id: KeyRef) -> Response:
    await ctx.store.delete_key(AccessKind.API_KEY, key_id)
    return Response(status_code=204)


@router.get("/whoami", response_model=WhoamiOut, operation_id="v1.authentication.whoami")
async def whoami(request: Request) -> WhoamiOut:
    """Who the request's credential is: the application it is limited to, if any."""
    access: Scope | None = getattr(request.state, "access", None)
    if access is None or access.key_id is not None or access.is_admin:
        return WhoamiOut(
            app_id=None if access is None else access.app_id, permission_source="GlobalAuthToken"
        )
    return WhoamiOut(app_id=access.app_id, permission_source="SvixJwt")  # a portal credential
