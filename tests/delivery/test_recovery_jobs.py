"""Recovery, replays and retention end to end: real store, worker, maintenance loop, receiver.

Tasks are started through the in-process API over the store the worker uses; a real
``Maintenance`` loop advances them; the receiver shows what was actually sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from engine_kit import LOOPBACK_OK, Engine, EngineFactory, now_ms

from hookline import ids
from hookline.api import ApiContext, create_app
from hookline.breaker import HealthPolicy
from hookline.delivery.maintenance import DAY_MS, Maintenance, MaintenanceConfig
from hookline.models import (
    Attempt,
    DeliveryResult,
    DeliveryStatus,
    Message,
    TaskStatus,
    TriggerType,
)
from hookline.store.base import AttemptFilter, PageRequest, Store

TOKEN = "recovery-test-token-0123456789"
FAST = MaintenanceConfig(chunk_size=10, chunk_pause=0.01, poll_interval=0.05)


@dataclass
class Running:
    loop: Maintenance
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.loop.stop()
        await self.task


Starter = Callable[..., Running]


@pytest.fixture
async def maintenance() -> AsyncIterator[Starter]:
    """``maintenance(store, config)`` runs a Maintenance loop until stopped or the test ends."""
    running: list[Running] = []

    def start(store: Store, config: MaintenanceConfig = FAST) -> Running:
        loop = Maintenance(store, config)
        running.append(Running(loop, asyncio.create_task(loop.run())))
        return running[-1]

    yield start
    for r in running:
        await r.stop()


def api(store: Store) -> httpx.AsyncClient:
    app = create_app(ApiContext(store=store, admin_token=TOKEN, address_policy=LOOPBACK_OK))
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://hookline.test",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


async def start_task(
    e: Engine, endpoint_id: str, action: str, body: dict[str, Any]
) -> dict[str, Any]:
    async with api(e.store) as client:
        resp = await client.post(
            f"/api/v1/app/{e.app.id}/endpoint/{endpoint_id}/{action}", json=body
        )
    assert resp.status_code == 202, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def finished(e: Engine, task_id: str) -> dict[str, Any]:
    """Wait until the task stops running; its API view."""

    async def done() -> bool:
        return (await e.store.get_task(task_id)).status is not TaskStatus.RUNNING

    await e.until(done)
    async with api(e.store) as client:
        out: dict[str, Any] = (await client.get(f"/api/v1/background-task/{task_id}")).json()
    return out


async def boundary() -> int:
    """A millisecond no message shares, to draw a range edge on."""
    await asyncio.sleep(0.005)
    t = now_ms()
    await asyncio.sleep(0.005)
    return t


async def attempts_of(e: Engine, endpoint_id: str) -> list[Attempt]:
    page = await e.store.list_attempts(
        e.app.id, AttemptFilter(endpoint_id=endpoint_id), PageRequest(limit=250)
    )
    return page.data


async def exactly(e: Engine, path: str, count: int) -> list[str]:
    """The webhook ids of the ``count`` requests ``path`` gets, checking no more follow."""
    await e.receiver.wait_for(count, path)
    await asyncio.sleep(0.3)
    got = e.receiver.requests(path)
    assert len(got) == count, "\n".join(f"{r.webhook_id} {r.received_wall}" for r in got)
    return [r.webhook_id or "" for r in got]


async def test_recover_resends_exactly_the_failed_messages_in_range_as_manual(
    engine: EngineFactory, maintenance: Starter
) -> None:
    e = await engine(schedule=())  # one attempt each: a failure is final at once
    ep = await e.endpoint("/r")
    e.receiver.script("/r", default=500)

    async def settled() -> Message:
        before = len(e.receiver.requests("/r"))
        msg = await e.publish()
        await e.receiver.wait_for(before + 1, "/r")

        async def recorded() -> bool:
            found = await e.store.list_deliveries(e.app.id, msg.id)
            return all(d.next_attempt_at is None for d in found)

        await e.until(recorded)
        return msg

    await settled()  # before the range
    since = await boundary()
    failed = [await settled(), await settled()]
    e.receiver.script("/r", default=200)
    await settled()  # delivered: never recovered
    e.receiver.script("/r", default=500)
    failed.append(await settled())
    until = await boundary()
    await settled()  # after the range
    e.receiver.script("/r", default=200)

    maintenance(e.store)
    task = await start_task(e, ep.id, "recover", {"since": iso(since), "until": iso(until)})
    assert task["task"] == "endpoint.recover"
    result = await finished(e, task["id"])
    assert result["status"] == "finished"
    assert result["data"]["messagesQueued"] == 3 and result["data"]["done"] is True

    resent = (await exactly(e, "/r", 6 + 3))[6:]  # six published, three recovered
    assert sorted(resent) == sorted(m.id for m in failed)
    manual = [a for a in await attempts_of(e, ep.id) if a.trigger is TriggerType.MANUAL]
    assert sorted(a.msg_id for a in manual) == sorted(m.id for m in failed)
    assert all(a.status is DeliveryStatus.SUCCESS for a in manual)


async def test_replay_missing_sends_only_messages_never_attempted(
    engine: EngineFactory, maintenance: Starter
) -> None:
    e = await engine()
    since = await boundary()
    missed = [await e.publish(), await e.publish()]  # no endpoint existed yet
    await e.publish(event_type="user.created")  # missed, but not subscribed to
    ep = await e.endpoint("/late", event_types=["invoice.paid"])
    delivered = await e.publish()
    await e.receiver.wait_for(1, "/late")

    maintenance(e.store)
    task = await start_task(e, ep.id, "replay-missing", {"since": iso(since)})
    assert task["task"] == "endpoint.replay"
    result = await finished(e, task["id"])
    assert result["status"] == "finished" and result["data"]["messagesQueued"] == 2

    got = await exactly(e, "/late", 3)
    assert got[0] == delivered.id
    assert sorted(got[1:]) == sorted(m.id for m in missed)
    replayed = [a for a in await attempts_of(e, ep.id) if a.msg_id in got[1:]]
    assert {a.trigger for a in replayed} == {TriggerType.SCHEDULED}


async def test_bulk_replay_backfills_a_new_endpoint_and_survives_a_restart(
    engine: EngineFactory, maintenance: Starter
) -> None:
    e = await engine()
    since = await boundary()
    wanted: list[str] = []
    for i in range(35):  # 25 wanted, 10 of another type, interleaved across chunks
        if i % 7 < 2:
            await e.publish(event_type="user.created")
        else:
            wanted.append((await e.publish(payload=b'{"n":%d}' % i)).id)
    ep = await e.endpoint("/new")

    # The first runner handles one chunk of 10 messages, then "crashes" while it pauses.
    first = maintenance(e.store, MaintenanceConfig(chunk_size=10, chunk_pause=60))
    body = {"since": iso(since), "eventTypes": ["invoice.paid"]}
    task = await start_task(e, ep.id, "bulk-replay", body)
    assert task["task"] == "endpoint.bulk-replay"

    async def one_chunk() -> bool:
        return (await e.store.get_task(task["id"])).cursor is not None

    await e.until(one_chunk)
    await first.stop()
    mid = await e.store.get_task(task["id"])
    assert mid.status is TaskStatus.RUNNING
    assert mid.done_count == 6  # of messages 0..9, numbers 0, 1, 7 and 8 are another type

    maintenance(e.store, FAST)  # a fresh runner continues from the stored cursor
    result = await finished(e, task["id"])
    assert result["status"] == "finished"
    assert result["data"] == {"messagesQueued": 25, "messagesSent": 25, "done": True}
    got = await exactly(e, "/new", 25)
    assert sorted(got) == sorted(wanted)  # every one, none twice


async def test_bulk_replay_applies_channel_and_tag_filters(
    engine: EngineFactory, maintenance: Starter
) -> None:
    e = await engine()
    since = await boundary()

    async def publish(channels: list[str], tags: list[str] | None) -> Message:
        t = now_ms()
        msg = Message(
            id=ids.new_id("msg", t),
            app_id=e.app.id,
            event_type="invoice.paid",
            payload=b"{}",
            channels=channels,
            tags=tags,
            created_at=t,
        )
        return (await e.store.publish(msg, t)).message

    match = await publish(["eu"], ["vip"])
    await publish(["eu"], None)
    await publish(["us"], ["vip"])
    ep = await e.endpoint("/filtered")
    maintenance(e.store)
    body = {"since": iso(since), "channel": "eu", "tag": "vip"}
    task = await start_task(e, ep.id, "bulk-replay", body)
    assert (await finished(e, task["id"]))["data"]["messagesQueued"] == 1
    assert await exactly(e, "/filtered", 1) == [match.id]


async def test_retention_purges_old_payloads_and_bodies_in_batches(
    engine: EngineFactory, maintenance: Starter
) -> None:
    e = await engine()
    ep = await e.endpoint("/keep")
    e.receiver.script("/keep", default=200, body="pong")
    old_ms = now_ms() - 100 * DAY_MS
    old: list[Message] = []
    for i in range(20):  # boundary_id: ids.new_id never hands out a time before its last
        msg = Message(
            id=ids.boundary_id("msg", old_ms + i),
            app_id=e.app.id,
            event_type="invoice.paid",
            payload=b'{"old":true}',
            created_at=old_ms + i,
        )
        old.append((await e.store.publish(msg, now_ms())).message)
    fresh = [await e.publish() for _ in range(3)]
    await e.receiver.wait_for(23, "/keep")

    async def all_recorded() -> bool:
        return len(await attempts_of(e, ep.id)) == 23

    await e.until(all_recorded)
    # Old attempts, recorded as a worker records them: under a lease. The worker is
    # stopped first, so it leaves the resent deliveries to this claim.
    await e.stop_worker()
    owner, later = "retention-test", now_ms() + DAY_MS
    for m in old:
        await e.store.resend(e.app.id, m.id, ep.id, now_ms())
    [ready] = await e.store.ready_endpoints(later, limit=10)
    claimed = await e.store.claim(owner, [(ready, 20)], later, 60_000, default_max_in_flight=20)
    leased = {t.msg_id: t for t in claimed}
    assert sorted(leased) == sorted(m.id for m in old)
    dropped = await e.store.record_results(
        owner,
        [
            DeliveryResult(
                Attempt(
                    id=ids.boundary_id("atmpt", old_ms + i),
                    delivery_id=leased[m.id].delivery_id,
                    msg_id=m.id,
                    endpoint_id=ep.id,
                    app_id=e.app.id,
                    url=ep.url,
                    status=DeliveryStatus.SUCCESS,
                    response_status=200,
                    response_body="old body",
                    duration_ms=7,
                    error_kind=None,
                    trigger=TriggerType.SCHEDULED,
                    created_at=old_ms + i,
                ),
                next_attempt_at=None,
                lease_until=leased[m.id].lease_until,
            )
            for i, m in enumerate(old)
        ],
        now_ms(),
        HealthPolicy(),
    )
    assert dropped == 0

    cutoff = now_ms() - 90 * DAY_MS
    batch = await e.store.purge_expired(cutoff, limit=7)
    assert batch.purged == 14 and not batch.done  # 7 payloads and 7 bodies per transaction

    config = MaintenanceConfig(retention_ms=90 * DAY_MS, purge_batch=7, purge_pause=0.01)
    runner = maintenance(e.store, config)

    async def purged() -> bool:
        return runner.loop.purged == 26

    await e.until(purged)
    for m in old:
        assert (await e.store.get_message(e.app.id, m.id)).payload is None
    for m in fresh:
        assert (await e.store.get_message(e.app.id, m.id)).payload == b'{"hello":"world"}'
    attempts = await attempts_of(e, ep.id)
    expired = [a for a in attempts if a.created_at < cutoff]
    kept = [a for a in attempts if a.created_at >= cutoff]
    assert len(expired) == 20 and len(kept) == 23
    assert {(a.response_body, a.response_status, a.duration_ms) for a in expired} == {("", 200, 7)}
    assert {a.response_body for a in kept} == {"pong"}

    async with api(e.store) as client:
        shown = (await client.get(f"/api/v1/app/{e.app.id}/msg/{old[0].id}")).json()
        assert shown["payload"] == {}
        resend = await client.post(
            f"/api/v1/app/{e.app.id}/msg/{old[0].id}/endpoint/{ep.id}/resend"
        )
        assert resend.status_code == 404, resend.text
