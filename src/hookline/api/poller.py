"""Polling instead of webhooks: ``/app/{app}/poller/{sink}`` (Svix's ``message.poller``),
consumer cursors kept by the server, and the ``/events`` streams.

A polling endpoint is an endpoint whose URL is ``poll://``: it has the event-type,
channel and payload filters of any endpoint, and the delivery engine never sends to it.
Every read walks the application's messages in id order and hands out only ids older
than the settle window (``HOOKLINE_POLL_SETTLE``), so a publish that commits after a
newer one is still ahead of every iterator given out: no gap.

A consumer's cursor is at-least-once: a poll returns the next page and its iterator but
commits nothing; the consumer's next poll passing that iterator commits it (it has
processed the page) and reads on. A poll without an iterator resumes from the last
commit, so a consumer that crashed mid-page gets that page again.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from hookline import ids
from hookline.api.applications import AppRef
from hookline.api.context import MAX_PAGE_LIMIT, ApiContext, Ctx, now_ms, to_ms
from hookline.api.errors import field_error
from hookline.api.messages import message_out, split_list
from hookline.api.schemas import CHANNEL_PATTERN, ID_PATTERN, MessageOut, Schema
from hookline.api.strict_json import StrictJsonRoute
from hookline.errors import NotFound
from hookline.models import OPERATIONAL_APP_ID, Endpoint, is_polling
from hookline.store.base import StreamFilter, StreamPage

router = APIRouter(prefix="/api/v1", tags=["Message"], route_class=StrictJsonRoute)

Ref = Annotated[str, Path(min_length=1, max_length=256, pattern=ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)]
Iterator = Annotated[str | None, Query(max_length=64)]
After = Annotated[datetime | None, Query()]
EventType = Annotated[str | None, Query(max_length=256, pattern=ID_PATTERN)]
Channel = Annotated[str | None, Query(max_length=128, pattern=CHANNEL_PATTERN)]
ListQuery = Annotated[list[str] | None, Query()]

_ITERATOR = re.compile(r"^msg_[0-9A-Za-z]{27}$")
_MAX_MS = (1 << 48) - 1  # what an id's timestamp can hold
START = ids.boundary_id("msg", 0)  # before every message


class PollingEndpointMessageOut(MessageOut):
    headers: dict[str, str] | None = None


class PollingEndpointOut(Schema):
    data: list[PollingEndpointMessageOut]
    iterator: str
    done: bool


class MessageEventsOut(Schema):
    data: list[MessageOut]
    iterator: str
    done: bool


class PollingEndpointConsumerSeekIn(Schema):
    after: datetime


class PollingEndpointConsumerSeekOut(Schema):
    iterator: str


def _iterator(value: str) -> str:
    """An iterator is a message id (or a time's boundary id) this server handed out."""
    if not _ITERATOR.match(value):
        raise field_error(["query", "iterator"], "not an iterator this server handed out")
    return value


def _at(after: datetime) -> str:
    """The cursor just before the first message created at or after ``after``."""
    ms = to_ms(after) or 0
    return ids.boundary_id("msg", min(max(ms, 0), _MAX_MS))


def _start(iterator: str | None, after: datetime | None) -> str:
    if iterator:
        return _iterator(iterator)
    return START if after is None else _at(after)


def _settled(ctx: ApiContext) -> str:
    """Ids below this have had the settle window to commit."""
    return ids.boundary_id("msg", now_ms() - int(ctx.poll_settle_s * 1000))


async def _sink(ctx: ApiContext, app_ref: str, sink_ref: str) -> Endpoint:
    app = await ctx.store.get_application(app_ref)
    sink = await ctx.store.get_endpoint(app.id, sink_ref)
    if not is_polling(sink.url):
        raise NotFound(f"polling endpoint {sink_ref!r} not found")
    return sink


def _sink_filter(sink: Endpoint, event_type: str | None, channel: str | None) -> StreamFilter:
    return StreamFilter(
        event_types=sink.event_types,
        channels=sink.channels,
        payload_filter=sink.payload_filter,
        event_type=event_type,
        channel=channel,
    )


def _polled(page: StreamPage) -> PollingEndpointOut:
    return PollingEndpointOut(
        data=[PollingEndpointMessageOut(**message_out(m).model_dump()) for m in page.messages],
        iterator=page.cursor,
        done=page.done,
    )


@router.get("/app/{app_id}/poller/{sink_id}", response_model=PollingEndpointOut)
async def poll(
    ctx: Ctx,
    app_id: AppRef,
    sink_id: Ref,
    limit: Limit = 50,
    iterator: Iterator = None,
    event_type: EventType = None,
    channel: Channel = None,
    after: After = None,
) -> PollingEndpointOut:
    """The sink's messages after ``iterator`` (else after ``after``, else the oldest)."""
    sink = await _sink(ctx, app_id, sink_id)
    flt = _sink_filter(sink, event_type, channel)
    start = _start(iterator, after)
    return _polled(await ctx.store.read_stream(sink.app_id, start, _settled(ctx), flt, limit))


@router.get(
    "/app/{app_id}/poller/{sink_id}/consumer/{consumer_id}", response_model=PollingEndpointOut
)
async def consumer_poll(
    ctx: Ctx,
    app_id: AppRef,
    sink_id: Ref,
    consumer_id: Ref,
    limit: Limit = 50,
    iterator: Iterator = None,
) -> PollingEndpointOut:
    """Passing the iterator of the previous page commits it and reads on; without one,
    reading resumes from the last commit (the oldest message for a new consumer)."""
    sink = await _sink(ctx, app_id, sink_id)
    store = ctx.store
    if iterator:
        start = _iterator(iterator)
        await store.commit_poll_cursor(sink.app_id, sink.id, consumer_id, start, now_ms())
    else:
        start = await store.poll_cursor(sink.app_id, sink.id, consumer_id) or START
    flt = _sink_filter(sink, None, None)
    return _polled(await store.read_stream(sink.app_id, start, _settled(ctx), flt, limit))


@router.post(
    "/app/{app_id}/poller/{sink_id}/consumer/{consumer_id}/seek",
    response_model=PollingEndpointConsumerSeekOut,
)
async def consumer_seek(
    ctx: Ctx, app_id: AppRef, sink_id: Ref, consumer_id: Ref, body: PollingEndpointConsumerSeekIn
) -> PollingEndpointConsumerSeekOut:
    """Moves the consumer's cursor to ``after``, back or forward."""
    sink = await _sink(ctx, app_id, sink_id)
    cursor = _at(body.after)
    await ctx.store.commit_poll_cursor(
        sink.app_id, sink.id, consumer_id, cursor, now_ms(), seek=True
    )
    return PollingEndpointConsumerSeekOut(iterator=cursor)


async def _events(
    ctx: ApiContext,
    app_id: str,
    limit: int,
    iterator: str | None,
    event_types: list[str] | None,
    channels: list[str] | None,
    after: datetime | None,
) -> MessageEventsOut:
    flt = StreamFilter(event_types=split_list(event_types), channels=_channels(channels))
    start = _start(iterator, after)
    page = await ctx.store.read_stream(app_id, start, _settled(ctx), flt, limit)
    return MessageEventsOut(
        data=[message_out(m) for m in page.messages], iterator=page.cursor, done=page.done
    )


def _channels(values: list[str] | None) -> list[str] | None:
    """Comma-joined by the SDK, repeated by plain clients, as event types are."""
    if not values:
        return None
    out = [v.strip() for raw in values for v in raw.split(",") if v.strip()]
    for v in out:
        if len(v) > 128 or not re.match(CHANNEL_PATTERN, v):
            raise field_error(["query", "channels"], f"invalid channel {v!r}")
    return out or None


@router.get("/app/{app_id}/events", response_model=MessageEventsOut)
async def app_events(
    ctx: Ctx,
    app_id: AppRef,
    limit: Limit = 50,
    iterator: Iterator = None,
    event_types: ListQuery = None,
    channels: ListQuery = None,
    after: After = None,
) -> MessageEventsOut:
    """Every message of the application, oldest first, as a stream with an iterator."""
    app = await ctx.store.get_application(app_id)
    return await _events(ctx, app.id, limit, iterator, event_types, channels, after)


@router.get("/events", response_model=MessageEventsOut)
async def operational_events(
    ctx: Ctx,
    limit: Limit = 50,
    iterator: Iterator = None,
    event_types: ListQuery = None,
    channels: ListQuery = None,
    after: After = None,
) -> MessageEventsOut:
    """The server's operational events (``endpoint.created``,
    ``message.attempt.exhausted``...), the messages operational webhooks deliver."""
    return await _events(ctx, OPERATIONAL_APP_ID, limit, iterator, event_types, channels, after)
