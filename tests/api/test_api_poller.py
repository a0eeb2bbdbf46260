"""Polling endpoints (``poll://``), consumer cursors and the ``/events`` stream, on a real
server on 127.0.0.1 over SQLite and PostgreSQL, read with the official Svix SDK and raw
HTTP. The core property: every message a sink's filters match reaches each consumer in
id order, at least once, with no gap, whatever order publishes commit in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from api_helpers import TOKEN, assert_error
from live_server import serving
from portal_helpers import bearer, portal_access
from svix.api import (
    ApplicationIn,
    EndpointIn,
    MessageIn,
    MessagePollerConsumerPollOptions,
    MessagePollerPollOptions,
    PollingEndpointConsumerSeekIn,
    SvixAsync,
    SvixOptions,
)

from hookline import ids
from hookline.models import Message
from hookline.store.base import Store

SETTLE = 0.3  # seconds a message's id must age before a poll hands it out


@pytest.fixture
def settle() -> float:
    """The server's settle window; a test that needs a wider margin parametrises it."""
    return SETTLE


@pytest.fixture
async def live(store: Store, settle: float) -> AsyncIterator[str]:
    async with serving(store, poll_settle_s=settle) as base:
        yield base


@pytest.fixture
async def http(live: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=live, headers=headers, limits=limits) as c:
        yield c


async def sink_of(http: httpx.AsyncClient, app_uid: str, **fields: Any) -> tuple[str, str]:
    app = await http.post("/api/v1/app", json={"name": app_uid, "uid": app_uid})
    assert app.status_code == 201, app.text
    ep = await http.post(
        f"/api/v1/app/{app_uid}/endpoint", json={"url": "poll://", "uid": "sink", **fields}
    )
    assert ep.status_code == 201, ep.text
    return app.json()["id"], ep.json()["id"]


async def publish(http: httpx.AsyncClient, app: str, event_type: str = "user.signup") -> str:
    resp = await http.post(
        f"/api/v1/app/{app}/msg", json={"eventType": event_type, "payload": {"n": 1}}
    )
    assert resp.status_code == 202, resp.text
    msg_id: str = resp.json()["id"]
    return msg_id


async def get_ok(http: httpx.AsyncClient, path: str, **params: Any) -> dict[str, Any]:
    resp = await http.get(path, params=params)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def until_settled() -> None:
    await asyncio.sleep(SETTLE + 0.05)


async def test_sdk_poller_poll_consumer_poll_and_seek(live: str, http: httpx.AsyncClient) -> None:
    svix = SvixAsync(TOKEN, SvixOptions(server_url=live, retry_schedule=[]))
    try:
        app = await svix.application.create(ApplicationIn(name="acme"))
        sink = await svix.endpoint.create(
            app.id, EndpointIn(url="poll://", event_types=["user.signup"], channels=["eu"])
        )
        wanted = []
        for event_type, channels in [
            ("user.signup", ["eu"]),
            ("user.deleted", ["eu"]),  # filtered out by type
            ("user.signup", ["us"]),  # filtered out by channel
            ("user.signup", ["eu", "us"]),
        ]:
            sent = await svix.message.create(
                app.id, MessageIn(event_type=event_type, payload={"c": channels}, channels=channels)
            )
            if event_type == "user.signup" and "eu" in channels:
                wanted.append(sent.id)
        await until_settled()
        poller = svix.message.poller

        first = await poller.poll(app.id, sink.id)
        assert [m.id for m in first.data] == wanted and first.done
        assert first.data[0].payload == {"c": ["eu"]} and first.data[0].event_type == "user.signup"
        after_first = MessagePollerPollOptions(iterator=first.iterator)
        again = await poller.poll(app.id, sink.id, after_first)
        assert again.data == [] and again.iterator == first.iterator
        one = await poller.poll(app.id, sink.id, MessagePollerPollOptions(limit=1))
        assert [m.id for m in one.data] == wanted[:1] and not one.done
        rest = await poller.poll(app.id, sink.id, MessagePollerPollOptions(iterator=one.iterator))
        assert [m.id for m in rest.data] == wanted[1:]

        page = await poller.consumer_poll(app.id, sink.id, "worker-1")
        assert [m.id for m in page.data] == wanted
        unacked = await poller.consumer_poll(app.id, sink.id, "worker-1")
        assert [m.id for m in unacked.data] == wanted  # nothing committed yet
        acked = await poller.consumer_poll(
            app.id, sink.id, "worker-1", MessagePollerConsumerPollOptions(iterator=page.iterator)
        )
        assert acked.data == []
        resumed = await poller.consumer_poll(app.id, sink.id, "worker-1")
        assert resumed.data == [] and resumed.iterator == page.iterator
        other = await poller.consumer_poll(app.id, sink.id, "worker-2")
        assert [m.id for m in other.data] == wanted  # a cursor per consumer

        past = datetime.now(UTC) - timedelta(hours=1)
        seek = await poller.consumer_seek(
            app.id, sink.id, "worker-1", PollingEndpointConsumerSeekIn(after=past)
        )
        rewound = await poller.consumer_poll(app.id, sink.id, "worker-1")
        assert [m.id for m in rewound.data] == wanted and seek.iterator
        future = datetime.now(UTC) + timedelta(hours=1)
        await poller.consumer_seek(
            app.id, sink.id, "worker-1", PollingEndpointConsumerSeekIn(after=future)
        )
        assert (await poller.consumer_poll(app.id, sink.id, "worker-1")).data == []
        after = await poller.poll(app.id, sink.id, MessagePollerPollOptions(after=future))
        assert after.data == []
        events = await get_ok(http, f"/api/v1/app/{app.id}/events")  # not in SDK 2.9.1
        assert len(events["data"]) == 4 and events["done"]  # the whole application
    finally:
        await svix._httpx_client.aclose()


