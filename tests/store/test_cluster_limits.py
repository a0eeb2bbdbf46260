"""The per-endpoint limits hold across a cluster on PostgreSQL: several stores on one
database (each its own connections, as separate worker processes have), each with
several claiming tasks, claim, "send" and record at once, as real workers do.

What a claimer holds is counted here from the moment its claim returns until just
before it records the result, so the count never exceeds what the database holds as
``sending``: a count above an endpoint's cap is a cap the claims really broke.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from several_stores import several_stores
from test_store_contract import NOW, POLICY, make_app, make_endpoint, message, result_for

from hookline.config import Settings
from hookline.models import DeliveryResult, DeliveryTask
from hookline.runtime import open_store
from hookline.store.base import ClaimAsk, Store
from hookline.store.postgres import libpq_url

STORES = 3
TASKS_PER_STORE = 4
LEASE_MS = 60_000  # no lease runs out during a test: every slot is freed by a result
DEFAULT_CAP = 3  # two claims of ASK each must meet to reach it
ASK = 2  # what a claim asks of each endpoint
MESSAGES = 40
FIFO_SEEN = 12  # a FIFO line moves one claim and one result at a time: watch its start
RATE = 5  # the throttled endpoint's tokens a second (and its burst): short of MESSAGES


def ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
async def stores(tmp_path: Path, postgres_url: str) -> AsyncIterator[list[Store]]:
    async with several_stores(tmp_path, postgres_url, STORES, pool_size=4) as opened:
        yield opened


class Tracker:
    """What every claimer holds, per endpoint, and the most ever held at once."""

    def __init__(self) -> None:
        self.held: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.leased: dict[str, list[tuple[int, str]]] = defaultdict(list)  # (now, msg)

    def start(self, tasks: list[DeliveryTask], now_ms: int) -> None:
        for t in tasks:
            self.held[t.endpoint_id] += 1
            self.peak[t.endpoint_id] = max(self.peak[t.endpoint_id], self.held[t.endpoint_id])
            self.leased[t.endpoint_id].append((now_ms, t.msg_id))

    def end(self, tasks: list[DeliveryTask]) -> None:
        for t in tasks:
            self.held[t.endpoint_id] -= 1


def ok(t: DeliveryTask) -> DeliveryResult:
    return result_for(t.delivery_id, t.msg_id, t.endpoint_id, t.app_id, True, None, t.lease_until)


async def worker(store: Store, owner: str, tracker: Tracker, stop: asyncio.Event) -> None:
    """Claim, hold for a few milliseconds, record; every other round records and claims
    in one transaction, as a busy worker's flusher does."""
    tasks: list[DeliveryTask] = []
    rounds = 0
    while not stop.is_set():
        rounds += 1
        if not tasks:
            now = ms()
            ready = await store.ready_endpoints(now, limit=20)
            if not ready:
                await asyncio.sleep(0.005)
                continue
            tasks = await store.claim(owner, [(r, ASK) for r in ready], now, LEASE_MS, DEFAULT_CAP)
            tracker.start(tasks, now)
            continue
        await asyncio.sleep(random.uniform(0.01, 0.03))  # the sends
        tracker.end(tasks)
        results = [ok(t) for t in tasks]
        now = ms()
        if rounds % 2:
            await store.record_results(owner, results, now, POLICY)
            tasks = []
            continue
        ask = ClaimAsk(
            plan=lambda found: [(r, ASK) for r in found],
            lease_ms=LEASE_MS,
            default_max_in_flight=DEFAULT_CAP,
        )
        _, tasks = await store.record_and_claim(owner, results, now, POLICY, ask)
        tracker.start(tasks, now)


async def deadlocks(url: str) -> int:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


