"""The store contract for received requests: intake and its dedup window, the routing
queue, replay, the wake-up, and retention."""

from __future__ import annotations

import asyncio
import time

import pytest
from test_store_sources import new_source

from hookline import ids
from hookline.errors import Conflict, NotFound, VersionConflict
from hookline.sources import InboundFilter, InboundRequest, Source, Verdict
from hookline.store.base import PageRequest, Store

NOW = int(time.time() * 1000)
WINDOW = 60_000


def fresh_now() -> int:
    """A time after every id this process has made: ids made for earlier test times
    would otherwise be pushed past it (ids never go backwards), and retention walks ids."""
    return ids.id_timestamp_ms(ids.new_id("req")) + 1000


async def make_source(store: Store, window_ms: int = WINDOW) -> Source:
    source, app = new_source(dedup_window_ms=window_ms)
    return await store.create_source(source, app)


def received(
    source: Source,
    at: int = NOW,
    key: str | None = "delivery-1",
    verdict: Verdict = Verdict.ACCEPTED,
    body: bytes = b'{"n": 1}',
) -> InboundRequest:
    return InboundRequest(
        id=ids.new_id("req", at),
        source_id=source.id,
        method="POST",
        path="/in/{token}",
        query="",
        headers={"x-github-event": "push", "x-github-delivery": key or ""},
        body=body,
        verdict=verdict,
        status_code=401 if verdict is Verdict.REJECTED else 200,
        received_at=at,
        reason="bad_signature" if verdict is Verdict.REJECTED else None,
        event_type=None if verdict is Verdict.REJECTED else "push",
        dedup_key=key,
    )


async def test_an_accepted_request_is_stored_whole_and_queued(store: Store) -> None:
    source = await make_source(store)
    request = received(source, body=b"\x00raw\xff")
    stored = await store.intake(request, NOW, source.version)
    assert stored.verdict is Verdict.ACCEPTED
    assert await store.get_inbound_request(source.id, request.id) == request
    assert [r.id for r in await store.unrouted_requests(10)] == [request.id]
    with pytest.raises(NotFound):
        await store.get_inbound_request("src_other", request.id)


async def test_a_key_seen_within_the_window_is_a_duplicate_and_after_it_is_new(
    store: Store,
) -> None:
    source = await make_source(store)
    first = await store.intake(received(source), NOW)
    again = await store.intake(received(source, at=NOW + WINDOW - 1), NOW + WINDOW - 1)
    later = await store.intake(received(source, at=NOW + WINDOW), NOW + WINDOW)
    assert [first.verdict, again.verdict, later.verdict] == [
        Verdict.ACCEPTED,
        Verdict.DUPLICATE,
        Verdict.ACCEPTED,
    ]
    # the window restarts at the copy that counted
    assert (await store.intake(received(source, at=NOW + WINDOW + 1), NOW + WINDOW + 1)).verdict
    queued = {r.id for r in await store.unrouted_requests(10)}
    assert queued == {first.id, later.id}
    stored_again = await store.get_inbound_request(source.id, again.id)
    assert stored_again.verdict is Verdict.DUPLICATE


async def test_keys_are_per_source_and_only_accepted_requests_take_one(store: Store) -> None:
    one, two = await make_source(store), await make_source(store)
    rejected = await store.intake(received(one, verdict=Verdict.REJECTED), NOW)
    assert rejected.verdict is Verdict.REJECTED
    assert (await store.intake(received(one), NOW)).verdict is Verdict.ACCEPTED
    assert (await store.intake(received(two), NOW)).verdict is Verdict.ACCEPTED


async def test_concurrent_copies_leave_exactly_one_accepted(store: Store) -> None:
    source = await make_source(store)
    copies = await asyncio.gather(*(store.intake(received(source), NOW) for _ in range(20)))
    verdicts = [c.verdict for c in copies]
    assert verdicts.count(Verdict.ACCEPTED) == 1
    assert verdicts.count(Verdict.DUPLICATE) == 19
    assert len(await store.unrouted_requests(50)) == 1


async def test_a_changed_or_deleted_source_stores_nothing(store: Store) -> None:
    source = await make_source(store)
    moved = await store.update_source(source)
    stale = received(source)
    with pytest.raises(VersionConflict):
        await store.intake(stale, NOW, source.version)
    with pytest.raises(NotFound):
        await store.get_inbound_request(source.id, stale.id)
    # nor did it take the dedup key
    assert (await store.intake(received(source), NOW, moved.version)).verdict is Verdict.ACCEPTED
    await store.delete_source(source.id)
    with pytest.raises(NotFound):
        await store.intake(received(source, key="other"), NOW)


async def test_routing_marks_once_and_leaves_the_queue(store: Store) -> None:
    source = await make_source(store)
    request = await store.intake(received(source), NOW)
    await store.mark_routed(request.id, NOW + 5, "msg_1")
    await store.mark_routed(request.id, NOW + 9, "msg_2")  # a late second router: no effect
    routed = await store.get_inbound_request(source.id, request.id)
    assert (routed.msg_id, routed.routed_at, routed.verdict) == ("msg_1", NOW + 5, request.verdict)
    assert await store.unrouted_requests(10) == []


