"""The polling verbs on SQLite and PostgreSQL: a stream read between a cursor and a
settled bound, consumer cursors that only move forward unless sought, and cursors that go
with their endpoint and their application."""

from __future__ import annotations

import time

import pytest

from hookline import ids
from hookline.errors import NotFound
from hookline.models import (
    POLL_URL,
    Application,
    BackgroundTask,
    Endpoint,
    Message,
    TaskKind,
    TaskParams,
    TaskStatus,
)
from hookline.store.base import Store, StreamFilter

START = ids.boundary_id("msg", 0)


def now_ms() -> int:
    return int(time.time() * 1000)


async def app_with_sink(store: Store, url: str = POLL_URL) -> tuple[str, str]:
    t = now_ms()
    app = await store.create_application(
        Application(id=ids.new_id("app"), name="a", created_at=t, updated_at=t)
    )
    ep = await store.create_endpoint(
        Endpoint(
            id=ids.new_id("ep"),
            app_id=app.id,
            url=url,
            secret="whsec_" + "A" * 32,
            created_at=t,
            updated_at=t,
        )
    )
    return app.id, ep.id


async def publish(
    store: Store, app_id: str, event_type: str = "a", channels: list[str] | None = None
) -> str:
    t = now_ms()
    msg = Message(
        ids.new_id("msg", t), app_id, event_type, b'{"k": 1}', channels=channels, created_at=t
    )
    return (await store.publish(msg, t)).message.id


async def test_a_stream_reads_between_the_cursor_and_the_bound(store: Store) -> None:
    app, _ = await app_with_sink(store)
    sent = [await publish(store, app, event_type=t) for t in ("a", "b", "a", "a")]
    top = ids.boundary_id("msg", now_ms() + 1)
    page = await store.read_stream(app, START, top, StreamFilter(), 2)
    assert [m.id for m in page.messages] == sent[:2] and page.cursor == sent[1] and not page.done
    rest = await store.read_stream(app, page.cursor, top, StreamFilter(), 50)
    assert [m.id for m in rest.messages] == sent[2:] and rest.done
    # the bound is exclusive: nothing at or above it is handed out, nor passed by the cursor
    capped = await store.read_stream(app, START, sent[2], StreamFilter(), 50)
    assert [m.id for m in capped.messages] == sent[:2] and capped.cursor == sent[1]
    only_a = await store.read_stream(app, START, top, StreamFilter(event_types=["a"]), 50)
    assert [m.id for m in only_a.messages] == [sent[0], sent[2], sent[3]]
    assert only_a.cursor == sent[3]  # examined through the end, matched or not


async def test_channels_and_payload_filters_narrow_a_stream(store: Store) -> None:
    app, _ = await app_with_sink(store)
    eu = await publish(store, app, channels=["eu"])
    us = await publish(store, app, channels=["us"])
    top = ids.boundary_id("msg", now_ms() + 1)
    by_channel = await store.read_stream(app, START, top, StreamFilter(channels=["eu"]), 50)
    assert [m.id for m in by_channel.messages] == [eu]
    by_reader = await store.read_stream(app, START, top, StreamFilter(channel="us"), 50)
    assert [m.id for m in by_reader.messages] == [us]
    none = await store.read_stream(app, START, top, StreamFilter(payload_filter="k == `2`"), 50)
    assert none.messages == [] and none.done


async def test_a_commit_moves_forward_and_a_seek_either_way(store: Store) -> None:
    app, sink = await app_with_sink(store)
    first, second = await publish(store, app), await publish(store, app)
    assert await store.poll_cursor(app, sink, "c") is None
    assert await store.commit_poll_cursor(app, sink, "c", second, now_ms()) == second
    assert await store.commit_poll_cursor(app, sink, "c", first, now_ms()) == second  # late
    assert await store.poll_cursor(app, sink, "c") == second
    assert await store.commit_poll_cursor(app, sink, "c", first, now_ms(), seek=True) == first
    assert await store.poll_cursor(app, sink, "c") == first
    assert await store.poll_cursor(app, sink, "other") is None


async def test_only_a_polling_endpoint_of_the_app_keeps_cursors(store: Store) -> None:
    app, hook = await app_with_sink(store, url="https://example.com/h")
    _, theirs = await app_with_sink(store)
    for endpoint in (hook, theirs, "ep_missing"):
        with pytest.raises(NotFound):
            await store.commit_poll_cursor(app, endpoint, "c", START, now_ms())


@pytest.mark.parametrize("delete", ["endpoint", "application"])
async def test_cursors_go_with_their_endpoint_and_application(store: Store, delete: str) -> None:
    app, sink = await app_with_sink(store)
    other_app, other_sink = await app_with_sink(store)
    await store.commit_poll_cursor(app, sink, "c", START, now_ms())
    await store.commit_poll_cursor(other_app, other_sink, "c", START, now_ms())
    if delete == "endpoint":
        await store.delete_endpoint(app, sink)
    else:
        await store.delete_application(app)
    assert await store.poll_cursor(app, sink, "c") is None
    assert await store.poll_cursor(other_app, other_sink, "c") == START


async def test_a_replay_of_a_polling_endpoint_fails_and_queues_nothing(store: Store) -> None:
    app, sink = await app_with_sink(store)
    msg = await publish(store, app)
    t = now_ms()
    task = await store.create_task(
        BackgroundTask(
            id=ids.new_id("qtask"),
            kind=TaskKind.BULK_REPLAY,
            status=TaskStatus.RUNNING,
            app_id=app,
            endpoint_id=sink,
            params=TaskParams(since_ms=0, until_ms=t + 1),
            created_at=t,
            updated_at=t,
        )
    )
    done = await store.advance_task(task.id, now_ms(), 500)
    assert done.status is TaskStatus.FAILED and done.done_count == 0
    assert await store.list_deliveries(app, msg) == []
