"""Keyset pages walk both ways, as Svix's do: forward with ``iterator``, back with the
``-`` iterator ``prev_iterator`` holds, every item exactly once and in the list's order
whatever the page size, ``done`` right at both ends. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hookline import ids
from hookline.errors import ValidationFailed
from hookline.models import (
    Application,
    BackgroundTask,
    Endpoint,
    EventType,
    Message,
    Page,
    TaskKind,
    TaskParams,
    TaskStatus,
)
from hookline.signing import generate_secret
from hookline.store.base import MessageFilter, PageRequest, Store

NOW = 1_700_000_000_000  # every item of a list made in the same millisecond
COUNT = 7
Fetch = Callable[[PageRequest], Awaitable[Page[Any]]]


def key(item: Any) -> str:
    return str(item.name if isinstance(item, EventType) else item.id)


def keys(page: Page[Any]) -> list[str]:
    return [key(item) for item in page.data]


async def walk(fetch: Fetch, limit: int, reverse: bool, expected: list[str]) -> None:
    """Forward to the end, then back with prevIterator to the start: the same pages."""

    async def at(iterator: str | None) -> Page[Any]:
        return await fetch(PageRequest(limit=limit, iterator=iterator, reverse=reverse))

    forward = [await at(None)]
    while not forward[-1].done:
        assert len(forward[-1].data) == limit  # not done: the page was full
        forward.append(await at(forward[-1].iterator))
        assert len(forward) <= COUNT + 1, "the walk does not end"
    assert [k for page in forward for k in keys(page)] == expected, limit
    back = [forward[-1]]
    while len(back) < len(forward):
        assert back[0].prev_iterator is not None
        before = await at(back[0].prev_iterator)
        assert keys(before) == keys(forward[-len(back) - 1]), (limit, len(back))
        # each page reached back says whether anything is before it
        assert before.done is (len(back) + 1 == len(forward)), (limit, len(back))
        # and its iterator continues forward: the page it was reached from comes next
        assert keys(await at(before.iterator)) == keys(back[0])
        back.insert(0, before)
    assert back[0].prev_iterator is not None
    start = await at(back[0].prev_iterator)
    assert start.data == [] and start.done
    assert keys(await at(start.iterator)) == keys(forward[0])  # and forward from there


async def check_list(fetch: Fetch, made: list[str], *, reverse: bool) -> None:
    expected = sorted(made, reverse=reverse)
    assert keys(await fetch(PageRequest(limit=COUNT + 1, reverse=reverse))) == expected
    for limit in (1, 2, 3, COUNT - 1, COUNT, COUNT + 1):
        await walk(fetch, limit, reverse, expected)


async def make_app(store: Store, n: int) -> Application:
    return await store.create_application(
        Application(id=ids.new_id("app", NOW), name=f"a{n}", created_at=NOW, updated_at=NOW)
    )


@pytest.mark.parametrize("reverse", [False, True])
async def test_applications_walk_both_ways(store: Store, reverse: bool) -> None:
    made = [(await make_app(store, n)).id for n in range(COUNT)]
    await check_list(store.list_applications, made, reverse=reverse)


async def test_endpoints_walk_both_ways(store: Store) -> None:
    app = await make_app(store, 0)
    made = []
    for _ in range(COUNT):
        ep = Endpoint(
            id=ids.new_id("ep", NOW),
            app_id=app.id,
            url="http://127.0.0.1:9/hook",
            secret=generate_secret(),
            created_at=NOW,
            updated_at=NOW,
        )
        made.append((await store.create_endpoint(ep)).id)
    for reverse in (False, True):
        await check_list(lambda p: store.list_endpoints(app.id, p), made, reverse=reverse)


async def test_event_types_walk_both_ways_by_name(store: Store) -> None:
    names = [f"{word}.done" for word in ("b", "a-b", "a", "c_d", "-x", "a.b", "z")]
    for name in names:
        await store.create_event_type(EventType(name=name, created_at=NOW, updated_at=NOW))
    for reverse in (False, True):
        await check_list(lambda p: store.list_event_types(p, False), names, reverse=reverse)


async def test_messages_walk_both_ways_newest_first(store: Store) -> None:
    app = await make_app(store, 0)
    made = []
    for _ in range(COUNT):
        msg = Message(
            id=ids.new_id("msg", NOW),
            app_id=app.id,
            event_type="a.b",
            payload=b"{}",
            created_at=NOW,
        )
        await store.publish(msg, NOW)
        made.append(msg.id)
    await check_list(lambda p: store.list_messages(app.id, MessageFilter(), p), made, reverse=True)


async def test_tasks_walk_both_ways(store: Store) -> None:
    app = await make_app(store, 0)
    made = []
    for _ in range(COUNT):
        task = BackgroundTask(
            id=ids.new_id("qtask", NOW),
            kind=TaskKind.RECOVER,
            status=TaskStatus.FINISHED,
            app_id=app.id,
            endpoint_id=None,
            params=TaskParams(since_ms=NOW, until_ms=NOW),
            created_at=NOW,
            updated_at=NOW,
        )
        made.append((await store.create_task(task)).id)
    for reverse in (False, True):
        await check_list(store.list_tasks, made, reverse=reverse)


@pytest.mark.parametrize(
    "iterator",
    ["zzzz", "-zzzz", "ep_" + "0" * 27, "app_" + "0" * 26, "app_" + "!" * 27, "-", "app"],
)
async def test_an_iterator_of_another_list_or_none_is_refused(store: Store, iterator: str) -> None:
    await make_app(store, 0)
    with pytest.raises(ValidationFailed):
        await store.list_applications(PageRequest(iterator=iterator))


async def test_after_walks_up_from_the_cut_and_answers_newest_first(store: Store) -> None:
    """``back`` without an iterator (``after=``): the oldest items first reached, in the
    list's order; the iterator then continues toward older items (none past the cut)."""
    app = await make_app(store, 0)
    made = []
    for _ in range(5):
        msg = Message(
            id=ids.new_id("msg", NOW),
            app_id=app.id,
            event_type="a.b",
            payload=b"{}",
            created_at=NOW,
        )
        await store.publish(msg, NOW)
        made.append(msg.id)
    fetch = lambda p: store.list_messages(app.id, MessageFilter(), p)  # noqa: E731
    page = await fetch(PageRequest(limit=2, reverse=True, back=True))
    assert [m.id for m in page.data] == [made[1], made[0]] and not page.done
    newer = await fetch(PageRequest(limit=2, iterator=page.prev_iterator, reverse=True))
    assert [m.id for m in newer.data] == [made[3], made[2]] and not newer.done
    older = await fetch(PageRequest(limit=2, iterator=page.iterator, reverse=True))
    assert older.data == [] and older.done