async def test_replay_requeues_with_a_new_event_id(store: Store) -> None:
    source = await make_source(store)
    rejected = await store.intake(received(source, verdict=Verdict.REJECTED), NOW)
    assert await store.unrouted_requests(10) == []
    replay = await store.replay_inbound(source.id, rejected.id, NOW + 1)
    assert (replay.verdict, replay.replays, replay.reason) == (Verdict.REPLAY, 1, None)
    assert replay.event_id == f"{rejected.id}.r1"
    assert [r.id for r in await store.unrouted_requests(10)] == [rejected.id]
    # still queued: a second replay asks for nothing more
    assert (await store.replay_inbound(source.id, rejected.id, NOW + 2)).replays == 1
    await store.mark_routed(rejected.id, NOW + 3, "msg_1", Verdict.ACCEPTED)
    done = await store.get_inbound_request(source.id, rejected.id)
    assert (done.verdict, done.msg_id) == (Verdict.ACCEPTED, "msg_1")
    again = await store.replay_inbound(source.id, rejected.id, NOW + 4)
    assert (again.replays, again.routed_at, again.msg_id) == (2, None, "msg_1")
    with pytest.raises(NotFound):
        await store.replay_inbound(source.id, "req_missing", NOW)


async def test_a_request_whose_body_expired_cannot_be_replayed(store: Store) -> None:
    source = await make_source(store)
    now = fresh_now()
    request = await store.intake(received(source, at=now, verdict=Verdict.REJECTED), now)
    assert await store.expire_inbound(now + 1, now + 1, 100) >= 1
    assert (await store.get_inbound_request(source.id, request.id)).body is None
    with pytest.raises(Conflict):
        await store.replay_inbound(source.id, request.id, now + 2)


async def test_retention_drops_old_bodies_and_dedup_rows_in_batches(store: Store) -> None:
    source = await make_source(store)
    now = fresh_now()
    old = [await store.intake(received(source, at=now + i, key=f"k{i}"), now + i) for i in range(5)]
    new = await store.intake(received(source, at=now + 100, key="new"), now + 100)
    cutoff = now + 50
    assert await store.expire_inbound(cutoff, now + 60, limit=3) == 3
    assert await store.expire_inbound(cutoff, now + 60, limit=3) == 2
    assert await store.expire_inbound(cutoff, now + 60, limit=3) == 0
    for request in old:
        assert (await store.get_inbound_request(source.id, request.id)).body is None
    kept = await store.get_inbound_request(source.id, new.id)
    assert kept.body == new.body
    # dedup rows go once their window has passed: the same key then counts as new
    assert await store.expire_inbound(cutoff, now + WINDOW + 10, limit=100) == 5
    again = await store.intake(received(source, at=now + WINDOW + 10, key="k0"), now + WINDOW + 10)
    assert again.verdict is Verdict.ACCEPTED
    repeat = await store.intake(received(source, at=now + 101, key="new"), now + 101)
    assert repeat.verdict is Verdict.DUPLICATE


async def test_listing_filters_by_verdict_and_time_and_pages(store: Store) -> None:
    source = await make_source(store)
    now = fresh_now()
    made = []
    for i in range(6):
        verdict = Verdict.REJECTED if i % 2 else Verdict.ACCEPTED
        request = received(source, at=now + i * 10, key=f"k{i}", verdict=verdict)
        made.append(await store.intake(request, now + i * 10))
    rejected = await store.list_inbound_requests(
        source.id, InboundFilter(verdict=Verdict.REJECTED), PageRequest(limit=10)
    )
    assert [r.id for r in rejected.data] == [made[1].id, made[3].id, made[5].id]
    window = await store.list_inbound_requests(
        source.id, InboundFilter(after_ms=now + 10, before_ms=now + 40), PageRequest(limit=10)
    )
    assert [r.id for r in window.data] == [made[2].id, made[3].id]
    first = await store.list_inbound_requests(source.id, InboundFilter(), PageRequest(limit=4))
    rest = await store.list_inbound_requests(
        source.id, InboundFilter(), PageRequest(limit=4, iterator=first.iterator)
    )
    assert [r.id for r in first.data + rest.data] == [r.id for r in made]
    assert (first.done, rest.done) == (False, True)


async def test_intake_and_replay_wake_a_waiting_router(store: Store) -> None:
    source = await make_source(store)
    timeout = 30.0
    for act in ("intake", "replay"):
        started = time.monotonic()
        waiter = asyncio.create_task(store.wait_for_inbound(timeout))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        request = await store.intake(received(source, key=None, verdict=Verdict.REJECTED), NOW)
        if act == "replay":
            await store.replay_inbound(source.id, request.id, NOW)
        else:
            await store.intake(received(source, key=None), NOW)
        await waiter
        assert time.monotonic() - started < timeout / 4, act
