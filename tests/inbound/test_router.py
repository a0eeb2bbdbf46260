"""The router on a real store: crash repeats, replays, arrival-time judgement, and one
failing request holding back no other."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inbound_helpers import SECRET, github_push, stored_requests
from inbound_kit import Served
from slack_sdk.signature import SignatureVerifier

from hookline import ids, runtime
from hookline.config import Settings
from hookline.inbound.router import Router, RouterConfig
from hookline.models import Message
from hookline.sources import InboundRequest, Source, Verdict
from hookline.store.base import Store
from hookline.testing import Receiver

FAST = RouterConfig(poll_interval=0.05, retry_delay=0.05)


@pytest.fixture
async def offline(tmp_path: Path) -> AsyncIterator[Served]:
    """A store with no server around it: the test runs the router itself."""
    settings = Settings(data_dir=tmp_path, sqlite_synchronous="NORMAL")
    store = runtime.open_store(settings)
    await store.open()
    db_path = Path(runtime.sqlite_path(settings.resolved_database_url))
    try:
        yield Served("http://unused.invalid", store, db_path, None)  # type: ignore[arg-type]
    finally:
        await store.close()


def stored(
    source: Source, body: bytes, headers: dict[str, str], at: int | None = None
) -> InboundRequest:
    """A request as intake keeps it, accepted but not routed yet."""
    at = at or int(time.time() * 1000)
    return InboundRequest(
        id=ids.new_id("req", at),
        source_id=source.id,
        method="POST",
        path="/in/{token}",
        query="",
        headers={k.lower(): v for k, v in headers.items()} | {"host": "127.0.0.1:9"},
        body=body,
        verdict=Verdict.ACCEPTED,
        status_code=200,
        received_at=at,
        event_type="push",
        dedup_key=headers.get("X-GitHub-Delivery"),
    )


async def has_message(store: Store, source: Source, request: InboundRequest) -> bool:
    return (await store.get_inbound_request(source.id, request.id)).msg_id is not None


async def test_a_repeat_after_a_crash_marks_the_request_without_a_second_message(
    offline: Served,
) -> None:
    store = offline.store
    source = await offline.source("github", {"secret": SECRET})
    body, headers = github_push()
    request = await store.intake(stored(source, body, headers), int(time.time() * 1000))
    # the crashed pass got as far as publishing
    earlier = Message(
        id=ids.new_id("msg"),
        app_id=source.app_id,
        event_type="push",
        payload=body,
        event_id=request.event_id,
    )
    await store.publish(earlier, int(time.time() * 1000))
    assert await Router(store, FAST).route_pending()
    routed = await store.get_inbound_request(source.id, request.id)
    assert (routed.msg_id, routed.verdict) == (earlier.id, Verdict.ACCEPTED)
    assert [m.id for m in await offline.messages(source)] == [earlier.id]
    assert await store.unrouted_requests(10) == []


async def test_timestamps_are_judged_as_at_arrival(offline: Served) -> None:
    store = offline.store
    source = await offline.source("slack", {"secret": "slack-secret"})
    arrived = time.time() - 3600  # an hour ago: far past Slack's five minutes
    body = json.dumps({"type": "event_callback", "event_id": "Ev1", "event": {"type": "message"}})
    timestamp = str(int(arrived))
    signature = SignatureVerifier("slack-secret").generate_signature(timestamp=timestamp, body=body)
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
    request = stored(source, body.encode(), headers, at=int(arrived * 1000))
    await store.intake(request, request.received_at)
    await Router(store, FAST).route_pending()
    routed = await store.get_inbound_request(source.id, request.id)
    assert (routed.verdict, routed.reason) == (Verdict.ACCEPTED, None)
    [message] = await offline.messages(source)
    assert (message.event_type, message.payload) == ("message", body.encode())


async def test_one_failing_request_holds_back_no_other(offline: Served) -> None:
    store = offline.store
    source = await offline.source("github", {"secret": SECRET})
    now = int(time.time() * 1000)
    first = await store.intake(stored(source, *github_push(n=1)), now)
    second = await store.intake(stored(source, *github_push(n=2)), now)
    offline.sql(  # the first request's message cannot be stored, the second's can
        f"CREATE TRIGGER broken BEFORE INSERT ON message WHEN NEW.event_id = '{first.id}'"
        " BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    router = Router(store, FAST)
    running = asyncio.create_task(router.run())
    try:
        await offline.eventually(lambda: has_message(store, source, second))
        assert not await has_message(store, source, first)
        offline.sql("DROP TRIGGER broken")
        await offline.eventually(lambda: has_message(store, source, first))  # retried, not given up
    finally:
        router.stop()
        await asyncio.wait_for(running, 10)
    assert len(await offline.messages(source)) == 2


async def test_failing_requests_filling_a_whole_batch_hold_back_no_newer_one(
    offline: Served,
) -> None:
    """With one request read per pass, the failing oldest request would be the whole batch
    every time; held back, it is left out of the read and the newer one is routed."""
    store = offline.store
    source = await offline.source("github", {"secret": SECRET})
    now = int(time.time() * 1000)
    first = await store.intake(stored(source, *github_push(n=1)), now)
    second = await store.intake(stored(source, *github_push(n=2)), now)
    offline.sql(
        f"CREATE TRIGGER broken BEFORE INSERT ON message WHEN NEW.event_id = '{first.id}'"
        " BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    slow_retry = RouterConfig(batch_size=1, poll_interval=0.05, retry_delay=30.0)
    router = Router(store, slow_retry)
    running = asyncio.create_task(router.run())
    try:
        await offline.eventually(lambda: has_message(store, source, second))
        assert not await has_message(store, source, first)
    finally:
        router.stop()
        await asyncio.wait_for(running, 10)


async def replay(server: Served, source: Source, request: InboundRequest) -> InboundRequest:
    """What the Ingest API's replay does: queue it; the server's router takes it from there."""
    return await server.store.replay_inbound(source.id, request.id, int(time.time() * 1000))


async def test_a_rejected_request_replayed_after_fixing_the_secret_is_routed(
    server: Served, receiver: Receiver
) -> None:
    source = await server.source("github", {"secret": "the old secret"})
    await server.endpoint(source, receiver.url("/gh"))
    body, headers = github_push()  # signed with the secret the sender really has
    response = await server.client.post(server.ingest_url(source), content=body, headers=headers)
    assert response.status_code == 401
    [rejected] = await stored_requests(server.store, source)
    source.config = {"secret": SECRET}
    await server.store.update_source(source)
    queued = await replay(server, source, rejected)
    assert queued.verdict is Verdict.REPLAY
    await receiver.wait_for(1, "/gh")
    assert receiver.requests("/gh")[0].body == body
    [message] = await server.messages(source)
    assert message.event_id == f"{rejected.id}.r1"
    done = await server.store.get_inbound_request(source.id, rejected.id)
    assert (done.verdict, done.msg_id) == (Verdict.ACCEPTED, message.id)


async def test_a_routed_request_replayed_becomes_a_second_message(
    server: Served, receiver: Receiver
) -> None:
    source = await server.source("github", {"secret": SECRET})
    await server.endpoint(source, receiver.url("/gh"))
    body, headers = github_push()
    assert (
        await server.client.post(server.ingest_url(source), content=body, headers=headers)
    ).is_success
    await receiver.wait_for(1, "/gh")
    [request] = await stored_requests(server.store, source)

    async def routed() -> bool:
        return (await server.store.get_inbound_request(source.id, request.id)).routed_at is not None

    await server.eventually(routed)
    await replay(server, source, request)
    await receiver.wait_for(2, "/gh")
    first, second = receiver.requests("/gh")
    assert first.body == second.body == body
    assert first.webhook_id != second.webhook_id
    assert sorted(m.event_id or "" for m in await server.messages(source)) == [
        request.id,
        f"{request.id}.r1",
    ]


async def test_a_replay_that_no_longer_verifies_is_rejected_with_the_reason(
    server: Served, receiver: Receiver
) -> None:
    source = await server.source("github", {"secret": SECRET})
    body, headers = github_push()
    assert (
        await server.client.post(server.ingest_url(source), content=body, headers=headers)
    ).is_success
    [request] = await stored_requests(server.store, source)
    source.config = {"secret": "a new secret"}
    await server.store.update_source(source)

    async def settled() -> bool:
        found = await server.store.get_inbound_request(source.id, request.id)
        return found.routed_at is not None

    await server.eventually(settled)
    await replay(server, source, request)

    async def rejected() -> bool:
        found = await server.store.get_inbound_request(source.id, request.id)
        return found.verdict is Verdict.REJECTED

    await server.eventually(rejected)
    found = await server.store.get_inbound_request(source.id, request.id)
    assert found.reason == "bad_signature"
    assert len(await server.messages(source)) <= 1
