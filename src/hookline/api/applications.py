"""/api/v1/app: applications, addressed by id or uid."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from hookline import ids
from hookline.api.context import Ctx, Paging, list_out, now_ms, to_datetime
from hookline.api.schemas import (
    ID_PATTERN,
    ApplicationIn,
    ApplicationOut,
    ApplicationPatch,
    ListApplicationOut,
)
from hookline.api.strict_json import StrictJsonRoute
from hookline.api.updates import reapply
from hookline.errors import NotFound
from hookline.models import Application

router = APIRouter(prefix="/api/v1/app", tags=["Application"], route_class=StrictJsonRoute)
AppRef = Annotated[str, Path(min_length=1, max_length=256, pattern=ID_PATTERN)]


def app_out(app: Application) -> ApplicationOut:
    return ApplicationOut(
        id=app.id,
        uid=app.uid,
        name=app.name,
        throttle_rate=app.rate_limit,
        rate_limit=app.rate_limit,
        metadata=app.metadata,
        created_at=to_datetime(app.created_at),
        updated_at=to_datetime(app.updated_at),
    )


def new_application(body: ApplicationIn) -> Application:
    now = now_ms()
    return Application(
        id=ids.new_id("app", now),
        uid=body.uid,
        name=body.name,
        rate_limit=body.throttle_rate,
        metadata=body.metadata or {},
        created_at=now,
        updated_at=now,
    )


@router.get("", response_model=ListApplicationOut)
async def list_applications(
    ctx: Ctx,
    page: Paging,
    exclude_apps_with_no_endpoints: Annotated[bool, Query()] = False,
) -> ListApplicationOut:
    result = await ctx.store.list_applications(page, with_endpoints=exclude_apps_with_no_endpoints)
    return list_out(ListApplicationOut, result, app_out)


@router.post("", status_code=201, response_model=ApplicationOut)
async def create_application(
    ctx: Ctx,
    body: ApplicationIn,
    response: Response,
    get_if_exists: Annotated[bool, Query()] = False,
) -> ApplicationOut:
    if get_if_exists and body.uid:
        try:
            existing = await ctx.store.get_application(body.uid)
        except NotFound:
            pass
        else:
            response.status_code = 200
            return app_out(existing)
    return app_out(await ctx.store.create_application(new_application(body)))


@router.get("/{app_id}", response_model=ApplicationOut)
async def get_application(ctx: Ctx, app_id: AppRef) -> ApplicationOut:
    return app_out(await ctx.store.get_application(app_id))


@router.put("/{app_id}", response_model=ApplicationOut)
async def upsert_application(
    ctx: Ctx, app_id: AppRef, body: ApplicationIn, response: Response
) -> ApplicationOut:
    try:
        app = await ctx.store.get_application(app_id)
    except NotFound:
        created = new_application(body)
        if created.uid is None and not app_id.startswith("app_"):
            created.uid = app_id
        response.status_code = 201
        return app_out(await ctx.store.create_application(created))

    def change(current: Application) -> None:
        # PUT by uid must keep the app reachable at that uid when the body omits it
        current.name, current.rate_limit = body.name, body.throttle_rate
        current.uid = body.uid if body.uid is not None else current.uid
        current.metadata = body.metadata or {}

    return app_out(await _update(ctx, app, change))


@router.patch("/{app_id}", response_model=ApplicationOut)
async def patch_application(ctx: Ctx, app_id: AppRef, body: ApplicationPatch) -> ApplicationOut:
    app = await ctx.store.get_application(app_id)
    sent = body.model_fields_set

    def change(current: Application) -> None:
        """Only the fields the request sent; a re-read keeps everyone else's changes."""
        if "name" in sent and body.name is not None:
            current.name = body.name
        if "uid" in sent:
            current.uid = body.uid
        if "throttle_rate" in sent:
            current.rate_limit = body.throttle_rate or None
        if "metadata" in sent:
            current.metadata = body.metadata or {}

    return app_out(await _update(ctx, app, change))


async def _update(
    ctx: Ctx, first: Application, change: Callable[[Application], None]
) -> Application:
    """Apply ``change`` and save, re-reading (by id) and re-applying it when a
    concurrent update moved the version."""

    async def read() -> Application:
        return await ctx.store.get_application(first.id)

    return await reapply(first, read, change, ctx.store.update_application)


@router.delete("/{app_id}", status_code=204)
async def delete_application(ctx: Ctx, app_id: AppRef) -> Response:
    app = await ctx.store.get_application(app_id)
    await ctx.store.delete_application(app.id)
    return Response(status_code=204)
