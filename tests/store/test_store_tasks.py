"""The store contract for background tasks and retention."""

from __future__ import annotations

import time

import pytest
from test_store_contract import NOW, make_app, make_endpoint, message

from hookline import ids
from hookline.errors import NotFound
from hookline.models import BackgroundTask, TaskKind, TaskParams, TaskStatus, TriggerType
from hookline.store.base import PageRequest, Store


def bulk_replay(app_id: str, endpoint_id: str) -> BackgroundTask:
    # messages get ids of the real clock, which moves on after NOW was taken at import
    wall = int(time.time() * 1000)
    return BackgroundTask(
        id=ids.new_id("qtask"),
        kind=TaskKind.BULK_REPLAY,
        status=TaskStatus.RUNNING,
        app_id=app_id,
        endpoint_id=endpoint_id,
        params=TaskParams(since_ms=wall - 3_600_000, until_ms=wall + 3_600_000),
        created_at=NOW,
        updated_at=NOW,
    )


async def test_task_advances_in_chunks_and_finishes_once(store: Store) -> None:
    app = await make_app(store)
    for _ in range(7):
        await store.publish(message(app), NOW)
    late = await make_endpoint(store, app)  # created after the messages: a backfill
    task = await store.create_task(bulk_replay(app.id, late.id))
    assert [t.id for t in await store.running_tasks()] == [task.id]
    progress = []
    while task.status is TaskStatus.RUNNING:
        task = await store.advance_task(task.id, NOW, chunk=3)
        progress.append(task.done_count)
    assert task.status is TaskStatus.FINISHED and task.done_count == 7
    assert progress == sorted(progress)
    ready = await store.ready_endpoints(NOW + 1, limit=10)
    tasks = await store.claim("w", [(r, 100) for r in ready], NOW + 1, 60_000)
    assert len(tasks) == 7 and {t.trigger for t in tasks} == {TriggerType.SCHEDULED}
    assert await store.running_tasks() == []
    listed = await store.list_tasks(PageRequest(limit=10), status=TaskStatus.FINISHED)
    assert [t.id for t in listed.data] == [task.id]


async def test_deleting_the_application_removes_its_tasks(store: Store) -> None:
    app = await make_app(store)
    ep = await make_endpoint(store, app)
    task = await store.create_task(bulk_replay(app.id, ep.id))
    await store.delete_application(app.id)
    with pytest.raises(NotFound):
        await store.get_task(task.id)


async def test_purge_drops_old_payloads_only(store: Store) -> None:
    app = await make_app(store)
    old = await store.publish(message(app, id=ids.boundary_id("msg", NOW - 10_000)), NOW)
    new = await store.publish(message(app), NOW)
    batch = await store.purge_expired(NOW - 5_000, limit=100)
    while not batch.done:
        batch = await store.purge_expired(NOW - 5_000, limit=100, resume=batch)
    assert (await store.get_message(app.id, old.message.id)).payload is None
    assert (await store.get_message(app.id, new.message.id)).payload == b'{"a":1}'
