"""/api/v1/app/{app}/msg and the attempt log: publish, read back, resend."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.types import Scope

from hookline import ids
from hookline.addresses import shown_url
from hookline.api.applications import AppRef, new_application
from hookline.api.context import ApiContext, Ctx, NewestFirst, list_out, now_ms, to_datetime, to_ms
from hookline.api.errors import field_error
from hookline.api.idempotency import idempotency_key, replayed_response
from hookline.api.schemas import (
    CHANNEL_PATTERN,
    ID_PATTERN,
    TAG_PATTERN,
    EmptyOut,
    ListMessageAttemptOut,
    ListMessageOut,
    MessageAttemptOut,
    MessageIn,
    MessageOut,
)
from hookline.api.schemas_ops import StatusCodeClass
from hookline.api.strict_json import StrictJsonRoute
from hookline.errors import ApiError, Conflict, NotFound, PayloadTooLarge
from hookline.models import (
    POLLING_REFUSED,
    Application,
    Attempt,
    DeliveryStatus,
    Message,
    Page,
    is_polling,
)
from hookline.store.base import AttemptFilter, MessageFilter, PublishKey, PublishOutcome

router = APIRouter(prefix="/api/v1/app/{app_id}", tags=["Message"], route_class=StrictJsonRoute)
Ref = Annotated[str, Path(min_length=1, max_length=256, pattern=ID_PATTERN)]
WithContent = Annotated[bool, Query()]
Channel = Annotated[str | None, Query(max_length=128, pattern=CHANNEL_PATTERN)]
TagQuery = Annotated[str | None, Query(max_length=128, pattern=TAG_PATTERN)]
STATUS_TEXT = {0: "success", 1: "pending", 2: "fail", 3: "sending", 4: "canceled"}


def message_out(msg: Message, with_content: bool = True) -> MessageOut:
    payload: dict[str, Any] = {}
    if with_content and msg.payload is not None:
        payload = orjson.loads(msg.payload)
    return MessageOut(
        id=msg.id,
        event_type=msg.event_type,
        event_id=msg.event_id,
        payload=payload,
        channels=msg.channels,
        tags=msg.tags,
        timestamp=to_datetime(msg.created_at),
        deliver_at=None if msg.deliver_at is None else to_datetime(msg.deliver_at),
    )


def attempt_out(a: Attempt) -> MessageAttemptOut:
    return MessageAttemptOut(
        id=a.id,
        msg_id=a.msg_id,
        endpoint_id=a.endpoint_id,
        url=shown_url(a.url),
        response=a.response_body,
        response_status_code=a.response_status,
        response_duration_ms=a.duration_ms,
        status=int(a.status),
        status_text=STATUS_TEXT[int(a.status)],
        trigger_type=int(a.trigger),
        error_kind=None if a.error_kind is None else a.error_kind.value,
        timestamp=to_datetime(a.created_at),
    )


def split_list(values: list[str] | None) -> list[str] | None:
    """The Svix SDK joins list query values with commas; plain clients repeat the key."""
    if not values:
        return None
    out = [v.strip() for raw in values for v in raw.split(",") if v.strip()]
    for v in out:
        if len(v) > 256 or not v.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise field_error(["query", "event_types"], f"invalid event type {v!r}")
    return out or None


@router.post("/msg", status_code=202, response_model=MessageOut)
async def create_message(
    ctx: Ctx, request: Request, app_id: AppRef, body: MessageIn, with_content: WithContent = True
) -> MessageOut | Response:
    """Also served by ``fast_publish`` (the hot path); both call ``publish_message``."""
    return await publish_message(ctx, app_id, body, with_content, request.scope)


def replayed(outcome: PublishOutcome) -> Response:
    """A repeated Idempotency-Key's answer: the message as it is now, rendered as the
    first request asked (its payload, or ``{}`` once retention dropped it)."""
    stored = outcome.replayed
    assert stored is not None
    if stored.message is not None:
        out = message_out(outcome.message, stored.message.with_content)
        stored = replace(stored, body=out.model_dump_json(by_alias=True).encode())
    return replayed_response(stored)


async def publish_message(
    ctx: ApiContext, app_id: str, body: MessageIn, with_content: bool, scope: Scope
) -> MessageOut | Response:
    """The message, or for a repeated Idempotency-Key the replayed answer."""
    try:
        payload = orjson.dumps(body.payload)
    except orjson.JSONEncodeError as exc:
        raise field_error(["body", "payload"], f"payload cannot be encoded: {exc}") from None
    if len(payload) > ctx.max_payload_bytes:
        raise PayloadTooLarge(
            f"payload is {len(payload)} bytes; the limit is {ctx.max_payload_bytes}"
        )
    now = now_ms()
    deliver_at = _deliver_at(body, now)
    target_app_id, new_app = await _target_application(ctx, app_id, body)
    msg = Message(
        id=ids.new_id("msg", now),
        app_id=target_app_id,
        event_type=body.event_type,
        payload=payload,
        event_id=body.event_id,
        channels=body.channels,
        tags=body.tags,
        created_at=now,
        deliver_at=deliver_at,
    )
    key = idempotency_key(scope)
    keyed = None if key is None else PublishKey(key, with_content)
    span = ctx.tracing.start_publish(target_app_id, msg.event_type, scope["headers"])
    if span is None:
        return await _stored(ctx, msg, body, with_content, now, new_app, keyed)
    msg.traceparent, msg.tracestate = span.traceparent, span.tracestate
    span.message(msg.id)
    with span:
        return await _stored(ctx, msg, body, with_content, now, new_app, keyed)


async def _stored(
    ctx: ApiContext,
    msg: Message,
    body: MessageIn,
    with_content: bool,
    now: int,
    new_app: Application | None,
    keyed: PublishKey | None,
) -> MessageOut | Response:
    outcome = await ctx.store.publish(msg, now, new_app, idempotency=keyed)
    if outcome.replayed is not None:
        return replayed(outcome)
    if not outcome.created:
        raise Conflict(
            f"a message with eventId {body.event_id!r} already exists: {outcome.message.id}",
            code="duplicate_event_id",
        )
    if ctx.metrics is not None:
        ctx.metrics.record_published()
    out = message_out(msg, with_content=False)
    if with_content:
        out.payload = body.payload
    return out


MAX_DELIVER_AHEAD_MS = 24 * 3600 * 1000
"""Svix's limit: ``deliverAt`` no more than 24 hours ahead."""


