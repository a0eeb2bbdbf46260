"""Tunnel endpoints (``tunnel://``) in the queue, on SQLite and PostgreSQL: fan-out makes
their deliveries as for any endpoint, the workers' view of ready endpoints never lists
them (so no worker claims them), and only ``ready_tunnel`` offers them to a listener."""

from __future__ import annotations

import time

from hookline import ids
from hookline.models import TUNNEL_URL, Application, Endpoint, Message
from hookline.store.base import Store


def now_ms() -> int:
    return int(time.time() * 1000)


async def endpoint(store: Store, app_id: str, url: str) -> str:
    t = now_ms()
    ep = Endpoint(ids.new_id("ep"), app_id, url, "whsec_" + "A" * 32, created_at=t, updated_at=t)
    return (await store.create_endpoint(ep)).id


async def test_workers_never_see_a_tunnel_endpoints_deliveries(store: Store) -> None:
    t = now_ms()
    app = await store.create_application(
        Application(id=ids.new_id("app"), name="a", created_at=t, updated_at=t)
    )
    tunnel = await endpoint(store, app.id, TUNNEL_URL)
    http = await endpoint(store, app.id, "https://example.com/hook")
    msg = Message(ids.new_id("msg", t), app.id, "a.b", b'{"k":1}', created_at=t)
    published = await store.publish(msg, t)
    assert published.message.id == msg.id
    later = now_ms() + 1000

    ready = await store.ready_endpoints(later, limit=64)
    assert [r.endpoint_id for r in ready] == [http]
    # the worker's claim, planned over what it sees, leases only the HTTP delivery
    claimed = await store.claim("worker", [(r, 10) for r in ready], later, 60_000)
    assert [task.endpoint_id for task in claimed] == [http]
    assert await store.ready_endpoints(later, limit=64) == []

    # the tunnel's delivery is there, due, for a listener to claim
    found = await store.ready_tunnel(tunnel, later)
    assert found is not None and found.endpoint_id == tunnel and found.app_id == app.id
    assert await store.ready_tunnel(http, later) is None  # an HTTP endpoint is not a tunnel
    leased = await store.claim("listener", [(found, 10)], later, 60_000)
    assert [(task.endpoint_id, task.msg_id, task.url) for task in leased] == [
        (tunnel, msg.id, TUNNEL_URL)
    ]
    assert await store.ready_tunnel(tunnel, later) is None  # leased: nothing due any more