async def test_caps_fifo_and_rate_hold_across_concurrent_claimers(
    stores: list[Store], postgres_url: str
) -> None:
    a = stores[0]
    app = await make_app(a)
    capped = await make_endpoint(a, app, max_in_flight=2)
    fifo = await make_endpoint(a, app, fifo=True)
    throttled = await make_endpoint(a, app, rate_limit=RATE, max_in_flight=100)
    plain = [await make_endpoint(a, app) for _ in range(3)]
    published = []
    for _ in range(MESSAGES):
        published.append((await a.publish(message(app), ms())).message.id)

    deadlocks_before = await deadlocks(postgres_url)
    tracker = Tracker()
    stop = asyncio.Event()
    started = ms()
    workers = [
        asyncio.create_task(worker(s, f"w{i}-{j}", tracker, stop))
        for i, s in enumerate(stores)
        for j in range(TASKS_PER_STORE)
    ]
    try:
        async with asyncio.timeout(60):  # a hang, not a speed limit
            while len(tracker.leased[fifo.id]) < FIFO_SEEN or not all(
                len(tracker.leased[ep.id]) >= MESSAGES for ep in [capped, *plain]
            ):
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.gather(*workers)
    elapsed_s = (ms() - started) / 1000

    assert tracker.peak[capped.id] == 2  # reached, never passed
    assert tracker.peak[fifo.id] == 1
    assert all(tracker.peak[ep.id] <= DEFAULT_CAP for ep in plain)
    line = [m for _, m in tracker.leased[fifo.id]]
    assert len(line) >= FIFO_SEEN and line == published[: len(line)]  # in order, each once
    for ep in (capped, *plain):
        assert sorted(m for _, m in tracker.leased[ep.id]) == sorted(published)  # each once
    took = len(tracker.leased[throttled.id])
    assert len({m for _, m in tracker.leased[throttled.id]}) == took
    assert took <= RATE + RATE * elapsed_s + 1  # burst + refill over the whole run
    assert took >= min(MESSAGES, RATE)  # it was served: at least its burst

    for store in stores:
        await store.close()
    stores.clear()
    # one lock order everywhere (the count is flushed as the connections close)
    assert await deadlocks(postgres_url) == deadlocks_before


async def test_the_breaker_probe_stays_single_across_concurrent_claimers(
    stores: list[Store],
) -> None:
    a = stores[0]
    app = await make_app(a)
    ep = await make_endpoint(a, app, max_in_flight=100)
    now = NOW  # the failed attempts' time, from which the cool-down runs
    for _ in range(10):
        await a.publish(message(app), now)
    ready = await a.ready_endpoints(now, limit=10)
    failing = await a.claim("w", [(ready[0], POLICY.breaker.threshold)], now, LEASE_MS)
    await a.record_results(
        "w",
        [
            result_for(t.delivery_id, t.msg_id, ep.id, app.id, False, now, t.lease_until)
            for t in failing
        ],
        now,
        POLICY,
    )
    paused = (await a.endpoint_stats(ep.id, now)).paused_until
    assert paused is not None and paused > now  # open, cooling down
    after = paused + 1
    # every pool thread connected first, so the claims below start together
    await asyncio.gather(*(s.ready_endpoints(now, 1) for s in stores for _ in range(16)))
    claims = [
        s.claim(f"w{i}-{j}-{r}", [(ready[0], 5)], after + r, LEASE_MS)
        for i, s in enumerate(stores)
        for j in range(TASKS_PER_STORE)
        for r in range(3)
    ]
    leased = [t for batch in await asyncio.gather(*claims) for t in batch]
    assert len(leased) == 1


async def attempted(url: str, delivery_ids: list[str]) -> set[str]:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        found = conn.execute(
            "SELECT delivery_id FROM attempt WHERE delivery_id = ANY(%s)", (delivery_ids,)
        ).fetchall()
    return {r[0] for r in found}