def _deliver_at(body: MessageIn, now: int) -> int | None:
    """A time in the past delivers now (kept as given, so the message shows it); one
    further ahead than Svix allows is a 422 rather than a message held for days."""
    at = to_ms(body.deliver_at)
    if at is not None and at > now + MAX_DELIVER_AHEAD_MS:
        raise field_error(["body", "deliverAt"], "deliverAt must be at most 24 hours ahead")
    return at


async def _target_application(
    ctx: ApiContext, app_ref: str, body: MessageIn
) -> tuple[str, Application | None]:
    """The application the path names, and whether to create it from the body.

    Svix creates the application on first use under the path's uid. The body may repeat
    that uid but never name another application: the message goes where the path says.
    """
    wanted = None if body.application is None else body.application.uid
    try:
        app = await ctx.store.get_application(app_ref)
    except NotFound:
        if body.application is None or (wanted is None and app_ref.startswith("app_")):
            raise  # nothing to create, or an id, which cannot be chosen
        if wanted not in (None, app_ref):
            raise _mismatch(app_ref, wanted) from None
        new_app = new_application(body.application)
        new_app.uid = app_ref
        return new_app.id, new_app
    if wanted not in (None, app_ref, app.id, app.uid):
        raise _mismatch(app_ref, wanted)
    return app.id, None


def _mismatch(app_ref: str, wanted: str) -> ApiError:
    return field_error(
        ["body", "application", "uid"],
        f"application.uid {wanted!r} does not name the application in the path ({app_ref!r})",
    )


@router.get("/msg", response_model=ListMessageOut)
async def list_messages(
    ctx: Ctx,
    app_id: AppRef,
    page: NewestFirst,
    event_types: Annotated[list[str] | None, Query()] = None,
    channel: Channel = None,
    before: Annotated[datetime | None, Query()] = None,
    after: Annotated[datetime | None, Query()] = None,
    with_content: WithContent = True,
    tag: TagQuery = None,
) -> ListMessageOut:
    app = await ctx.store.get_application(app_id)
    flt = MessageFilter(
        event_types=split_list(event_types),
        channel=channel,
        before_ms=to_ms(before),
        after_ms=to_ms(after),
        tag=tag,
    )
    result = await ctx.store.list_messages(app.id, flt, page)
    return list_out(ListMessageOut, result, lambda m: message_out(m, with_content))


@router.get("/msg/{msg_id}", response_model=MessageOut)
async def get_message(
    ctx: Ctx, app_id: AppRef, msg_id: Ref, with_content: WithContent = True
) -> MessageOut:
    app = await ctx.store.get_application(app_id)
    return message_out(await ctx.store.get_message(app.id, msg_id), with_content)


Status = Annotated[int | None, Query(ge=0, le=4)]
EventTypes = Annotated[list[str] | None, Query()]
When = Annotated[datetime | None, Query()]