async def test_raw_shapes(http: httpx.AsyncClient) -> None:
    app, sink = await sink_of(http, "acme")
    sent = await publish(http, app)
    await until_settled()
    body = await get_ok(http, f"/api/v1/app/{app}/poller/{sink}")
    assert set(body) == {"data", "iterator", "done"}
    [msg] = body["data"]
    assert {"id", "eventType", "payload", "timestamp"} <= set(msg)
    assert msg["id"] == sent and msg["payload"] == {"n": 1}
    assert isinstance(body["iterator"], str) and body["done"] is True
    by_uid = await get_ok(http, "/api/v1/app/acme/poller/sink/consumer/c1")
    assert [m["id"] for m in by_uid["data"]] == [sent]
    seek = await http.post(
        "/api/v1/app/acme/poller/sink/consumer/c1/seek", json={"after": "2020-01-01T00:00:00Z"}
    )
    assert seek.status_code == 200, seek.text
    assert set(seek.json()) == {"iterator"}
    events = await get_ok(http, "/api/v1/app/acme/events", event_types="user.signup")
    assert set(events) == {"data", "iterator", "done"} and [m["id"] for m in events["data"]] == [
        sent
    ]
    none = await get_ok(http, "/api/v1/app/acme/events", event_types="other", channels="x")
    assert none["data"] == []
    ops = await get_ok(http, "/api/v1/events", limit=250)
    assert "endpoint.created" in {m["eventType"] for m in ops["data"]}


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/poller/sink", {"iterator": "nope"}),
        ("/poller/sink", {"iterator": "msg_" + "!" * 27}),
        ("/poller/sink", {"limit": 0}),
        ("/poller/sink", {"limit": 251}),
        ("/poller/sink", {"after": "yesterday"}),
        ("/poller/sink", {"event_type": "a b"}),
        ("/poller/sink/consumer/c1", {"iterator": "msg_short"}),
        ("/poller/sink/consumer/bad%20id", {}),
        ("/poller/sink/consumer/" + "c" * 257, {}),
        ("/events", {"iterator": "-msg_x"}),
        ("/events", {"event_types": "no spaces"}),
        ("/events", {"channels": "no spaces"}),
    ],
)
async def test_bad_input_is_422(
    http: httpx.AsyncClient, store: Store, path: str, params: dict[str, Any]
) -> None:
    app, sink = await sink_of(http, "acme")
    resp = await http.get(f"/api/v1/app/acme{path}", params=params)
    assert_error(resp, 422)
    assert await store.poll_cursor(app, sink, "c1") is None  # nothing committed


@pytest.mark.parametrize("body", [{}, {"after": "soon"}, {"after": None}, {"other": 1}])
async def test_bad_seek_is_422_and_writes_nothing(
    http: httpx.AsyncClient, store: Store, body: dict[str, Any]
) -> None:
    app, sink = await sink_of(http, "acme")
    resp = await http.post("/api/v1/app/acme/poller/sink/consumer/c1/seek", json=body)
    assert_error(resp, 422)
    assert await store.poll_cursor(app, sink, "c1") is None


async def test_another_apps_sink_and_an_http_endpoint_are_404(http: httpx.AsyncClient) -> None:
    await sink_of(http, "acme")
    _, theirs = await sink_of(http, "other")
    hook = await http.post("/api/v1/app/acme/endpoint", json={"url": "https://example.com/h"})
    for path in (f"/poller/{theirs}", f"/poller/{theirs}/consumer/c1", "/poller/nope"):
        assert_error(await http.get(f"/api/v1/app/acme{path}"), 404)
    hook_id = hook.json()["id"]
    assert_error(await http.get(f"/api/v1/app/acme/poller/{hook_id}"), 404)
    seek = f"/api/v1/app/acme/poller/{theirs}/consumer/c1/seek"
    assert_error(await http.post(seek, json={"after": "2020-01-01T00:00:00Z"}), 404)
    assert_error(await http.get("/api/v1/app/nobody/events"), 404)