async def test_a_result_under_a_lease_another_store_took_over_writes_nothing(
    stores: list[Store], postgres_url: str
) -> None:
    a, b = stores[0], stores[1]
    app = await make_app(a)
    await make_endpoint(a, app, max_in_flight=100)
    now = ms()
    await a.publish(message(app), now)
    ready = await a.ready_endpoints(now, limit=10)
    # one owner name for both: the lease (its expiry) tells the two claims apart
    (old,) = await a.claim("w", [(ready[0], 1)], now, 1000)
    (new,) = await b.claim("w", [(ready[0], 1)], now + 1001, LEASE_MS)  # a's lease ran out
    assert new.delivery_id == old.delivery_id
    assert await a.record_results("w", [ok(old)], now + 1002, POLICY) == 1  # stale
    assert await attempted(postgres_url, [old.delivery_id]) == set()
    assert await b.record_results("w", [ok(new)], now + 1003, POLICY) == 0
    assert await attempted(postgres_url, [old.delivery_id]) == {old.delivery_id}


async def test_a_late_result_racing_a_takeover_never_lands_with_it(
    stores: list[Store], postgres_url: str
) -> None:
    """A worker records results while another claims the same deliveries, their leases
    having run out: each delivery goes to one of them, never to both (the result's
    lease check and its update are one step under the row's lock)."""
    a, b = stores[0], stores[1]
    app = await make_app(a)
    await make_endpoint(a, app, max_in_flight=10_000)
    both: set[str] = set()
    for _ in range(6):
        now = ms()
        for _ in range(30):
            await a.publish(message(app), now)
        ready = await a.ready_endpoints(now, limit=10)
        held = await a.claim("a", [(ready[0], 30)], now, 1000, 10_000)
        assert len(held) == 30
        later = now + 1500
        recorded, taken = await asyncio.gather(
            a.record_results("a", [ok(t) for t in held], later, POLICY),
            b.claim("b", [(ready[0], 30)], later, LEASE_MS, 10_000),
        )
        ids_ = [t.delivery_id for t in held]
        landed = await attempted(postgres_url, ids_)
        assert len(landed) == 30 - recorded
        both |= landed & {t.delivery_id for t in taken}
        assert landed | {t.delivery_id for t in taken} == set(ids_)  # none left behind
        await b.record_results("b", [ok(t) for t in taken], later + 1, POLICY)
    assert both == set()


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The most spans open at one instant (an end sorts before a start at the same time:
    a slot freed and taken in one instant is not two at once)."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = held = 0
    for _, step in edges:
        held += step
        most = max(most, held)
    return most


async def test_caps_and_fifo_hold_across_worker_processes(
    tmp_path: Path, postgres_url: str
) -> None:
    settings = Settings(data_dir=tmp_path, database_url=postgres_url)
    store = open_store(settings, migrated=True)
    await store.open()
    try:
        app = await make_app(store)
        capped = await make_endpoint(store, app, max_in_flight=2)
        fifo = await make_endpoint(store, app, fifo=True)
        plain = await make_endpoint(store, app)
        published = [(await store.publish(message(app), ms())).message.id for _ in range(8)]
    finally:
        await store.close()
    script = Path(__file__).with_name("cluster_claimer.py")
    logs = [tmp_path / f"claimer{i}.jsonl" for i in range(3)]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, str(script), postgres_url, f"p{i}", str(log), str(tmp_path)
        )
        for i, log in enumerate(logs)
    ]
    try:
        async with asyncio.timeout(90):  # a hang, not a speed limit
            codes = [await p.wait() for p in procs]
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
    assert codes == [0, 0, 0]
    held: dict[str, list[tuple[str, str, float, float]]] = defaultdict(list)
    by_process = Counter[int]()
    for i, log in enumerate(logs):
        for line in log.read_text().splitlines():
            ep, msg, _, start, end = json.loads(line)
            held[ep].append((msg, start, end))
            by_process[i] += 1
    assert len([n for n in by_process.values() if n]) >= 2  # the work was shared
    for ep in (capped, fifo, plain):
        assert sorted(m for m, _, _ in held[ep.id]) == sorted(published)  # each once
    spans = {ep: [(s, e) for _, s, e in rows] for ep, rows in held.items()}
    assert most_at_once(spans[capped.id]) == 2
    assert most_at_once(spans[fifo.id]) == 1
    assert most_at_once(spans[plain.id]) <= 3  # the claimers' default cap
    assert [m for m, _, _ in sorted(held[fifo.id], key=lambda r: r[1])] == published
