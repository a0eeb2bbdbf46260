"""/api/v1/event-type: the catalogue of event types (archived rather than deleted)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from hookline.api.context import Ctx, Paging, list_out, now_ms, to_datetime
from hookline.api.schemas import (
    ID_PATTERN,
    EventTypeIn,
    EventTypeOut,
    EventTypePatch,
    EventTypeUpsertIn,
    ListEventTypeOut,
)
from hookline.api.schemas_catalog import RetryScheduleInOut
from hookline.api.strict_json import StrictJsonRoute
from hookline.errors import Conflict, NotFound
from hookline.models import EventType

router = APIRouter(prefix="/api/v1/event-type", tags=["Event Type"], route_class=StrictJsonRoute)
Name = Annotated[str, Path(min_length=1, max_length=256, pattern=ID_PATTERN)]


def event_type_out(et: EventType, with_schemas: bool = True) -> EventTypeOut:
    return EventTypeOut(
        name=et.name,
        description=et.description,
        archived=et.archived,
        deprecated=et.deprecated,
        schemas=et.schemas if with_schemas else None,
        feature_flag=et.feature_flag,
        feature_flags=et.feature_flags
        if et.feature_flags is not None or et.feature_flag is None
        else [et.feature_flag],
        group_name=et.group_name,
        created_at=to_datetime(et.created_at),
        updated_at=to_datetime(et.updated_at),
    )


@router.get("", response_model=ListEventTypeOut)
async def list_event_types(
    ctx: Ctx,
    page: Paging,
    include_archived: Annotated[bool, Query()] = False,
    with_content: Annotated[bool, Query()] = True,
) -> ListEventTypeOut:
    result = await ctx.store.list_event_types(page, include_archived)
    return list_out(ListEventTypeOut, result, lambda e: event_type_out(e, with_content))


@router.post("", status_code=201, response_model=EventTypeOut)
async def create_event_type(ctx: Ctx, body: EventTypeIn) -> EventTypeOut:
    """Creates, or brings an archived event type back (Svix's create-or-unarchive)."""
    now = now_ms()
    et = EventType(
        name=body.name,
        description=body.description,
        schemas=body.schemas,
        archived=body.archived,
        deprecated=body.deprecated,
        feature_flag=body.feature_flag,
        feature_flags=body.feature_flags,
        group_name=body.group_name,
        created_at=now,
        updated_at=now,
    )
    try:
        return event_type_out(await ctx.store.create_event_type(et))
    except Conflict:
        existing = await ctx.store.get_event_type(body.name)
        if not existing.archived:
            raise
        et.created_at = existing.created_at
        et.retry_schedule = existing.retry_schedule
        return event_type_out(await ctx.store.update_event_type(et))


@router.get("/{event_type_name}", response_model=EventTypeOut)
async def get_event_type(ctx: Ctx, event_type_name: Name) -> EventTypeOut:
    return event_type_out(await ctx.store.get_event_type(event_type_name))


@router.put("/{event_type_name}", response_model=EventTypeOut)
async def upsert_event_type(
    ctx: Ctx, event_type_name: Name, body: EventTypeUpsertIn, response: Response
) -> EventTypeOut:
    now = now_ms()
    try:
        existing = await ctx.store.get_event_type(event_type_name)
        created_at, schedule = existing.created_at, existing.retry_schedule
    except NotFound:
        created_at, schedule = now, None
        response.status_code = 201
    et = EventType(
        name=event_type_name,
        description=body.description,
        schemas=body.schemas,
        archived=body.archived,
        deprecated=body.deprecated,
        feature_flag=body.feature_flag,
        feature_flags=body.feature_flags,
        group_name=body.group_name,
        created_at=created_at,
        updated_at=now,
        retry_schedule=schedule,
    )
    return event_type_out(await ctx.store.update_event_type(et))


@router.patch("/{event_type_name}", response_model=EventTypeOut)
async def patch_event_type(ctx: Ctx, event_type_name: Name, body: EventTypePatch) -> EventTypeOut:
    et = await ctx.store.get_event_type(event_type_name)
    sent = body.model_fields_set
    if "description" in sent and body.description is not None:
        et.description = body.description
    if "archived" in sent and body.archived is not None:
        et.archived = body.archived
    if "deprecated" in sent and body.deprecated is not None:
        et.deprecated = body.deprecated
    if "schemas" in sent:
        et.schemas = body.schemas
    if "feature_flag" in sent:
        et.feature_flag = body.feature_flag
    if "feature_flags" in sent:
        et.feature_flags = body.feature_flags
    if "group_name" in sent:
        et.group_name = body.group_name
    et.updated_at = now_ms()
    return event_type_out(await ctx.store.update_event_type(et))


@router.delete("/{event_type_name}", status_code=204)
async def delete_event_type(
    ctx: Ctx, event_type_name: Name, expunge: Annotated[bool, Query()] = False
) -> Response:
    """Archives by default, as Svix does; ``expunge=true`` deletes for good."""
    et = await ctx.store.get_event_type(event_type_name)
    if expunge:
        await ctx.store.delete_event_type(et.name)
    else:
        et.archived = True
        et.updated_at = now_ms()
        await ctx.store.update_event_type(et)
    return Response(status_code=204)


@router.get("/{event_type_name}/retry-schedule", response_model=RetryScheduleInOut)
async def get_retry_schedule(ctx: Ctx, event_type_name: Name) -> RetryScheduleInOut:
    """The event type's own delays; null when its messages follow the server's."""
    et = await ctx.store.get_event_type(event_type_name)
    return RetryScheduleInOut.of(et.retry_schedule)


@router.put("/{event_type_name}/retry-schedule", response_model=RetryScheduleInOut)
async def set_retry_schedule(
    ctx: Ctx, event_type_name: Name, body: RetryScheduleInOut
) -> RetryScheduleInOut:
    """Counts for every delivery claimed from now on, retries already due included;
    null goes back to the server's schedule."""
    et = await ctx.store.get_event_type(event_type_name)
    et.retry_schedule = body.seconds()
    et.updated_at = now_ms()
    await ctx.store.update_event_type(et)
    return RetryScheduleInOut.of(et.retry_schedule)