async def attempt_query(
    status: Status = None,
    event_types: EventTypes = None,
    channel: Channel = None,
    before: When = None,
    after: When = None,
    tag: TagQuery = None,
    status_code_class: Annotated[StatusCodeClass | None, Query()] = None,
) -> AttemptFilter:
    return AttemptFilter(
        status=None if status is None else DeliveryStatus(status),
        event_types=split_list(event_types),
        channel=channel,
        before_ms=to_ms(before),
        after_ms=to_ms(after),
        tag=tag,
        status_code_class=None if status_code_class is None else int(status_code_class),
    )


AttemptQuery = Annotated[AttemptFilter, Depends(attempt_query)]


@dataclass(frozen=True, slots=True)
class AttemptShape:
    """How attempts render: with the response body (``with_content``) and with their
    message, payload left out as Svix leaves it (``with_msg``)."""

    with_content: bool = True
    with_msg: bool = False


async def attempt_shape(
    with_content: Annotated[bool, Query()] = True, with_msg: Annotated[bool, Query()] = False
) -> AttemptShape:
    return AttemptShape(with_content, with_msg)


Shape = Annotated[AttemptShape, Depends(attempt_shape)]


async def attempts_out(
    ctx: ApiContext, app_id: str, result: Page[Attempt], shape: AttemptShape
) -> ListMessageAttemptOut:
    msgs = {}
    if shape.with_msg:
        msgs = await ctx.store.messages_by_id(app_id, [a.msg_id for a in result.data])

    def render(a: Attempt) -> MessageAttemptOut:
        out = attempt_out(a)
        if not shape.with_content:
            out.response = ""
        found = msgs.get(a.msg_id)
        if found is not None:
            out.msg = message_out(found, with_content=False)
        return out

    return list_out(ListMessageAttemptOut, result, render)


@router.get("/attempt/msg/{msg_id}", response_model=ListMessageAttemptOut, tags=["Message Attempt"])
async def list_attempts_by_msg(
    ctx: Ctx,
    app_id: AppRef,
    msg_id: Ref,
    page: NewestFirst,
    flt: AttemptQuery,
    shape: Shape,
    endpoint_id: Annotated[str | None, Query(max_length=256)] = None,
) -> ListMessageAttemptOut:
    app = await ctx.store.get_application(app_id)
    msg = await ctx.store.get_message(app.id, msg_id)
    if endpoint_id is not None:
        flt = replace(flt, endpoint_id=(await ctx.store.get_endpoint(app.id, endpoint_id)).id)
    result = await ctx.store.list_attempts(app.id, flt, page, msg_id=msg.id)
    return await attempts_out(ctx, app.id, result, shape)


@router.get(
    "/attempt/endpoint/{endpoint_id}",
    response_model=ListMessageAttemptOut,
    tags=["Message Attempt"],
)
async def list_attempts_by_endpoint(
    ctx: Ctx, app_id: AppRef, endpoint_id: Ref, page: NewestFirst, flt: AttemptQuery, shape: Shape
) -> ListMessageAttemptOut:
    app = await ctx.store.get_application(app_id)
    ep = await ctx.store.get_endpoint(app.id, endpoint_id)
    result = await ctx.store.list_attempts(app.id, replace(flt, endpoint_id=ep.id), page)
    return await attempts_out(ctx, app.id, result, shape)


@router.get(
    "/msg/{msg_id}/attempt/{attempt_id}",
    response_model=MessageAttemptOut,
    tags=["Message Attempt"],
)
async def get_attempt(
    ctx: Ctx,
    app_id: AppRef,
    msg_id: Ref,
    attempt_id: Annotated[str, Path(min_length=1, max_length=256, pattern=ID_PATTERN)],
) -> MessageAttemptOut:
    app = await ctx.store.get_application(app_id)
    msg = await ctx.store.get_message(app.id, msg_id)
    return attempt_out(await ctx.store.get_attempt(app.id, msg.id, attempt_id))


@router.post(
    "/msg/{msg_id}/endpoint/{endpoint_id}/resend",
    status_code=202,
    response_model=EmptyOut,
    tags=["Message Attempt"],
)
async def resend(ctx: Ctx, app_id: AppRef, msg_id: Ref, endpoint_id: Ref) -> Response:
    """Queues one manual attempt (no retries), as Svix's resend does."""
    app = await ctx.store.get_application(app_id)
    msg = await ctx.store.get_message(app.id, msg_id)
    ep = await ctx.store.get_endpoint(app.id, endpoint_id)
    if is_polling(ep.url):
        raise Conflict(POLLING_REFUSED)
    if msg.payload is None:
        raise NotFound(f"the payload of {msg.id} has expired")
    await ctx.store.resend(app.id, msg.id, ep.id, now_ms())
    return Response(b"{}", status_code=202, media_type="application/json")