async def test_an_endpoint_cannot_change_kind_nor_be_resent_to(http: httpx.AsyncClient) -> None:
    app, sink = await sink_of(http, "acme")
    hook = (await http.post(f"/api/v1/app/{app}/endpoint", json={"url": "https://e.com/h"})).json()
    patch = await http.patch(f"/api/v1/app/{app}/endpoint/{sink}", json={"url": "https://e.com/x"})
    assert_error(patch, 422)
    put = await http.put(f"/api/v1/app/{app}/endpoint/{hook['id']}", json={"url": "poll://"})
    assert_error(put, 422)
    msg = await publish(http, app)
    resend = await http.post(f"/api/v1/app/{app}/msg/{msg}/endpoint/{sink}/resend")
    assert_error(resend, 409)
    recover = await http.post(
        f"/api/v1/app/{app}/endpoint/{sink}/recover", json={"since": "2020-01-01T00:00:00Z"}
    )
    assert_error(recover, 409)


async def test_a_scoped_caller_polls_only_its_own_application(http: httpx.AsyncClient) -> None:
    await sink_of(http, "acme")
    _, theirs = await sink_of(http, "other")
    token = (await portal_access(http, "acme"))["token"]
    mine = await http.get("/api/v1/app/acme/poller/sink/consumer/c1", headers=bearer(token))
    assert mine.status_code == 200, mine.text
    for path in ("/api/v1/app/other/poller/sink", f"/api/v1/app/other/poller/{theirs}"):
        assert (await http.get(path, headers=bearer(token))).status_code in (403, 404)
    assert (await http.get("/api/v1/events", headers=bearer(token))).status_code == 403


@pytest.mark.parametrize("settle", [2.0])  # the publishes below take far less
async def test_a_publish_that_commits_after_a_newer_one_is_not_skipped(
    http: httpx.AsyncClient, store: Store, settle: float
) -> None:
    """Ids are dated when a publish starts; B (newer id) commits first, then A (older id):
    the consumer must get A before B, having been handed neither too early."""
    app, sink = await sink_of(http, "acme")
    now = int(time.time() * 1000)
    newer = ids.new_id("msg", now)
    older = ids.boundary_id("msg", ids.id_timestamp_ms(newer) - 5)
    await store.publish(Message(newer, app, "user.signup", b"{}", created_at=now), now)
    path = f"/api/v1/app/{app}/poller/{sink}/consumer/c1"
    early = await get_ok(http, path)
    assert early["data"] == []  # B is not handed out while an older id may still commit
    await store.publish(Message(older, app, "user.signup", b"{}", created_at=now), now)
    seen: list[str] = []
    iterator = early["iterator"]
    deadline = time.monotonic() + 3 * settle + 5
    while len(seen) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(settle / 4)
        page = await get_ok(http, path, iterator=iterator)
        seen += [m["id"] for m in page["data"]]
        iterator = page["iterator"]
    assert seen == [older, newer]


@pytest.mark.parametrize("settle", [1.5])  # above any publish's time on a loaded machine
async def test_two_consumers_read_1000_messages_in_order_with_a_crash(
    http: httpx.AsyncClient, store: Store, settle: float
) -> None:
    """Four publishers and two consumers at once; consumer "a" crashes after its third
    page (never acknowledges it) and resumes with no iterator: it gets that page again.
    Each consumer processes every message exactly once, in id order, with no gap."""
    app, sink = await sink_of(http, "acme")
    published: list[str] = []
    publishing = True

    async def publisher(n: int) -> None:
        """As the API publishes (an id dated now, then the store's write), minus HTTP."""
        for _ in range(n):
            now = int(time.time() * 1000)
            message = Message(ids.new_id("msg", now), app, "user.signup", b"{}", created_at=now)
            published.append((await store.publish(message, now)).message.id)

    async def consumer(name: str, crash_after: int | None) -> list[str]:
        path = f"/api/v1/app/{app}/poller/{sink}/consumer/{name}"
        processed: list[str] = []
        iterator: str | None = None
        pages = 0
        deadline = time.monotonic() + 120
        while publishing or len(processed) < len(published):
            assert time.monotonic() < deadline, f"{name} stalled at {len(processed)}"
            params: dict[str, Any] = {"limit": 37}
            if iterator is not None:
                params["iterator"] = iterator
            page = await get_ok(http, path, **params)
            got = [m["id"] for m in page["data"]]
            if got:
                pages += 1
            if pages == crash_after and got:
                again = await get_ok(http, path, limit=37)  # restarted: no iterator
                assert [m["id"] for m in again["data"]][: len(got)] == got
                page, got = again, [m["id"] for m in again["data"]]
                crash_after = None
            processed += got
            iterator = page["iterator"]
            if not got:
                await asyncio.sleep(settle / 4)
        return processed

    readers = [
        asyncio.create_task(consumer("a", crash_after=3)),
        asyncio.create_task(consumer("b", crash_after=None)),
    ]
    await asyncio.gather(*(publisher(250) for _ in range(4)))
    publishing = False
    a, b = await asyncio.gather(*readers)
    assert len(published) == 1000
    assert a == sorted(published)
    assert b == sorted(published)
