"""Background tasks (recover, replay, bulk replay) in SQLite.

A task walks the application's messages in id order (ids sort by creation time) and
handles a bounded chunk per transaction: the deliveries it queues and the cursor that
says how far it got commit together, so a crash never repeats or loses a message.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import orjson

from hookline import filters, ids
from hookline.errors import NotFound
from hookline.models import (
    POLLING_REFUSED,
    BackgroundTask,
    DeliveryStatus,
    Endpoint,
    Page,
    TaskKind,
    TaskParams,
    TaskStatus,
    TriggerType,
    is_polling,
    subscription_matches,
)
from hookline.signing.at_rest import SecretBox
from hookline.store import rows
from hookline.store import sql_queue as queue
from hookline.store.base import PageRequest
from hookline.store.sql_base import SqlBase, find_endpoint, page_of
from hookline.store.sql_conn import Conn
from hookline.store.sql_expunge import purge_chunk

TASK_COLS = (
    "id, kind, status, app_id, endpoint_id, params, cursor, done_count, error, "
    "created_at, updated_at"
)
FAILED = int(DeliveryStatus.FAILED)
JUDGE_BYTES = 8 * 1024 * 1024  # payloads read at once to evaluate a filter ahead of a chunk
CHUNK_FILTER_S = 0.25  # filters run inside a chunk's transaction past this: the chunk ends
Judged = tuple[str, dict[str, bool]]  # a filter, and its outcome per message id


def _params_dump(p: TaskParams) -> str:
    return rows.dump(
        {
            "since": p.since_ms,
            "until": p.until_ms,
            "eventTypes": None if p.event_types is None else list(p.event_types),
            "channel": p.channel,
            "tag": p.tag,
            "status": None if p.status is None else int(p.status),
            "statusCodeClass": p.status_code_class,
        }
    )


def _params_load(text: str) -> TaskParams:
    d = orjson.loads(text)
    return TaskParams(
        since_ms=d["since"],
        until_ms=d["until"],
        event_types=None if d.get("eventTypes") is None else tuple(d["eventTypes"]),
        channel=d.get("channel"),
        tag=d.get("tag"),
        status=None if d.get("status") is None else DeliveryStatus(d["status"]),
        status_code_class=d.get("statusCodeClass"),
    )


def task_from_row(r: rows.Row) -> BackgroundTask:
    return BackgroundTask(
        id=r[0],
        kind=TaskKind(r[1]),
        status=TaskStatus(r[2]),
        app_id=r[3],
        endpoint_id=r[4],
        params=_params_load(r[5]),
        cursor=r[6],
        done_count=r[7],
        error=r[8],
        created_at=r[9],
        updated_at=r[10],
    )


def _find_task(conn: Conn, task_id: str) -> BackgroundTask | None:
    r = conn.execute(f"SELECT {TASK_COLS} FROM background_task WHERE id = ?", (task_id,)).fetchone()
    return None if r is None else task_from_row(r)


class TaskOps(SqlBase):
    # ----- background tasks ---------------------------------------------------------

    async def create_task(self, task: BackgroundTask) -> BackgroundTask:
        def op(conn: Conn) -> BackgroundTask:
            conn.execute(
                f"INSERT INTO background_task ({TASK_COLS}) VALUES ({rows.marks_for(TASK_COLS)})",
                (
                    task.id,
                    task.kind.value,
                    task.status.value,
                    task.app_id,
                    task.endpoint_id,
                    _params_dump(task.params),
                    task.cursor,
                    task.done_count,
                    task.error,
                    task.created_at,
                    task.updated_at,
                ),
            )
            return task

        return await self._write(op)

    async def get_task(self, task_id: str) -> BackgroundTask:
        found = await self._read(lambda conn: _find_task(conn, task_id))
        if found is None:
            raise NotFound(f"background task {task_id!r} not found")
        return found

    async def list_tasks(
        self,
        page: PageRequest,
        status: TaskStatus | None = None,
        kind: TaskKind | None = None,
    ) -> Page[BackgroundTask]:
        where: list[str] = []
        params: list[Any] = []
        if status is not None:
            where.append("status = ?")
            params.append(status.value)
        if kind is not None:
            where.append("kind = ?")
            params.append(kind.value)
        select = f"SELECT {TASK_COLS} FROM background_task"
        return await self._read(
            lambda c: page_of(c, select, where, params, "id", page, task_from_row, kind="qtask")
        )

    async def running_tasks(self) -> list[BackgroundTask]:
        def op(conn: Conn) -> list[BackgroundTask]:
            found = conn.execute(
                f"SELECT {TASK_COLS} FROM background_task WHERE status = ? ORDER BY id",
                (TaskStatus.RUNNING.value,),
            )
            return [task_from_row(r) for r in found]

        return await self._read(op)

    async def advance_task(self, task_id: str, now_ms: int, chunk: int) -> BackgroundTask:
        purge = await self._read(lambda c: _find_task(c, task_id))
        if purge is not None and purge.kind is TaskKind.PURGE_CONTENT:
            return await self._advance_purge(task_id, now_ms, chunk)
        judged = await self._judge_chunk(task_id, chunk)
        if judged is not None and judged[1]:
            chunk = len(judged[1])  # no further than what was judged

        def op(conn: Conn) -> tuple[BackgroundTask | None, bool]:
            task = _find_task(conn, task_id)
            if task is None or task.status is not TaskStatus.RUNNING:
                return task, False
            queued = _advance(conn, task, now_ms, chunk, self._box, judged)
            conn.execute(
                "UPDATE background_task SET status = ?, cursor = ?, done_count = ?, error = ?,"
                " updated_at = ? WHERE id = ?",
                (
                    task.status.value,
                    task.cursor,
                    task.done_count,
                    task.error,
                    task.updated_at,
                    task.id,
                ),
            )
            return task, queued

        task, queued = await self._write(op)
        if task is None:
            raise NotFound(f"background task {task_id!r} not found")
        if queued:
            self._work.set()
        return task

    async def _advance_purge(self, task_id: str, now_ms: int, chunk: int) -> BackgroundTask:
        def op(conn: Conn) -> BackgroundTask | None:
            task = _find_task(conn, task_id)
            if task is None or task.status is not TaskStatus.RUNNING:
                return task
            purge_chunk(conn, task, now_ms, chunk)
            conn.execute(
                "UPDATE background_task SET status = ?, cursor = ?, done_count = ?,"
                " updated_at = ? WHERE id = ?",
                (task.status.value, task.cursor, task.done_count, task.updated_at, task.id),
            )
            return task

        task = await self._write(op)
        if task is None:
            raise NotFound(f"background task {task_id!r} not found")
        return task

    async def _judge_chunk(self, task_id: str, chunk: int) -> Judged | None:
        """The endpoint's payload filter on the task's next chunk, evaluated before the
        write and outside it (a thread), so a slow filter never holds the writer."""

        def read(conn: Conn) -> tuple[str, list[tuple[str, bytes | None]]] | None:
            task = _find_task(conn, task_id)
            if task is None or task.status is not TaskStatus.RUNNING or not task.endpoint_id:
                return None
            endpoint = find_endpoint(conn, task.app_id, task.endpoint_id, self._box)
            if endpoint is None or not endpoint.payload_filter:
                return None
            where, args = _chunk_range(task)
            payloads: list[tuple[str, bytes | None]] = []
            size = 0
            for msg_id, payload in conn.execute(
                f"SELECT m.id, m.payload FROM message m WHERE {where} ORDER BY m.id LIMIT ?",
                (*args, chunk),
            ):
                payloads.append((msg_id, payload))
                size += len(payload or b"")
                if size > JUDGE_BYTES:  # payloads held at once: the chunk ends here
                    break
            return endpoint.payload_filter, payloads

        found = await self._read(read)
        if found is None:
            return None
        expression, payloads = found
        return expression, await self._off_writer(partial(filters.judge_each, expression, payloads))


# ----- one chunk of a task ----------------------------------------------------------------


def _chunk_range(task: BackgroundTask) -> tuple[str, list[Any]]:
    """The messages the task has still to examine, in id order (``m``)."""
    where = "m.app_id = ? AND m.id >= ? AND m.id < ?"
    args: list[Any] = [
        task.app_id,
        ids.boundary_id("msg", task.params.since_ms),
        ids.boundary_id("msg", task.params.until_ms),
    ]
    if task.cursor is not None:
        where += " AND m.id > ?"
        args.append(task.cursor)
    return where, args


def _advance(
    conn: Conn,
    task: BackgroundTask,
    now_ms: int,
    chunk: int,
    box: SecretBox,
    judged: Judged | None = None,
) -> bool:
    """Examine the next ``chunk`` messages, queue those the task wants; True if any.

    Filters judged ahead are not run again; any others (the filter changed since) run
    here, and past ``CHUNK_FILTER_S`` of that the chunk ends early."""
    task.updated_at = now_ms
    endpoint = find_endpoint(conn, task.app_id, task.endpoint_id or "", box)
    if endpoint is None:
        task.status, task.error = TaskStatus.FAILED, "the endpoint was deleted"
        return False
    if is_polling(endpoint.url):
        task.status, task.error = TaskStatus.FAILED, POLLING_REFUSED
        return False
    where, args = _chunk_range(task)
    sql = (
        "SELECT m.id, m.event_type, m.channels, m.tags, m.payload IS NULL,"
        " (SELECT d.status FROM delivery d WHERE d.msg_id = m.id AND d.endpoint_id = ?"
        "  ORDER BY d.id DESC LIMIT 1),"
        # the message's fan-out has yet to reach the endpoint: it will queue it itself
        " EXISTS (SELECT 1 FROM fanout f WHERE f.msg_id = m.id"
        "  AND (f.cursor IS NULL OR f.cursor < ?) AND m.created_at >= ?)"
        f" FROM message m WHERE {where}"
    )
    ahead = (endpoint.id, endpoint.id, endpoint.created_at)
    examined = conn.execute(sql + " ORDER BY m.id LIMIT ?", (*ahead, *args, chunk)).fetchall()
    verdicts = judged[1] if judged is not None and judged[0] == endpoint.payload_filter else {}
    started, wanted, walked = time.monotonic(), [], 0
    for r in examined:
        walked += 1
        if _wanted(conn, task, endpoint, r, verdicts):
            wanted.append(r[0])
        if time.monotonic() - started > CHUNK_FILTER_S:
            break
    _queue(conn, task, endpoint, wanted, now_ms)
    if walked:
        task.cursor = str(examined[walked - 1][0])
    task.done_count += len(wanted)
    if len(examined) < chunk and walked == len(examined):
        task.status = TaskStatus.FINISHED
    return bool(wanted)


def _wanted(
    conn: Conn, task: BackgroundTask, ep: Endpoint, r: Sequence[Any], verdicts: dict[str, bool]
) -> bool:
    msg_id, event_type, channels, tags, expired, last_status, fanning_out = r
    if expired:  # retention dropped the payload: nothing left to send
        return False
    if fanning_out and task.kind is not TaskKind.RECOVER:
        return False
    if task.kind is TaskKind.RECOVER:
        return bool(last_status == FAILED)
    if task.kind is TaskKind.REPLAY and last_status is not None:
        return False
    channel_list = rows.load(channels)
    if not subscription_matches(ep.event_types, ep.channels, event_type, channel_list):
        return False
    if task.kind is TaskKind.BULK_REPLAY and not _bulk_filters(
        conn, task.params, ep.id, msg_id, event_type, channel_list, rows.load(tags), last_status
    ):
        return False
    if ep.payload_filter is None:
        return True
    verdict = verdicts.get(msg_id)
    return _payload_matches(conn, msg_id, ep.payload_filter) if verdict is None else verdict


def _bulk_filters(
    conn: Conn,
    p: TaskParams,
    endpoint_id: str,
    msg_id: str,
    event_type: str,
    channels: list[str] | None,
    tags: list[str] | None,
    last_status: int | None,
) -> bool:
    if p.event_types is not None and event_type not in p.event_types:
        return False
    if p.channel is not None and p.channel not in (channels or ()):
        return False
    if p.tag is not None and p.tag not in (tags or ()):
        return False
    if p.status is not None and last_status != int(p.status):
        return False
    if p.status_code_class is not None:
        last = conn.execute(
            "SELECT response_status FROM attempt WHERE msg_id = ? AND endpoint_id = ?"
            " ORDER BY id DESC LIMIT 1",
            (msg_id, endpoint_id),
        ).fetchone()
        if last is None or int(last[0]) // 100 * 100 != p.status_code_class:
            return False
    return True


def _payload_matches(conn: Conn, msg_id: str, expression: str) -> bool:
    """Payloads are read one at a time, only for endpoints with a payload filter."""
    payload = conn.execute("SELECT payload FROM message WHERE id = ?", (msg_id,)).fetchone()[0]
    return filters.matches(expression, orjson.loads(payload))


def _queue(conn: Conn, task: BackgroundTask, ep: Endpoint, msg_ids: list[str], now_ms: int) -> None:
    """New deliveries as publish makes them; a disabled endpoint's wait parked until it
    is enabled again. Recovery sends are manual (one attempt, no retries)."""
    if not msg_ids:
        return
    trigger = TriggerType.MANUAL if task.kind is TaskKind.RECOVER else TriggerType.SCHEDULED
    due = None if ep.disabled else now_ms
    conn.executemany(
        "INSERT INTO delivery (id, msg_id, endpoint_id, app_id, status, attempts,"
        " next_attempt_at, trigger, lease_owner, created_at, updated_at)"
        " VALUES (?,?,?,?,?,0,?,?,NULL,?,?)",
        [
            (
                ids.new_id("dlv", now_ms),
                msg_id,
                ep.id,
                task.app_id,
                queue.PENDING,
                due,
                int(trigger),
                now_ms,
                now_ms,
            )
            for msg_id in msg_ids
        ],
    )
    if due is not None:
        queue.mark_due(conn, [ep.id], now_ms)
