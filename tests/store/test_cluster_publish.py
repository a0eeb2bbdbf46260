"""Publishes and fan-outs from many processes at once on PostgreSQL: none refused,
none doubled, none spinning.

Three stores on one database stand for three API processes, each publishing from many
tasks at once. Publishes to one endpoint all touch its due time, so run SERIALIZABLE
they abort each other until the store gives up (a 503 at the API); they must not. And
the checks a publish makes before it inserts (an application's uid, an eventId, an
Idempotency-Key) must still let exactly one of a set of concurrent repeats through.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from several_stores import several_stores
from test_store_contract import NOW, POLICY, claim_due, make_app, make_endpoint, message, result_for

from hookline import ids
from hookline.delivery.fanout import Fanout, FanoutConfig
from hookline.models import Application
from hookline.store.base import FanoutStep, MessageFilter, PageRequest, PublishKey, Store
from hookline.store.postgres import libpq_url
from hookline.store.sql_fanout import INLINE_FANOUT

STORES = 3
TASKS = 8  # per store
EACH = 15  # publishes per task


@pytest.fixture
async def stores(tmp_path: Path, postgres_url: str) -> AsyncIterator[list[Store]]:
    async with several_stores(tmp_path, postgres_url, STORES, pool_size=TASKS) as opened:
        yield opened


async def everywhere(stores: list[Store], job: object) -> list[object]:
    """``job(store, n)`` from TASKS tasks on every store, all at once."""
    runs = [job(store, n) for store in stores for n in range(TASKS)]  # type: ignore[operator]
    return await asyncio.gather(*runs)


async def all_messages(store: Store, app_id: str) -> list[str]:
    found: list[str] = []
    iterator: str | None = None
    while True:
        page = await store.list_messages(
            app_id, MessageFilter(), PageRequest(limit=100, iterator=iterator)
        )
        found += [m.id for m in page.data]
        if page.done:
            return found
        iterator = page.iterator


async def test_concurrent_publishes_to_one_endpoint_are_all_accepted(stores: list[Store]) -> None:
    """...while a worker drains the endpoints, moving their due times as workers do."""
    app = await make_app(stores[0])
    endpoints = [await make_endpoint(stores[0], app) for _ in range(2)]
    publishing = True

    async def publish_many(store: Store, _: int) -> int:
        for _ in range(EACH):
            await store.publish(message(app), NOW)  # a StoreError fails the test
        return EACH

    async def drain() -> int:
        done = 0
        while publishing:
            tasks = await claim_due(stores[0], "w", 20, NOW, 60_000)
            results = [
                result_for(
                    t.delivery_id, t.msg_id, t.endpoint_id, t.app_id, True, None, t.lease_until
                )
                for t in tasks
            ]
            done += len(results) - await stores[0].record_results("w", results, NOW, POLICY)
            await asyncio.sleep(0)
        return done

    draining = asyncio.ensure_future(drain())
    try:
        published = sum(await everywhere(stores, publish_many))  # type: ignore[arg-type]
    finally:
        publishing = False
        delivered = await draining
    assert published == STORES * TASKS * EACH
    # below SERIALIZABLE, publishes neither abort each other nor a worker's transactions
    assert [store.reruns for store in stores] == [0] * STORES  # type: ignore[attr-defined]
    assert len(await all_messages(stores[1], app.id)) == published
    counts = [await stores[2].endpoint_stats(ep.id, NOW) for ep in endpoints]
    # every message fanned out to both endpoints, once
    assert sum(c.pending + c.success for c in counts) == 2 * published, counts
    assert sum(c.success for c in counts) == delivered > 0


async def test_concurrent_repeats_of_a_key_an_event_id_or_a_new_uid_publish_once(
    stores: list[Store],
) -> None:
    app = await make_app(stores[0])
    await make_endpoint(stores[0], app)
    key = PublishKey(key="k-" + ids.new_id("t"))
    uid = "new-" + ids.new_id("t")
    new_app = Application(id=ids.new_id("app"), uid=uid, name=uid, created_at=NOW, updated_at=NOW)

    async def repeat(store: Store, n: int) -> tuple[str, str, str]:
        keyed = await store.publish(message(app), NOW, idempotency=key)
        evented = await store.publish(message(app, event_id="evt-1"), NOW)
        first = message(app)
        first.app_id = uid
        created = await store.publish(first, NOW, new_app=new_app)
        return keyed.message.id, evented.message.id, created.message.app_id

    outcomes = await everywhere(stores, repeat)
    keyed_ids, event_ids, app_ids = zip(*outcomes, strict=True)  # type: ignore[call-overload]
    assert len(set(keyed_ids)) == 1 and len(set(event_ids)) == 1 and len(set(app_ids)) == 1
    assert len(await all_messages(stores[0], app.id)) == 2  # the keyed one, the evented one
    under_uid = await stores[0].get_application(uid)
    assert under_uid.id == app_ids[0]


class CountingStore:
    """The real store, counting the fan-out role's calls to it."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.batches = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def fan_out(self, msg_id: str, now_ms: int, batch_size: int) -> FanoutStep:
        self.batches += 1
        return await self._store.fan_out(msg_id, now_ms, batch_size)


async def test_a_fanout_another_process_holds_is_waited_for_not_polled_hard(
    stores: list[Store], postgres_url: str
) -> None:
    """While another process holds a message's fan-out row (its batch under way), the
    role here waits for a wake-up or its poll, not round after round of empty batches."""
    app = await make_app(stores[0])
    for _ in range(INLINE_FANOUT + 4):
        await make_endpoint(stores[0], app)
    outcome = await stores[0].publish(message(app), NOW)
    assert outcome.background
    counting = CountingStore(stores[1])
    role = Fanout(counting, FanoutConfig(batch_size=5, poll_interval=0.25))  # type: ignore[arg-type]
    with psycopg.connect(libpq_url(postgres_url)) as holder:  # another process's batch
        holder.execute("SELECT 1 FROM fanout WHERE msg_id = %s FOR UPDATE", (outcome.message.id,))
        running = asyncio.create_task(role.run())
        await asyncio.sleep(1.5)
        blocked_batches = counting.batches
        holder.rollback()  # the other process is done (here: gave up), the row is free
        async with asyncio.timeout(20):
            while role.finished < 1:
                await asyncio.sleep(0.05)
    role.stop()
    await running
    assert role.deliveries == INLINE_FANOUT + 4
    assert 1 <= blocked_batches <= 10, blocked_batches  # about one a poll, not hundreds
