"""The dashboard's reads, on every backend: charts, queue depth, endpoint health, the
message search and the live tail, from messages published and attempts recorded through
the store's own verbs; each chart is checked before the rollups are folded, half
folded and fully folded, which must all agree."""

from __future__ import annotations

import time

import pytest

from hookline import ids
from hookline.breaker import HealthPolicy
from hookline.models import (
    Application,
    Attempt,
    DeliveryResult,
    DeliveryStatus,
    Endpoint,
    ErrorKind,
    Message,
    MessageSearch,
    TriggerType,
)
from hookline.signing import generate_secret
from hookline.store import insight_search
from hookline.store.base import PageRequest, Store

MIN = 60_000
HOUR = 60 * MIN
# Ids are made in time order, so every record here lies in the future: after the ids
# the fixtures make now. An hour boundary, so minute and hour buckets line up.
BASE = (int(time.time() * 1000) // HOUR + 2) * HOUR
POLICY = HealthPolicy()
MAX_PAGES = 50  # a paging loop that runs longer is stuck on one iterator
Outcome = tuple[bool, int] | tuple[bool, int, ErrorKind | None, int]


async def make_app(store: Store) -> Application:
    return await store.create_application(Application(id=ids.new_id("app"), name="acme"))


async def make_endpoint(store: Store, app: Application) -> Endpoint:
    return await store.create_endpoint(
        Endpoint(
            id=ids.new_id("ep"),
            app_id=app.id,
            url="http://127.0.0.1:9/hook",
            secret=generate_secret(),
        )
    )


async def publish(
    store: Store, app: Application, at: int, event_type: str = "invoice.paid", **kw: object
) -> Message:
    msg = Message(
        id=ids.new_id("msg", at),
        app_id=app.id,
        event_type=event_type,
        payload=b'{"a":1}',
        created_at=at,
    )
    for key, value in kw.items():
        setattr(msg, key, value)
    return (await store.publish(msg, at)).message


async def deliver(store: Store, at: int, outcomes: list[Outcome]) -> list[Attempt]:
    """Claim every due delivery at ``at`` and record one outcome for each, in claim
    order: (ok, duration) or (ok, duration, error kind, HTTP status). Final, no retry."""
    ready = await store.ready_endpoints(at, limit=100)
    tasks = await store.claim("w", [(r, 100) for r in ready], at, 60_000, 10_000)
    tasks.sort(key=lambda t: t.delivery_id)
    assert len(tasks) == len(outcomes), "one outcome per due delivery"
    results = []
    for task, outcome in zip(tasks, outcomes, strict=True):
        ok, duration = outcome[0], outcome[1]
        kind = outcome[2] if len(outcome) > 2 else (None if ok else ErrorKind.HTTP_STATUS)
        code = outcome[3] if len(outcome) > 3 else (200 if ok else 503)
        attempt = Attempt(
            id=ids.new_id("atmpt", at),
            delivery_id=task.delivery_id,
            msg_id=task.msg_id,
            endpoint_id=task.endpoint_id,
            app_id=task.app_id,
            url=task.url,
            status=DeliveryStatus.SUCCESS if ok else DeliveryStatus.FAILED,
            response_status=code,
            response_body="",
            duration_ms=duration,
            error_kind=kind,
            trigger=TriggerType.SCHEDULED,
            created_at=at,
        )
        results.append(DeliveryResult(attempt, None, lease_until=task.lease_until))
    assert await store.record_results("w", results, at, POLICY) == 0
    return [r.attempt for r in results]


def shape(buckets: list) -> list[tuple]:  # type: ignore[type-arg]
    return [(b.start_ms, b.messages, b.succeeded, b.failed, b.p50_ms, b.p95_ms) for b in buckets]


async def folded_ways(store: Store, read):  # type: ignore[no-untyped-def]
    """The read before any fold, after a partial fold, and after a full one."""
    seen = [await read()]
    await store.fold_insights(BASE + 10 * HOUR, 3)
    seen.append(await read())
    while await store.fold_insights(BASE + 10 * HOUR, 1000):
        pass
    seen.append(await read())
    return seen


async def test_traffic_buckets_counts_and_percentiles(store: Store) -> None:
    a, b = await make_app(store), await make_app(store)
    ea, eb = await make_endpoint(store, a), await make_endpoint(store, b)
    for _ in range(4):
        await publish(store, a, BASE + 5_000)
    await deliver(store, BASE + 6_000, [(True, 10), (True, 20), (False, 30), (True, 100)])
    for _ in range(2):
        await publish(store, b, BASE + 2 * MIN + 1)
    await deliver(store, BASE + 2 * MIN + 2, [(True, 5), (True, 5)])

    async def overview():  # type: ignore[no-untyped-def]
        return shape(await store.traffic(BASE + 30_000, BASE + 3 * MIN, MIN))

    expected = [
        (BASE, 4, 3, 1, 20, 100),
        (BASE + MIN, 0, 0, 0, None, None),
        (BASE + 2 * MIN, 2, 2, 0, 5, 5),
    ]
    assert await folded_ways(store, overview) == [expected] * 3

    by_app = shape(await store.traffic(BASE, BASE + 3 * MIN, MIN, app_id=a.id))
    assert by_app == [expected[0], expected[1], (BASE + 2 * MIN, 0, 0, 0, None, None)]
    by_endpoint = shape(await store.traffic(BASE, BASE + 3 * MIN, MIN, endpoint_id=eb.id))
    assert by_endpoint == [(BASE, 0, 0, 0, None, None), expected[1], expected[2]]
    hourly = shape(await store.traffic(BASE - HOUR, BASE + HOUR, HOUR, endpoint_id=ea.id))
    assert hourly == [(BASE - HOUR, 0, 0, 0, None, None), (BASE, 4, 3, 1, 20, 100)]
    with pytest.raises(ValueError):
        await store.traffic(BASE, BASE + MIN, 1_000)


async def test_queue_summary_counts_waiting_and_leased(store: Store) -> None:
    a, b = await make_app(store), await make_app(store)
    ea = await make_endpoint(store, a)
    await make_endpoint(store, b)
    first = await publish(store, a, BASE)
    await publish(store, a, BASE + 1_000)
    await publish(store, a, BASE + 2_000)
    await publish(store, b, BASE + 3_000)
    ready = [r for r in await store.ready_endpoints(BASE + 4_000, 10) if r.endpoint_id == ea.id]
    leased = await store.claim("w", [(ready[0], 1)], BASE + 4_000, 60_000, 100)
    assert [t.msg_id for t in leased] == [first.id]

    summary = await store.queue_summary(BASE + 5_000, app_id=a.id)
    assert (summary.waiting, summary.sending, summary.oldest_waiting_at) == (2, 1, BASE + 1_000)
    everything = await store.queue_summary(BASE + 5_000)
    assert (everything.waiting, everything.sending) == (3, 1)
    lease_over = await store.queue_summary(BASE + 4_000 + 60_001, app_id=a.id)
    assert (lease_over.waiting, lease_over.sending, lease_over.oldest_waiting_at) == (3, 0, BASE)


async def test_endpoint_health_and_failing_endpoints(store: Store) -> None:
    app = await make_app(store)
    other = await make_app(store)
    eps = [await make_endpoint(store, app) for _ in range(3)]
    elsewhere = await make_endpoint(store, other)
    for minute in range(3):
        await publish(store, app, BASE + minute * MIN)
        outcomes: list[Outcome] = [
            (False, 10) if minute < 2 else (True, 10),  # eps[0]: failing, then recovered
            (True, 10),  # eps[1]: healthy
            (False, 10, ErrorKind.TIMEOUT, 0),  # eps[2]: failing throughout
        ]
        await deliver(store, BASE + minute * MIN + 1, outcomes)
    await publish(store, other, BASE + 3 * MIN)
    await deliver(store, BASE + 3 * MIN + 1, [(False, 10, ErrorKind.CONNECTION_REFUSED, 0)])

    async def health():  # type: ignore[no-untyped-def]
        return await store.endpoint_health(
            [eps[0].id, eps[1].id, eps[2].id, "ep_missing"], BASE, BASE + 4 * MIN, MIN
        )

    for found in await folded_ways(store, health):
        assert set(found) == {eps[0].id, eps[1].id, eps[2].id}
        h0, h1, h2 = found[eps[0].id], found[eps[1].id], found[eps[2].id]
        assert (h0.succeeded, h0.failed, h0.volume) == (1, 2, [1, 1, 1, 0])
        assert (h0.last_failure_at, h0.last_error) == (BASE + MIN + 1, "HTTP 503")
        assert (h1.succeeded, h1.failed, h1.last_failure_at, h1.last_error) == (3, 0, None, None)
        assert (h2.failed, h2.last_error, h2.app_id, h2.url) == (
            3,
            "timeout",
            app.id,
            eps[2].url,
        )
        assert not h2.disabled and not h2.breaker_open

    async def failing():  # type: ignore[no-untyped-def]
        listed = await store.failing_endpoints(BASE, BASE + 4 * MIN, 10, app_id=app.id)
        return [(h.endpoint_id, h.succeeded, h.failed) for h in listed]

    expected = [(eps[2].id, 0, 3), (eps[0].id, 1, 2)]
    assert await folded_ways(store, failing) == [expected] * 3
    # a wide window adds up hour, ten-minute and minute rollups
    wide = await store.failing_endpoints(BASE - 2 * HOUR + 7 * MIN, BASE + HOUR + 3 * MIN, 10)
    assert [(h.endpoint_id, h.succeeded, h.failed) for h in wide] == [
        *expected,
        (elsewhere.id, 0, 1),
    ]
    everywhere = await store.failing_endpoints(BASE, BASE + 4 * MIN, 10)
    assert [h.endpoint_id for h in everywhere] == [eps[2].id, eps[0].id, elsewhere.id]
    assert [h.endpoint_id for h in await store.failing_endpoints(BASE, BASE + 4 * MIN, 1)] == [
        eps[2].id
    ]
    # only the last minute: eps[0] recovered in it
    late = await store.failing_endpoints(BASE + 2 * MIN, BASE + 4 * MIN, 10, app_id=app.id)
    assert [h.endpoint_id for h in late] == [eps[2].id]

    # five failures in a row open x's breaker: it comes before y, which failed more
    third = await make_app(store)
    x, y = await make_endpoint(store, third), await make_endpoint(store, third)
    y_ok = [False, False, False, False, True, False, False, False]
    for i, ok in enumerate(y_ok):
        await publish(store, third, BASE + 5 * MIN + i)
        x_outcome: list[Outcome] = [(False, 1)] if i < 5 else []  # then x is paused
        await deliver(store, BASE + 5 * MIN + i, [*x_outcome, (ok, 1)])
    ranked = await store.failing_endpoints(BASE + 5 * MIN, BASE + 6 * MIN, 10, app_id=third.id)
    assert [(h.endpoint_id, h.breaker_open, h.failed) for h in ranked] == [
        (x.id, True, 5),
        (y.id, False, 7),
    ]


def ids_of(messages: list[Message]) -> list[str]:
    return [m.id for m in messages]


async def walk(
    store: Store, query: MessageSearch, app_id: str | None, limit: int
) -> tuple[list[str], list[str]]:
    """Every page forward (older), then every page back (newer) from the last iterator."""
    forward: list[str] = []
    page = PageRequest(limit=limit)
    for _ in range(MAX_PAGES):
        got = await store.search_messages(query, page, app_id=app_id)
        assert len(got.data) <= limit
        forward += ids_of(got.data)
        if got.done:
            break
        page = PageRequest(limit=limit, iterator=got.iterator)
    else:
        pytest.fail("paging forward never ended")
    backward = ids_of(got.data)  # the last page, then the pages before it
    iterator = got.prev_iterator
    for _ in range(MAX_PAGES):
        if iterator is None:
            break
        got = await store.search_messages(query, PageRequest(limit, iterator), app_id=app_id)
        backward = ids_of(got.data) + backward
        if got.done:
            break
        iterator = got.prev_iterator
    return forward, backward


async def test_search_filters_and_pages_both_ways(store: Store) -> None:
    a, b = await make_app(store), await make_app(store)
    ea1, ea2 = await make_endpoint(store, a), await make_endpoint(store, a)
    await make_endpoint(store, b)
    made: list[Message] = []
    for i in range(12):
        kind = "order.created" if i % 3 == 0 else "invoice.paid"
        payload = b'{"customer":"needle-%d"}' % i if i % 4 == 0 else b'{"customer":"hay"}'
        made.append(
            await publish(store, a, BASE + i * MIN, kind, payload=payload, event_id=f"evt-{i}")
        )
        outcomes: list[Outcome] = [(True, 3), (i % 5 != 0, 3)]  # ea1 ok; ea2 fails on 0, 5, 10
        await deliver(store, BASE + i * MIN + 1, outcomes)
    in_b = await publish(store, b, BASE + 13 * MIN, payload=b'{"customer":"needle-b"}')
    newest_first = list(reversed(ids_of(made)))

    async def matches(query: MessageSearch, app_id: str | None = a.id) -> list[str]:
        forward, backward = await walk(store, query, app_id, limit=2)
        assert forward == backward, "paging back visits the same matches"
        assert len(set(forward)) == len(forward)
        return forward

    assert await matches(MessageSearch()) == newest_first
    assert await matches(MessageSearch(event_types=["order.created"])) == [
        made[i].id for i in (9, 6, 3, 0)
    ]
    assert await matches(MessageSearch(status=DeliveryStatus.FAILED)) == [
        made[i].id for i in (10, 5, 0)
    ]
    assert await matches(MessageSearch(endpoint_id=ea2.id, status=DeliveryStatus.SUCCESS)) == [
        made[i].id for i in (11, 9, 8, 7, 6, 4, 3, 2, 1)
    ]
    assert await matches(MessageSearch(endpoint_id=ea1.id)) == newest_first
    since, until = BASE + 3 * MIN, BASE + 6 * MIN
    assert await matches(MessageSearch(since_ms=since, until_ms=until)) == [
        made[i].id for i in (5, 4, 3)
    ]
    assert await matches(MessageSearch(ref="evt-7")) == [made[7].id]
    assert await matches(MessageSearch(ref=made[2].id)) == [made[2].id]
    assert await matches(MessageSearch(ref="evt-7", event_types=["order.created"])) == []
    assert await matches(MessageSearch(text="needle")) == [made[i].id for i in (8, 4, 0)]
    assert await matches(MessageSearch(text="needle"), None) == [in_b.id] + [
        made[i].id for i in (8, 4, 0)
    ]
    assert await matches(MessageSearch(ref="evt-7"), None) == [made[7].id]
    assert await matches(MessageSearch(text="needle"), b.id) == [in_b.id]
    assert await matches(MessageSearch(text="needle", event_types=["order.created"])) == [
        made[0].id
    ]


async def test_search_scan_is_bounded_and_continues_without_gaps(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(insight_search, "SEARCH_SCAN_ROWS", 3)
    app = await make_app(store)
    made = []
    for i in range(10):
        payload = b'{"n":"needle"}' if i in (0, 1, 7) else b'{"n":"hay"}'
        made.append(await publish(store, app, BASE + i, payload=payload))
    query = MessageSearch(text="needle")
    pages = []
    page = PageRequest(limit=2)
    for _ in range(MAX_PAGES):
        got = await store.search_messages(query, page, app_id=app.id)
        pages.append(ids_of(got.data))
        if got.done:
            break
        page = PageRequest(limit=2, iterator=got.iterator)
    # 3 rows examined per call: [9 8 7] -> 7; [6 5 4] -> none; [3 2 1] -> 1; [0] -> 0
    assert pages == [[made[7].id], [], [made[1].id], [made[0].id]]
    forward, backward = await walk(store, query, app.id, limit=2)
    assert forward == backward == [made[i].id for i in (7, 1, 0)]


async def test_attempts_after_is_ordered_and_gapless(store: Store) -> None:
    a, b = await make_app(store), await make_app(store)
    await make_endpoint(store, a)
    await make_endpoint(store, a)
    await make_endpoint(store, b)
    recorded: list[Attempt] = []
    for i in range(4):
        await publish(store, a, BASE + i * 1000)
        await publish(store, b, BASE + i * 1000)
        recorded += await deliver(store, BASE + i * 1000 + 1, [(True, 1)] * 3)
    all_ids = sorted(x.id for x in recorded)
    a_ids = sorted(x.id for x in recorded if x.app_id == a.id)

    async def tail(app_id: str | None) -> list[str]:
        newest = await store.attempts_after(None, 2, app_id=app_id)
        seen: list[str] = []
        after = ""  # before every id
        for _ in range(MAX_PAGES):
            got = await store.attempts_after(after, 5, app_id=app_id)
            if not got:
                break
            seen += [x.id for x in got]
            after = got[-1].id
        assert [x.id for x in newest] == seen[-2:]
        return seen

    assert await tail(None) == all_ids
    assert await tail(a.id) == a_ids
    assert await store.attempts_after(all_ids[-1], 5) == []
