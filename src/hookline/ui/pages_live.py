"""The live tail (operator): new attempts as server-sent events.

The stream polls ``Store.attempts_after`` from the last id it sent; each event carries
its attempt's id (``id:``), so a reconnecting browser's ``Last-Event-ID`` resumes right
after it. A comment line every ``live_heartbeat_s`` keeps proxies from closing an idle
stream and is when the session is looked up again: a signed-out or expired session ends
the stream. The stream also ends when the client goes away."""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response, StreamingResponse

from hookline.errors import NotFound
from hookline.ids import boundary_id
from hookline.models import AccessKind, Attempt
from hookline.ui.config import UiConfig
from hookline.ui.pages_messages import BadFilter, badge
from hookline.ui.render import render, when
from hookline.ui.session import config_of, operator
from hookline.ui.viewer import Viewer

router = APIRouter()
BACKLOG = 20  # attempts shown when the page opens
BATCH = 200  # attempts read per poll; a full batch is followed at once by the next
EVENT_TYPES_CACHED = 2048
ATTEMPT_ID = re.compile(r"^atmpt_[0-9A-Za-z]{1,40}$")
AppRef = Annotated[str | None, Query(max_length=256)]


async def _app_id(config: UiConfig, app: str | None) -> str | None:
    if not app:
        return None
    return (await config.store.get_application(app.strip())).id


@router.get("/live")
async def live_page(
    request: Request, viewer: Annotated[Viewer, Depends(operator)], app: AppRef = None
) -> Response:
    app_id = await _app_id(config_of(request), app)
    stream = "/ui/live/stream" + (f"?app={app_id}" if app_id else "")
    return render(
        request,
        "live.html",
        viewer,
        title="Live",
        nav="live",
        app=app or "",
        page_data={"stream": stream},
    )


@router.get("/live/stream")
async def live_stream(
    request: Request,
    viewer: Annotated[Viewer, Depends(operator)],
    app: AppRef = None,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    resume = last_event_id or after
    if resume is not None and not ATTEMPT_ID.match(resume):
        raise BadFilter("Last-Event-ID is not an attempt id")
    config = config_of(request)
    app_id = await _app_id(config, app)
    return StreamingResponse(
        _events(request, config, viewer, app_id, resume),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(
    request: Request, config: UiConfig, viewer: Viewer, app_id: str | None, cursor: str | None
) -> AsyncIterator[bytes]:
    store = config.store
    names: OrderedDict[str, str] = OrderedDict()  # msg id -> event type, recently used
    yield b"retry: 2000\n\n"
    if cursor is None:
        backlog = await store.attempts_after(None, BACKLOG, app_id=app_id)
        for attempt in backlog:
            yield await _event(config, attempt, names)
        # none at all yet: every attempt that comes is new
        cursor = backlog[-1].id if backlog else boundary_id("atmpt", 0)
    beat_at = time.monotonic() + config.live_heartbeat_s
    while not await request.is_disconnected():
        if _now_ms() >= viewer.expires_at:
            yield b"event: end\ndata: session\n\n"
            return
        batch = await store.attempts_after(cursor, BATCH, app_id=app_id)
        for attempt in batch:
            yield await _event(config, attempt, names)
            cursor = attempt.id
        if len(batch) == BATCH:
            continue
        if time.monotonic() >= beat_at:
            found = await store.find_access_token(
                viewer.session_hash, AccessKind.SESSION, _now_ms()
            )
            if found is None:
                yield b"event: end\ndata: session\n\n"
                return
            yield b": keep-alive\n\n"
            beat_at = time.monotonic() + config.live_heartbeat_s
        await asyncio.sleep(config.live_poll_s)


async def _event(config: UiConfig, a: Attempt, names: OrderedDict[str, str]) -> bytes:
    event_type = names.get(a.msg_id)
    if event_type is None:
        try:
            event_type = (await config.store.get_message(a.app_id, a.msg_id)).event_type
        except NotFound:
            event_type = ""
        names[a.msg_id] = event_type
        if len(names) > EVENT_TYPES_CACHED:
            names.popitem(last=False)
    else:
        names.move_to_end(a.msg_id)
    data = {
        "id": a.id,
        "at": a.created_at,
        "time": when(a.created_at),
        "app_id": a.app_id,
        "endpoint_id": a.endpoint_id,
        "url": a.url,
        "msg_id": a.msg_id,
        "event_type": event_type,
        "status": a.status.name.lower(),
        "badge": badge(a.status),
        "response_status": a.response_status,
        "error_kind": a.error_kind.value if a.error_kind else None,
        "duration_ms": a.duration_ms,
        "link": f"/ui/app/{a.app_id}/msg/{a.msg_id}#attempt-{a.id}",
    }
    return b"id: " + a.id.encode() + b"\nevent: attempt\ndata: " + orjson.dumps(data) + b"\n\n"


def _now_ms() -> int:
    return int(time.time() * 1000)
