"""Where messages went (attempted messages and destinations), expunge, and precheck."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from hookline import ids
from hookline.api.applications import AppRef
from hookline.api.context import Ctx, NewestFirst, Paging, list_out, now_ms, to_datetime, to_ms
from hookline.api.endpoints import EpRef, endpoint_out
from hookline.api.messages import STATUS_TEXT, Channel, Ref, TagQuery, message_out, split_list
from hookline.api.recovery import task_out
from hookline.api.schemas import ID_PATTERN
from hookline.api.schemas_msgs import (
    BulkExpungeContentsIn,
    BulkExpungeContentsOut,
    BulkExpungeStatus,
    EndpointMessageOut,
    ListEndpointMessageOut,
    ListMessageEndpointOut,
    MessageEndpointOut,
    MessagePrecheckIn,
    MessagePrecheckOut,
)
from hookline.api.schemas_ops import TaskStartedOut
from hookline.api.strict_json import StrictJsonRoute
from hookline.models import (
    BackgroundTask,
    DeliveryStatus,
    Endpoint,
    Message,
    TaskKind,
    TaskParams,
    TaskStatus,
)
from hookline.store.base import Attempted, MessageFilter

router = APIRouter(prefix="/api/v1/app/{app_id}", route_class=StrictJsonRoute)
AttemptRef = Annotated[str, Path(min_length=1, max_length=256, pattern=ID_PATTERN)]


def _state(a: Attempted) -> dict[str, object]:
    return {
        "status": int(a.status),
        "status_text": STATUS_TEXT[int(a.status)],
        "next_attempt": None if a.next_attempt_at is None else to_datetime(a.next_attempt_at),
    }


def _endpoint_message(item: tuple[Message, Attempted], with_content: bool) -> EndpointMessageOut:
    msg, state = item
    base = message_out(msg, with_content).model_dump()
    return EndpointMessageOut.model_validate({**base, **_state(state)})


def _message_endpoint(item: tuple[Endpoint, Attempted]) -> MessageEndpointOut:
    ep, state = item
    return MessageEndpointOut.model_validate({**endpoint_out(ep).model_dump(), **_state(state)})


@router.get(
    "/endpoint/{endpoint_id}/msg",
    response_model=ListEndpointMessageOut,
    tags=["Message Attempt"],
)
async def list_attempted_messages(
    ctx: Ctx,
    app_id: AppRef,
    endpoint_id: EpRef,
    page: NewestFirst,
    channel: Channel = None,
    tag: TagQuery = None,
    status: Annotated[int | None, Query(ge=0, le=4)] = None,
    before: Annotated[datetime | None, Query()] = None,
    after: Annotated[datetime | None, Query()] = None,
    with_content: Annotated[bool, Query()] = True,
    event_types: Annotated[list[str] | None, Query()] = None,
) -> ListEndpointMessageOut:
    """The messages sent or being sent to the endpoint, newest first, each with its
    latest delivery's status and next attempt."""
    app = await ctx.store.get_application(app_id)
    ep = await ctx.store.get_endpoint(app.id, endpoint_id)
    flt = MessageFilter(
        event_types=split_list(event_types),
        channel=channel,
        before_ms=to_ms(before),
        after_ms=to_ms(after),
        tag=tag,
    )
    wanted = None if status is None else DeliveryStatus(status)
    result = await ctx.store.list_attempted_messages(app.id, ep.id, flt, wanted, page)
    return list_out(ListEndpointMessageOut, result, lambda i: _endpoint_message(i, with_content))


@router.get(
    "/msg/{msg_id}/endpoint", response_model=ListMessageEndpointOut, tags=["Message Attempt"]
)
async def list_attempted_destinations(
    ctx: Ctx, app_id: AppRef, msg_id: Ref, page: Paging
) -> ListMessageEndpointOut:
    """The endpoints the message went to, in endpoint id order, as Svix lists them."""
    app = await ctx.store.get_application(app_id)
    msg = await ctx.store.get_message(app.id, msg_id)
    result = await ctx.store.list_attempted_destinations(app.id, msg.id, page)
    return list_out(ListMessageEndpointOut, result, _message_endpoint)


@router.delete("/msg/{msg_id}/content", status_code=204, tags=["Message"])
async def expunge_content(ctx: Ctx, app_id: AppRef, msg_id: Ref) -> Response:
    """The payload goes for good; the message then reads with ``payload: {}``, as one past
    retention does, and cannot be resent. Deliveries still waiting are cancelled."""
    app = await ctx.store.get_application(app_id)
    await ctx.store.expunge_message(app.id, msg_id)
    return Response(status_code=204)


@router.delete(
    "/msg/{msg_id}/attempt/{attempt_id}/content", status_code=204, tags=["Message Attempt"]
)
async def expunge_attempt_content(
    ctx: Ctx, app_id: AppRef, msg_id: Ref, attempt_id: AttemptRef
) -> Response:
    """The attempt's response body goes; the attempt stays, with ``response: ""``."""
    app = await ctx.store.get_application(app_id)
    msg = await ctx.store.get_message(app.id, msg_id)
    await ctx.store.expunge_attempt_content(app.id, msg.id, attempt_id)
    return Response(status_code=204)


@router.post("/msg/bulk-expunge", response_model=BulkExpungeContentsOut, tags=["Message"])
async def bulk_expunge(
    ctx: Ctx, app_id: AppRef, body: BulkExpungeContentsIn
) -> BulkExpungeContentsOut:
    """Svix answers this one at once, per id: at most 1,000 ids, one transaction."""
    app = await ctx.store.get_application(app_id)
    found = await ctx.store.bulk_expunge(app.id, list(dict.fromkeys(body.ids)))
    expunged, missing = BulkExpungeStatus.EXPUNGED, BulkExpungeStatus.NOT_FOUND
    return BulkExpungeContentsOut(results={k: expunged if v else missing for k, v in found.items()})


@router.post(
    "/msg/expunge-all-contents", status_code=202, response_model=TaskStartedOut, tags=["Message"]
)
async def expunge_all_contents(ctx: Ctx, app_id: AppRef) -> TaskStartedOut:
    """A background task over the application's messages as they are now, in chunks;
    ``GET /api/v1/background-task/{id}`` shows ``messagesPurged``."""
    app = await ctx.store.get_application(app_id)
    now = now_ms()
    task = await ctx.store.create_task(
        BackgroundTask(
            id=ids.new_id("qtask", now),
            kind=TaskKind.PURGE_CONTENT,
            status=TaskStatus.RUNNING,
            app_id=app.id,
            endpoint_id=None,
            params=TaskParams(since_ms=0, until_ms=now + 1),
            created_at=now,
            updated_at=now,
        )
    )
    out = task_out(task)
    return TaskStartedOut(id=out.id, status=out.status, task=out.task, updated_at=out.updated_at)


@router.post("/msg/precheck/active", response_model=MessagePrecheckOut, tags=["Message"])
async def precheck(ctx: Ctx, app_id: AppRef, body: MessagePrecheckIn) -> MessagePrecheckOut:
    """Whether a message of this type and channels would reach an enabled endpoint."""
    app = await ctx.store.get_application(app_id)
    active = await ctx.store.has_active_endpoint(app.id, body.event_type, body.channels)
    return MessagePrecheckOut(active=active)
