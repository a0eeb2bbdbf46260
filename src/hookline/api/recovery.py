"""Recover, replay-missing and bulk-replay an endpoint's messages; follow the task.

The routes only write a ``background_task`` row and answer 202: the maintenance loop
beside the worker walks the messages in bounded chunks, so a request never holds a
transaction over an unbounded range.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from hookline import ids
from hookline.api.applications import AppRef
from hookline.api.context import Ctx, Paging, list_out, now_ms, to_datetime, to_ms
from hookline.api.endpoints import EpRef
from hookline.api.errors import field_error
from hookline.api.schemas_ops import (
    BackgroundTaskOut,
    BackgroundTaskStatus,
    BackgroundTaskType,
    BulkReplayIn,
    ListBackgroundTaskOut,
    RecoverIn,
    ReplayIn,
    TaskStartedOut,
)
from hookline.api.strict_json import StrictJsonRoute
from hookline.errors import Conflict
from hookline.models import (
    POLLING_REFUSED,
    BackgroundTask,
    DeliveryStatus,
    TaskKind,
    TaskParams,
    TaskStatus,
    is_polling,
)

router = APIRouter(tags=["Endpoint"], route_class=StrictJsonRoute)
ENDPOINT = "/api/v1/app/{app_id}/endpoint/{endpoint_id}"
TaskRef = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_]+$")]
_MAX_MS = (1 << 48) - 1  # what an id's timestamp can hold


def task_data(task: BackgroundTask) -> dict[str, Any]:
    """Progress. Svix reports ``messagesSent``; the count is of deliveries queued, which
    ``messagesQueued`` says plainly, so both are given."""
    if task.kind is TaskKind.PURGE_CONTENT:
        return {"messagesPurged": task.done_count, "done": task.status is not TaskStatus.RUNNING}
    data: dict[str, Any] = {
        "messagesQueued": task.done_count,
        "messagesSent": task.done_count,
        "done": task.status is not TaskStatus.RUNNING,
    }
    if task.error is not None:
        data["error"] = task.error
    return data


def task_out(task: BackgroundTask) -> BackgroundTaskOut:
    return BackgroundTaskOut(
        id=task.id,
        status=BackgroundTaskStatus(task.status.value),
        task=BackgroundTaskType(task.kind.value),
        updated_at=to_datetime(task.updated_at),
        data=task_data(task),
    )


def _clamped_ms(moment: datetime) -> int:
    return min(max(to_ms(moment) or 0, 0), _MAX_MS)


def _params(body: RecoverIn, now: int) -> TaskParams:
    """[since, until) in ms. ``until`` never passes now: a task covers the messages that
    exist when it starts (later ones get their deliveries from publish), so it ends."""
    since = _clamped_ms(body.since)
    if since > now:  # nothing could be found; a 202 would hide a wrong clock or time zone
        raise field_error(["body", "since"], "since must not be in the future")
    until = now + 1
    if body.until is not None:
        if _clamped_ms(body.until) < since:
            raise field_error(["body", "until"], "until must not be earlier than since")
        until = min(_clamped_ms(body.until), until)
    return TaskParams(since_ms=since, until_ms=until)


async def _start(
    ctx: Ctx, app_ref: str, endpoint_ref: str, kind: TaskKind, params: TaskParams, now: int
) -> TaskStartedOut:
    app = await ctx.store.get_application(app_ref)
    ep = await ctx.store.get_endpoint(app.id, endpoint_ref)
    if is_polling(ep.url):
        raise Conflict(POLLING_REFUSED)
    task = await ctx.store.create_task(
        BackgroundTask(
            id=ids.new_id("qtask", now),
            kind=kind,
            status=TaskStatus.RUNNING,
            app_id=app.id,
            endpoint_id=ep.id,
            params=params,
            created_at=now,
            updated_at=now,
        )
    )
    out = task_out(task)
    return TaskStartedOut(id=out.id, status=out.status, task=out.task, updated_at=out.updated_at)


@router.post(ENDPOINT + "/recover", status_code=202, response_model=TaskStartedOut)
async def recover(ctx: Ctx, app_id: AppRef, endpoint_id: EpRef, body: RecoverIn) -> TaskStartedOut:
    """Resend, once each, the messages whose latest delivery to the endpoint failed."""
    now = now_ms()
    return await _start(ctx, app_id, endpoint_id, TaskKind.RECOVER, _params(body, now), now)


@router.post(ENDPOINT + "/replay-missing", status_code=202, response_model=TaskStartedOut)
async def replay_missing(
    ctx: Ctx, app_id: AppRef, endpoint_id: EpRef, body: ReplayIn
) -> TaskStartedOut:
    """Send the endpoint the messages it subscribes to but never got a delivery of."""
    now = now_ms()
    return await _start(ctx, app_id, endpoint_id, TaskKind.REPLAY, _params(body, now), now)


@router.post(ENDPOINT + "/bulk-replay", status_code=202, response_model=TaskStartedOut)
async def bulk_replay(
    ctx: Ctx, app_id: AppRef, endpoint_id: EpRef, body: BulkReplayIn
) -> TaskStartedOut:
    """Send every matching message again, delivered or not: how a new endpoint backfills."""
    now = now_ms()
    params = replace(
        _params(body, now),
        event_types=None if body.event_types is None else tuple(body.event_types),
        channel=body.channel,
        tag=body.tag,
        status=None if body.status is None else DeliveryStatus(body.status),
        status_code_class=None if body.status_code_class is None else int(body.status_code_class),
    )
    return await _start(ctx, app_id, endpoint_id, TaskKind.BULK_REPLAY, params, now)


@router.get(
    "/api/v1/background-task", response_model=ListBackgroundTaskOut, tags=["Background Task"]
)
async def list_background_tasks(
    ctx: Ctx,
    page: Paging,
    status: Annotated[BackgroundTaskStatus | None, Query()] = None,
    task: Annotated[BackgroundTaskType | None, Query()] = None,
) -> ListBackgroundTaskOut:
    kinds = {k.value for k in TaskKind}
    if task is not None and task.value not in kinds:  # a Svix type hookline never runs
        page.cursor("qtask")  # a garbage iterator is a 422 here too
        return ListBackgroundTaskOut(data=[], iterator=page.iterator, done=True)
    result = await ctx.store.list_tasks(
        page,
        status=None if status is None else TaskStatus(status.value),
        kind=None if task is None else TaskKind(task.value),
    )
    return list_out(ListBackgroundTaskOut, result, task_out)


@router.get(
    "/api/v1/background-task/{task_id}", response_model=BackgroundTaskOut, tags=["Background Task"]
)
async def get_background_task(ctx: Ctx, task_id: TaskRef) -> BackgroundTaskOut:
    return task_out(await ctx.store.get_task(task_id))
