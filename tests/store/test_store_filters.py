"""Payload filters at fan-out: a costly filter is no match, and it holds up no one else."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable

from test_store_contract import NOW, make_app, make_endpoint, message
from test_store_tasks import bulk_replay

from hookline.models import Message, TaskStatus
from hookline.store.base import Store

# The reported filter (221 characters): each `[@,@][]` doubles the list.
DOUBLING = "a" + " | [@,@][]" * 22
PAYLOAD = b'{"a":[1],"b":[1],"c":[1],"ok":true}'


async def test_a_costly_filter_is_no_match_and_the_others_still_deliver(store: Store) -> None:
    app = await make_app(store)
    costly = await make_endpoint(store, app, payload_filter=DOUBLING)
    plain = await make_endpoint(store, app)
    cheap = await make_endpoint(store, app, payload_filter="ok && a[0] == `1`")
    outcome = await store.publish(message(app, payload=PAYLOAD), NOW)
    assert outcome.deliveries == 2
    delivered = {d.endpoint_id for d in await store.list_deliveries(app.id, outcome.message.id)}
    assert delivered == {plain.id, cheap.id}
    assert costly.id not in delivered


async def timed_publish(store: Store, msg: Message) -> float:
    started = time.perf_counter()
    await store.publish(msg, NOW)
    return time.perf_counter() - started


async def assert_not_held_back(store: Store, slow: Awaitable[object]) -> None:
    """A publish to another application while ``slow`` runs neither waits for it nor
    takes much longer than the same publish alone."""
    other_app = await make_app(store)
    await make_endpoint(store, other_app)
    baseline = statistics.median(
        [await timed_publish(store, message(other_app, payload=PAYLOAD)) for _ in range(5)]
    )
    started = time.perf_counter()
    running = asyncio.ensure_future(slow)
    await asyncio.sleep(0.02)  # the slow work is under way
    latency = await timed_publish(store, message(other_app, payload=PAYLOAD))
    assert not running.done(), "the other application's publish waited for the slow work"
    await running
    slow_latency = time.perf_counter() - started
    assert latency < slow_latency / 4, (latency, slow_latency)
    # Generous: the filter's thread still competes for the interpreter lock, and CI is busy.
    assert latency < max(baseline, 0.01) * 50, (latency, baseline)


async def test_a_costly_filter_holds_back_no_other_application(store: Store) -> None:
    slow_app = await make_app(store)
    for name in "abc":  # three different costly expressions, all evaluated per publish
        await make_endpoint(store, slow_app, payload_filter=DOUBLING.replace("a", name, 1))
    await assert_not_held_back(store, store.publish(message(slow_app, payload=PAYLOAD), NOW))


async def test_a_replay_with_a_costly_filter_holds_back_no_other_application(
    store: Store,
) -> None:
    app = await make_app(store)
    for _ in range(3):
        await store.publish(message(app, payload=PAYLOAD), NOW)
    costly = await make_endpoint(store, app, payload_filter=DOUBLING)
    task = await store.create_task(bulk_replay(app.id, costly.id))
    await assert_not_held_back(store, store.advance_task(task.id, NOW, chunk=500))


async def test_a_replay_skips_messages_whose_filter_overruns(store: Store) -> None:
    app = await make_app(store)
    for _ in range(2):
        await store.publish(message(app, payload=PAYLOAD), NOW)
    costly = await make_endpoint(store, app, payload_filter=DOUBLING)
    cheap = await make_endpoint(store, app, payload_filter="ok")
    for ep, expected in ((costly, 0), (cheap, 2)):
        task = await store.create_task(bulk_replay(app.id, ep.id))
        while task.status is TaskStatus.RUNNING:
            task = await store.advance_task(task.id, NOW, chunk=500)
        assert (task.status, task.done_count) == (TaskStatus.FINISHED, expected)


async def test_filters_changed_between_publishes_apply_to_the_next_one(store: Store) -> None:
    """Filters are evaluated ahead from what the last publish found; an endpoint added
    or changed since must still be judged by its current filter."""
    app = await make_app(store)
    plain = await make_endpoint(store, app)

    async def delivered_to() -> set[str]:
        outcome = await store.publish(message(app, payload=PAYLOAD), NOW)
        return {d.endpoint_id for d in await store.list_deliveries(app.id, outcome.message.id)}

    assert await delivered_to() == {plain.id}
    yes = await make_endpoint(store, app, payload_filter="ok")
    no = await make_endpoint(store, app, payload_filter="missing")
    assert await delivered_to() == {plain.id, yes.id}
    yes.payload_filter, no.payload_filter = "missing", "a[0] == `1`"
    await store.update_endpoint(yes)
    await store.update_endpoint(no)
    assert await delivered_to() == {plain.id, no.id}
    assert await delivered_to() == {plain.id, no.id}
