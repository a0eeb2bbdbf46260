"""/api/v1/auth: consumer-portal access, as Svix's API grants it.

One grant is two ``AccessToken`` rows sharing a ``grant_id``: a single-use magic link
(the secret travels in the URL's fragment, which never reaches server logs or a
Referer) and an ``appsk_`` API token, both scoped to one application until the grant
expires. Only their hashes are stored. ``expire-all`` ends every link, token and portal
session of the application (or of the named sessionIds)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import Field, StringConstraints

from hookline import ids
from hookline.access import ALL_CAPABILITIES, Capability, new_token, token_hash
from hookline.api.applications import AppRef, new_application
from hookline.api.auth import PORTAL_TOKEN_PREFIX
from hookline.api.context import Ctx, now_ms
from hookline.api.schemas import ApplicationIn, Schema
from hookline.api.strict_json import StrictJsonRoute
from hookline.errors import NotFound
from hookline.models import AccessKind, AccessToken, Application

router = APIRouter(prefix="/api/v1/auth", tags=["Authentication"], route_class=StrictJsonRoute)

SESSION_ID_PATTERN = r"^[a-zA-Z0-9@_-]+$"
SessionId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=SESSION_ID_PATTERN)
]
FeatureFlag = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=r"^[a-zA-Z0-9\-_.]+$")
]
HOUR_S, WEEK_S = 3600, 7 * 24 * 3600
LINK_PATH = "/portal/login#key="


class AppPortalAccessIn(Schema):
    application: ApplicationIn | None = None
    capabilities: list[Capability] | None = None
    read_only: bool | None = None
    expiry: Annotated[int, Field(ge=HOUR_S, le=WEEK_S)] | None = WEEK_S
    # accepted for Svix compatibility; this server has no feature flags to gate
    feature_flags: Annotated[list[FeatureFlag], Field(max_length=25)] | None = None
    session_id: SessionId | None = None


class AppPortalAccessOut(Schema):
    url: str
    token: str


class ApplicationTokenExpireIn(Schema):
    expiry: Annotated[int, Field(ge=0, le=259200)] | None = None
    session_ids: Annotated[list[SessionId], Field(max_length=1000)] | None = None


@router.post(
    "/app-portal-access/{app_id}",
    response_model=AppPortalAccessOut,
    operation_id="v1.authentication.app-portal-access",
)
async def app_portal_access(
    ctx: Ctx, app_id: AppRef, body: AppPortalAccessIn
) -> AppPortalAccessOut:
    """A magic link and an API token for one application's consumer portal."""
    app = await _find_or_create(ctx, app_id, body.application)
    capabilities = (
        ALL_CAPABILITIES
        if body.capabilities is None
        else frozenset(body.capabilities) | {Capability.VIEW_BASE}
    )
    return await grant(
        ctx,
        app,
        capabilities=capabilities,
        read_only=bool(body.read_only),
        expiry_s=body.expiry or WEEK_S,
        session_id=body.session_id,
    )


@router.post(
    "/dashboard-access/{app_id}",
    response_model=AppPortalAccessOut,
    operation_id="v1.authentication.dashboard-access",
    deprecated=True,
)
async def dashboard_access(ctx: Ctx, app_id: AppRef) -> AppPortalAccessOut:
    """Svix's older form of ``app-portal-access``: every capability, a week."""
    app = await ctx.store.get_application(app_id)
    return await grant(
        ctx, app, capabilities=ALL_CAPABILITIES, read_only=False, expiry_s=WEEK_S, session_id=None
    )


@router.post(
    "/app/{app_id}/expire-all", status_code=204, operation_id="v1.authentication.expire-all"
)
async def expire_all(ctx: Ctx, app_id: AppRef, body: ApplicationTokenExpireIn) -> Response:
    """Every link, token and portal session of the application (or of the named
    sessionIds) stops working ``expiry`` seconds from now."""
    app = await ctx.store.get_application(app_id)
    at = now_ms() + (body.expiry or 0) * 1000
    await ctx.store.expire_access_tokens(app.id, at, body.session_ids or None)
    return Response(status_code=204)


@router.post("/logout", status_code=204, operation_id="v1.authentication.logout")
async def logout(ctx: Ctx, request: Request) -> Response:
    """Ends the credential this request used (a portal token or a session); the admin
    token cannot be logged out, and the call does nothing for it."""
    hashed = getattr(request.state, "credential_hash", None)
    if isinstance(hashed, str):
        await ctx.store.delete_access_token(hashed)
    return Response(status_code=204)


async def _find_or_create(ctx: Ctx, ref: str, application: ApplicationIn | None) -> Application:
    try:
        return await ctx.store.get_application(ref)
    except NotFound:
        if application is None:
            raise
    created = new_application(application)
    if created.uid is None and not ref.startswith("app_"):
        created.uid = ref  # so the next call with the same path finds it
    return await ctx.store.create_application(created)


async def grant(
    ctx: Ctx,
    app: Application,
    *,
    capabilities: frozenset[Capability],
    read_only: bool,
    expiry_s: int,
    session_id: str | None,
) -> AppPortalAccessOut:
    now = now_ms()
    grant_id = ids.new_id("grant", now)
    link_key = new_token("key").removeprefix("key_")
    api_token = new_token(PORTAL_TOKEN_PREFIX.rstrip("_"))
    caps = sorted(c.value for c in capabilities)

    def row(kind: AccessKind, secret: str, prefix: str) -> AccessToken:
        return AccessToken(
            id=ids.new_id(prefix, now),
            kind=kind,
            token_hash=token_hash(secret),
            grant_id=grant_id,
            app_id=app.id,
            capabilities=caps,
            read_only=read_only,
            label=session_id,
            created_at=now,
            expires_at=now + expiry_s * 1000,
        )

    await ctx.store.create_access_tokens(
        [
            row(AccessKind.PORTAL_LINK, link_key, "plink"),
            row(AccessKind.PORTAL_TOKEN, api_token, "ptok"),
        ]
    )
    url = ctx.public_url.rstrip("/") + LINK_PATH + link_key
    return AppPortalAccessOut(url=url, token=api_token)
