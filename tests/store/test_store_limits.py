"""Per-endpoint limits held by the store: several store instances on one database (one
SQLite file, or one PostgreSQL database: separate connections, as separate worker
processes have) claim for the same endpoints, and the limits hold between them because
the claim itself enforces them.

Each test plans from one ``ready_endpoints`` read taken before any claim, as racing
workers do, so what is checked is the claim's authority, not the readers' hint.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from test_store_contract import NOW, POLICY, make_app, make_endpoint, message, result_for

from hookline import ids
from hookline.config import Settings
from hookline.models import Application, DeliveryTask, ReadyEndpoint
from hookline.runtime import open_store
from hookline.store.base import ClaimAsk, Store

LEASE_MS = 60_000
OWNER = "w"  # one owner for every store: leases are fenced by their expiry as well


@pytest.fixture
async def stores(tmp_path: Path, database_url: str | None) -> AsyncIterator[list[Store]]:
    settings = Settings(data_dir=tmp_path, sqlite_synchronous="NORMAL", database_url=database_url)
    opened: list[Store] = []
    try:
        for _ in range(3):
            store = open_store(settings, migrated=database_url is not None)
            await store.open()
            opened.append(store)
        yield opened
    finally:
        for store in opened:
            await store.close()


async def claim_all(
    stores: Sequence[Store],
    ready: Sequence[ReadyEndpoint],
    now_ms: int,
    wanted: int = 10,
    lease_ms: int = LEASE_MS,
    default_cap: int = 8,
) -> list[DeliveryTask]:
    """Every store claims ``wanted`` of every endpoint in ``ready`` at once."""
    batches = await asyncio.gather(
        *(
            s.claim(OWNER, [(r, wanted) for r in ready], now_ms, lease_ms, default_cap)
            for s in stores
        )
    )
    return [t for batch in batches for t in batch]


async def done(store: Store, task: DeliveryTask, now_ms: int) -> None:
    result = result_for(
        task.delivery_id, task.msg_id, task.endpoint_id, task.app_id, True, None, task.lease_until
    )
    await store.record_results(OWNER, [result], now_ms, POLICY)


async def publish(store: Store, app: Application, n: int) -> list[str]:
    return [(await store.publish(message(app), NOW)).message.id for _ in range(n)]


async def test_in_flight_cap_holds_across_stores(stores: list[Store]) -> None:
    a, b = stores[0], stores[1]
    app = await make_app(a)
    await make_endpoint(a, app, max_in_flight=3)
    await publish(a, app, 20)
    ready = await a.ready_endpoints(NOW, limit=10)
    first = await claim_all(stores, ready, NOW)
    assert len(first) == 3
    assert await claim_all(stores, ready, NOW + 1) == []
    # at its cap the endpoint leaves the readers' view until a result comes in
    assert await a.ready_endpoints(NOW + 1, limit=10) == []
    await done(b, first[0], NOW + 2)
    assert len(await a.ready_endpoints(NOW + 2, limit=10)) == 1
    assert len(await claim_all(stores, ready, NOW + 2)) == 1


async def test_default_cap_applies_to_endpoints_without_their_own(stores: list[Store]) -> None:
    a = stores[0]
    app = await make_app(a)
    await make_endpoint(a, app)
    await publish(a, app, 10)
    ready = await a.ready_endpoints(NOW, limit=10)
    assert len(await claim_all(stores, ready, NOW, default_cap=2)) == 2


async def test_an_expired_lease_frees_its_slot(stores: list[Store]) -> None:
    a, b = stores[0], stores[1]
    app = await make_app(a)
    await make_endpoint(a, app, max_in_flight=2)
    await publish(a, app, 6)
    ready = await a.ready_endpoints(NOW, limit=10)
    assert len(await claim_all([a], ready, NOW, lease_ms=1000)) == 2
    assert await claim_all([b], ready, NOW + 500) == []
    # the first worker died: its leases ran out, so its two slots are free again
    assert len(await claim_all([b], ready, NOW + 1001)) == 2


async def test_a_rate_limit_bucket_is_shared_and_pauses_the_endpoint(stores: list[Store]) -> None:
    a = stores[0]
    app = await make_app(a)
    await make_endpoint(a, app, rate_limit=5, max_in_flight=100)
    await publish(a, app, 30)
    ready = await a.ready_endpoints(NOW, limit=10)
    assert len(await claim_all(stores, ready, NOW)) == 5  # one second's worth, in all
    # out of tokens with work still due: paused until the next token (1/5 s later)
    assert await a.ready_endpoints(NOW, limit=10) == []
    assert await a.next_due_at() == NOW + 200
    assert await claim_all(stores, ready, NOW + 100) == []
    assert len(await claim_all(stores, ready, NOW + 400)) == 2  # refilled at 5 a second
    assert len(await claim_all(stores, ready, NOW + 10_000)) == 5  # never more than a burst


async def test_an_application_rate_limit_is_shared_by_its_endpoints(stores: list[Store]) -> None:
    a = stores[0]
    app = await a.create_application(
        Application(id=ids.new_id("app"), name="acme", rate_limit=4, created_at=NOW, updated_at=NOW)
    )
    for _ in range(3):
        await make_endpoint(a, app, max_in_flight=100)
    await publish(a, app, 10)
    ready = await a.ready_endpoints(NOW, limit=10)
    assert len(ready) == 3
    assert len(await claim_all(stores, ready, NOW)) == 4
    assert await claim_all(stores, ready, NOW + 100) == []


async def test_tokens_for_rows_not_due_are_given_back(stores: list[Store]) -> None:
    a = stores[0]
    app = await make_app(a)
    await make_endpoint(a, app, rate_limit=5, max_in_flight=100)
    await publish(a, app, 2)
    ready = await a.ready_endpoints(NOW, limit=10)
    assert len(await claim_all(stores[:1], ready, NOW)) == 2  # asked for 10, 2 were due
    await publish(a, app, 10)
    assert len(await claim_all(stores, ready, NOW)) == 3


async def test_a_fifo_endpoint_never_has_two_leased(stores: list[Store]) -> None:
    a = stores[0]
    app = await make_app(a)
    await make_endpoint(a, app, fifo=True)
    published = await publish(a, app, 5)
    ready = await a.ready_endpoints(NOW, limit=10)
    order: list[str] = []
    for step in range(5):
        tasks = await claim_all(stores, ready, NOW + step)
        assert len(tasks) == 1
        assert await claim_all(stores, ready, NOW + step) == []
        order.append(tasks[0].msg_id)
        await done(stores[step % 3], tasks[0], NOW + step)
    assert order == published


async def test_an_open_breaker_lets_one_probe_out_across_stores(stores: list[Store]) -> None:
    a = stores[0]
    app = await make_app(a)
    ep = await make_endpoint(a, app, max_in_flight=100)
    await publish(a, app, 10)
    ready = await a.ready_endpoints(NOW, limit=10)
    failing = await claim_all(stores[:1], ready, NOW, wanted=POLICY.breaker.threshold)
    await a.record_results(
        OWNER,
        [
            result_for(t.delivery_id, t.msg_id, ep.id, app.id, False, NOW + 1, t.lease_until)
            for t in failing
        ],
        NOW,
        POLICY,
    )
    stats = await a.endpoint_stats(ep.id, NOW)
    assert stats.paused_until is not None and stats.paused_until > NOW  # open, cooling down
    assert await claim_all(stores, ready, NOW + 1) == []
    after = stats.paused_until + 1
    assert len(await claim_all(stores, ready, after)) == 1
    assert await claim_all(stores, ready, after + 1) == []


async def test_recording_results_and_claiming_share_one_transaction(stores: list[Store]) -> None:
    """A busy worker records its results and claims the next deliveries in one commit;
    the claim reads the endpoints after the results are in, so it sees the slots they
    free (read before them, the endpoint at its cap would not even look due)."""
    a, b = stores[0], stores[1]
    app = await make_app(a)
    await make_endpoint(a, app, max_in_flight=2)
    await publish(a, app, 5)
    ready = await a.ready_endpoints(NOW, limit=10)
    first = await claim_all(stores[:1], ready, NOW)
    assert len(first) == 2
    results = [
        result_for(t.delivery_id, t.msg_id, t.endpoint_id, t.app_id, True, None, t.lease_until)
        for t in first
    ]
    asked: list[int] = []

    def plan(found: Sequence[ReadyEndpoint]) -> list[tuple[ReadyEndpoint, int]]:
        asked.append(len(found))
        return [(r, 10) for r in found]

    dropped, tasks = await a.record_and_claim(
        OWNER, results, NOW + 1, POLICY, ClaimAsk(plan=plan, lease_ms=LEASE_MS)
    )
    assert dropped == 0
    assert asked == [1]
    assert len(tasks) == 2  # the cap again, from the two slots just freed
    assert {t.delivery_id for t in tasks}.isdisjoint({t.delivery_id for t in first})
    # the cap still holds against another process between the two steps
    assert await claim_all(stores[1:], ready, NOW + 2) == []
    stale, more = await b.record_and_claim(
        OWNER, results, NOW + 3, POLICY, ClaimAsk(plan=plan, lease_ms=LEASE_MS)
    )
    assert (stale, more) == (2, [])  # already recorded: nothing written, nothing freed
